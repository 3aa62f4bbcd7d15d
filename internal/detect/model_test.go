package detect

import (
	"testing"
	"time"

	"github.com/tcpka/tcpka/internal/keepalive"
)

func sec(f float64) time.Duration { return time.Duration(f * float64(time.Second)) }

// TestBandHoldsKernelFacts checks the model against the detection times
// measured on Linux 6.18 (HZ=250) in a scratch network namespace pair.
func TestBandHoldsKernelFacts(t *testing.T) {
	tests := []struct {
		name     string
		c        Case
		nominal  time.Duration
		measured []time.Duration
	}{
		{"2/1/3", Case{Settings: ka(2, 1, 3)}, sec(5), []time.Duration{sec(5.09)}},
		{"10/5/3", Case{Settings: ka(10, 5, 3)}, sec(25), []time.Duration{sec(25.5)}},
		{"20/1/1", Case{Settings: ka(20, 1, 1)}, sec(21), []time.Duration{sec(21.2), sec(22.9)}},
		// tcp_retries2=15, RTO 204 ms (200 ms + RTT rounded up to a jiffy):
		// tail loss probe at 204 ms, then dies at the 16th RTO expiry,
		// 928.9 s; measured 939 s.
		{"data, retries2 15", Case{Settings: keepalive.Settings{Retries2: 15}, Data: true}, sec(0.204*1024 + 720), []time.Duration{sec(939)}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			b := Predict(tt.c)
			if b.Nominal != tt.nominal {
				t.Errorf("Nominal = %v, want %v", b.Nominal, tt.nominal)
			}
			for _, m := range tt.measured {
				if !b.Contains(m) {
					t.Errorf("measured %v outside band [%v, %v]", m, b.Lower, b.Upper)
				}
			}
			// The band must stay tight: within the timer wheel's 12.7 %
			// per timer plus the slack, not anything-goes.
			if lim := b.Nominal + b.Nominal*8/63 + Slack + time.Duration(b.Timers)*4*time.Millisecond; b.Upper > lim {
				t.Errorf("Upper %v wider than 8/63 of %v (+slack): %v", b.Upper, b.Nominal, lim)
			}
		})
	}
}

func TestBudget(t *testing.T) {
	tests := []struct {
		r        Retrans
		retries2 int
		want     time.Duration
	}{
		{Retrans{}, 15, sec(924.6)}, // ip-sysctl.rst
		{Retrans{}, 8, 511 * RTOMin},
		{Retrans{}, 9, 1023 * RTOMin},
		{Retrans{}, 10, 1023*RTOMin + RTOMax},
		{Retrans{}, 3, 15 * RTOMin},
		{Retrans{RTOMax: 60 * time.Second}, 15, 511*RTOMin + 7*60*time.Second}, // ilog2(300) = 8
	}
	for _, tt := range tests {
		if got := tt.r.Budget(tt.retries2); got != tt.want {
			t.Errorf("%+v.Budget(%d) = %v, want %v", tt.r, tt.retries2, got, tt.want)
		}
	}
}

func TestGranularity(t *testing.T) {
	tests := []struct {
		d    time.Duration
		hz   int
		want time.Duration
	}{
		{sec(0.2), 250, 4 * time.Millisecond},       // 50 jiffies: level 0
		{sec(1), 250, 32 * time.Millisecond},        // 250: level 1
		{sec(2), 250, 32 * time.Millisecond},        // 500: level 1 (< 504)
		{sec(5), 250, 256 * time.Millisecond},       // 1250: level 2
		{sec(20), 250, 2048 * time.Millisecond},     // 5000: level 3
		{sec(120), 250, 2048 * time.Millisecond},    // 30000: level 3
		{sec(7200), 250, 131072 * time.Millisecond}, // "late by minutes" at the default
		{sec(1), 1000, 64 * time.Millisecond},       // 1000 jiffies at HZ=1000: level 2
	}
	for _, tt := range tests {
		if got := Granularity(tt.d, tt.hz); got != tt.want {
			t.Errorf("Granularity(%v, %d) = %v, want %v", tt.d, tt.hz, got, tt.want)
		}
	}
	// Never more than 8/63 of the delay past the first level.
	for d := sec(0.3); d < sec(40000); d = d * 11 / 10 {
		if g := Granularity(d, 250); g > d*8/63+4*time.Millisecond {
			t.Fatalf("Granularity(%v) = %v, over 12.7 %%", d, g)
		}
	}
}

func TestUserTimeoutRule(t *testing.T) {
	k := ka(2, 1, 3)
	ut := func(d time.Duration) keepalive.Settings { return withUT(k, d) }
	data := func(retries2 int, d time.Duration) keepalive.Settings {
		return keepalive.Settings{Retries2: retries2, UserTimeout: d}
	}
	tests := []struct {
		name    string
		c       Case
		nominal time.Duration
		lower   time.Duration
	}{
		// probes ignored: 2 + 1*ceil((6-2)/1) = 6, beyond the 5 of 2/1/3
		{"idle, U past probes", Case{Settings: ut(sec(6))}, sec(6), sec(6)},
		{"idle, U before probes", Case{Settings: ut(sec(3.5))}, sec(4), sec(3.5)},
		// U below time: one probe must be out, so time + intvl
		{"idle, U below time", Case{Settings: ut(sec(1))}, sec(3), sec(3)},
		// data: tail loss probe, first retransmission (RTO) + U
		{"data, U", Case{Settings: data(15, sec(3)), Data: true, Retrans: Retrans{RTO: 204 * time.Millisecond}}, sec(3.408), sec(3.408)},
		{"data, U, no TLP", Case{Settings: data(15, sec(3)), Data: true, Retrans: Retrans{RTO: 204 * time.Millisecond, NoTLP: true}}, sec(3.204), sec(3.204)},
		// data, retries2 5: budget 12.6 s, RTO expiries at 0.204*(2^k-1)
		// after the TLP: dies at k=6
		{"data, retries2 5", Case{Settings: data(5, 0), Data: true, Retrans: Retrans{RTO: 204 * time.Millisecond}}, sec(0.204 * 64), sec(0.408 + 12.6)},
		{"no keepalive", Case{Settings: k, KeepaliveOff: true}, 0, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			b := Predict(tt.c)
			if d := b.Nominal - tt.nominal; d > time.Millisecond || d < -time.Millisecond {
				t.Errorf("Nominal = %v, want %v (%s)", b.Nominal, tt.nominal, b.Rule)
			}
			if d := b.Lower - tt.lower; d > time.Millisecond || d < -time.Millisecond {
				t.Errorf("Lower = %v, want %v", b.Lower, tt.lower)
			}
			if tt.c.KeepaliveOff != b.Never {
				t.Errorf("Never = %v", b.Never)
			}
		})
	}
}

func TestMinRTO(t *testing.T) {
	for hz, want := range map[int]time.Duration{250: 204 * time.Millisecond, 1000: 201 * time.Millisecond, 100: 210 * time.Millisecond} {
		if got := (Retrans{}).MinRTO(hz); got != want {
			t.Errorf("MinRTO(%d) = %v, want %v", hz, got, want)
		}
	}
}
