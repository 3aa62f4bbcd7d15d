package detect

import (
	"testing"
	"time"

	"github.com/tcpka/tcpka/internal/keepalive"
)

func ka(t, i, p int) keepalive.Settings { return keepalive.Settings{Time: t, Intvl: i, Probes: p} }

func withUT(s keepalive.Settings, ut time.Duration) keepalive.Settings {
	s.UserTimeout = ut
	return s
}

func TestIdle(t *testing.T) {
	// Predicted values for profiles measured on Linux 6.18 (2/1/3: 5.09 s,
	// 10/5/3: 25.5 s, 20/1/1: 21.2-22.9 s) and the kernel defaults.
	tests := []struct {
		s    keepalive.Settings
		want int
	}{
		{ka(7200, 75, 9), 7875},
		{ka(2, 1, 3), 5},
		{ka(10, 5, 3), 25},
		{ka(20, 1, 1), 21},
		// TCP_USER_TIMEOUT: the first keepalive timer at or past it, with a
		// probe out, whatever probes says (checked on live sockets: own
		// 11/7/5 + 30 s -> 32 s; sysctls 7200/75/9 + 5 s -> 7275 s).
		{withUT(ka(11, 7, 5), 3*time.Second), 18},  // shorter than the first probe: the second fire
		{withUT(ka(11, 7, 5), 18*time.Second), 18}, // exactly at a fire
		{withUT(ka(11, 7, 5), 18001*time.Millisecond), 25},
		{withUT(ka(11, 7, 5), 30*time.Second), 32},   // 11 + 3*7
		{withUT(ka(11, 7, 5), 100*time.Second), 102}, // longer than the probes allow: the user timeout wins
		{withUT(ka(7200, 75, 9), 5*time.Second), 7275},
		{withUT(ka(7200, 75, 9), time.Minute), 7275},
	}
	for _, tt := range tests {
		if got := Idle(tt.s); got != tt.want {
			t.Errorf("Idle(%+v) = %d, want %d", tt.s, got, tt.want)
		}
		// Predict's band is built on the same timers: its nominal time is
		// the same figure.
		if b := Predict(Case{Settings: tt.s}); b.Nominal != time.Duration(tt.want)*time.Second {
			t.Errorf("Predict(%+v).Nominal = %v, want %d s", tt.s, b.Nominal, tt.want)
		}
	}
}

func TestBounds(t *testing.T) {
	s := keepalive.KernelDefaults
	n := Net{HZ: 250}
	if b := n.Bounds(s, true); b.Idle != 7875 || b.Data != 929 {
		t.Errorf("kernel defaults: %+v, want idle 7875, data 929", b)
	}
	if b := n.Bounds(s, false); b.Idle != -1 {
		t.Errorf("keepalive off: idle %d, want -1 (never)", b.Idle)
	}
	if b := n.Bounds(ka(60, 15, 4), true); b.Data != -1 {
		t.Errorf("retries2 unknown: data %d, want -1", b.Data)
	}
	// TCP_USER_TIMEOUT bounds data in flight: first retransmission + U.
	if b := n.Bounds(withUT(s, 30*time.Second), true); b.Data != 30 {
		t.Errorf("user timeout 30 s: data %d, want 30 (0.4 s of probe and first RTO rounds away)", b.Data)
	}
}
