package rearm

import (
	"testing"

	"github.com/tcpka/tcpka/internal/sockdiag"
)

// TestDecide is the pidfd method's rule with the sysctl at 60 s.
func TestDecide(t *testing.T) {
	ka := sockdiag.TimerKeepalive
	for _, tt := range []struct {
		name      string
		o         observed
		want      Verdict
		needOwner bool
	}{
		{"no timer: keepalive off, no owner needed", observed{timer: sockdiag.TimerNone}, Off, false},
		{"keepalive timer: ask the owner", observed{timer: ka, expiresMs: 7000000}, Unreachable, true},
		{"retransmitting: ask the owner", observed{timer: sockdiag.TimerRetransmit}, Unreachable, true},
		{"owner says off", observed{timer: sockdiag.TimerRetransmit, read: true, idle: 60}, Off, false},
		{"own idle time", observed{timer: ka, expiresMs: 7000000, read: true, keepalive: true, idle: 30}, Own, false},
		{"own idle time above the sysctl", observed{timer: ka, expiresMs: 7000000, read: true, keepalive: true, idle: 7200}, Own, false},
		{"due later than the sysctl", observed{timer: ka, expiresMs: 7000000, read: true, keepalive: true, idle: 60}, Rearmed, false},
		{"due just after the sysctl", observed{timer: ka, expiresMs: 60001, read: true, keepalive: true, idle: 60}, Rearmed, false},
		{"due at the sysctl: just re-armed", observed{timer: ka, expiresMs: 60000, read: true, keepalive: true, idle: 60}, Current, false},
		{"due sooner", observed{timer: ka, expiresMs: 1500, read: true, keepalive: true, idle: 60}, Current, false},
		{"timer hidden by a retransmission", observed{timer: sockdiag.TimerRetransmit, read: true, keepalive: true, idle: 60}, Busy, false},
		{"timer hidden by a zero-window probe", observed{timer: sockdiag.TimerProbe0, read: true, keepalive: true, idle: 60}, Busy, false},
	} {
		t.Run(tt.name, func(t *testing.T) {
			v, need := decide(tt.o, 60)
			if v != tt.want || need != tt.needOwner {
				t.Errorf("decide = %v, %v; want %v, %v", v, need, tt.want, tt.needOwner)
			}
		})
	}
}

func TestResultTotal(t *testing.T) {
	var r Result
	for v := Off; v <= Failed; v++ {
		r.count(v)
		if v.String() == "" || v.String()[0] == 'v' {
			t.Errorf("verdict %d has no name", v)
		}
	}
	if r.Total() != 7 {
		t.Errorf("Total %d after one of each of 7 verdicts", r.Total())
	}
}
