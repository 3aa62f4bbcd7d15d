package detect

import (
	"testing"
	"time"

	"github.com/tcpka/tcpka/internal/keepalive"
)

func sec(f float64) time.Duration { return time.Duration(f * float64(time.Second)) }

func near(a, b time.Duration) bool { return a-b < time.Millisecond && b-a < time.Millisecond }

// TestBandHoldsKernelFacts checks the model against the detection times
// measured on Linux 6.18 (HZ=250) in scratch network namespace pairs,
// the peer silenced without a RST: every measurement lies in its band.
// The exact bounds are the kernel's arithmetic, worked by hand in the
// comments (jiffies of 4 ms; "late" is where the timer wheel files a
// timer after its expiry).
func TestBandHoldsKernelFacts(t *testing.T) {
	rto := Retrans{RTO: 204 * time.Millisecond} // tcp_rto_min + a loopback RTT, rounded up to 51 jiffies
	data := func(r int) Case {
		return Case{Settings: keepalive.Settings{Retries2: r}, Data: true, Retrans: rto, HZ: 250}
	}
	idle := func(s keepalive.Settings) Case { return Case{Settings: s, HZ: 250} }
	tests := []struct {
		name         string
		c            Case
		lower, upper time.Duration // without Slack
		timers       int
		measured     []time.Duration
	}{
		// 2 s: 500 jiffies, level 1 (granularity 8): late 1..8. Each 1 s
		// interval (250 jiffies, re-armed on a boundary of 8) fires after
		// 256: 1.024 s. 2.004..2.032 + 3 x 1.024, less the jiffy the
		// start may lie at the end of.
		{"idle 2/1/3", idle(ka(2, 1, 3)), sec(5.072), sec(5.104), 4, []time.Duration{sec(5.09), sec(5.10), sec(5.083)}},
		{"idle 10/5/3", idle(ka(10, 5, 3)), sec(25.36), sec(25.616), 4, []time.Duration{sec(25.5), sec(25.36)}},
		// 20 s: 5000 jiffies, level 3 (512): up to 2.048 s late.
		{"idle 20/1/1", idle(ka(20, 1, 1)), sec(21.024), sec(23.072), 2, []time.Duration{sec(21.2), sec(22.9)}},
		// The plan the issue found wrong: 17 s (4250 jiffies, level 3)
		// fires after 4608 every time: 50 + 0..2.048 + 4 x 18.432.
		{"idle 50/17/4", idle(ka(50, 17, 4)), sec(123.728), sec(125.776), 5, []time.Duration{sec(124.9), sec(125.7)}},
		{"idle 2/1/3, user timeout 7 s", idle(withUT(ka(2, 1, 3), 7*time.Second)), sec(7.12), sec(7.152), 6, []time.Duration{sec(7.15), sec(7.127)}},
		// Data: the tail loss probe (51 jiffies, level 0: fires 1 late),
		// the RTO timer (51 more): the first retransmission 104 jiffies
		// after the send, at any jiffy. Then 102 jiffies (level 1, late
		// 1..8 from an unaligned jiffy), 208, 416 (on boundaries of 8),
		// 824..880 (level 2 from a multiple of 8), 1664, 3328, 6592..7040
		// (level 3), 13312, 26624, then rto_max 30000 -> 30208 each.
		// retries2 2: budget 1.4 s; 311..318 jiffies after the first
		// retransmission (< 350), 727..734 (>= 350): dies there.
		{"data, retries2 2", data(2), sec(3.32), sec(3.352), 5, []time.Duration{sec(3.32), sec(3.35), sec(3.354)}},
		// retries2 3 (3.0 s) and 4 (6.2 s) both end 1551..1614 jiffies
		// (6.204..6.456 s) after the first retransmission: past 6.2 s by
		// 4 ms at least.
		{"data, retries2 3", data(3), sec(6.616), sec(6.872), 6, []time.Duration{sec(6.66), sec(6.83), sec(6.622)}},
		{"data, retries2 4", data(4), sec(6.616), sec(6.872), 6, []time.Duration{sec(6.65), sec(6.83), sec(6.856)}},
		{"data, retries2 5", data(5), sec(13.272), sec(13.528), 7, []time.Duration{sec(13.27), sec(13.51), sec(13.28)}},
		{"data, retries2 7", data(7), sec(52.952), sec(55.0), 9, []time.Duration{sec(53.1), sec(54.9)}},
		{"data, retries2 8", data(8), sec(106.2), sec(108.248), 10, []time.Duration{sec(107.78), sec(106.999)}},
		// The kernel's 15: 924.6 s of budget after the first
		// retransmission; measured 939 s.
		{"data, retries2 15", data(15), sec(937.688), sec(939.736), 17, []time.Duration{sec(939)}},
		// TCP_USER_TIMEOUT: the timer is clamped to it.
		{"data, user timeout 3 s", Case{Settings: keepalive.Settings{Retries2: 15, UserTimeout: 3 * time.Second}, Data: true, Retrans: rto, HZ: 250}, sec(3.415), sec(3.425), 6, []time.Duration{sec(3.42), sec(3.453)}},
		{"data, user timeout 25 s", Case{Settings: keepalive.Settings{Retries2: 15, UserTimeout: 25 * time.Second}, Data: true, Retrans: rto, HZ: 250}, sec(25.415), sec(25.677), 8, []time.Duration{sec(25.61)}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			b := Predict(tt.c)
			if !near(b.Lower, tt.lower) || !near(b.Upper, tt.upper+Slack) {
				t.Errorf("band [%v, %v], want [%v, %v + Slack] (%s)", b.Lower, b.Upper, tt.lower, tt.upper, b.Rule)
			}
			if b.Nominal < b.Lower || b.Nominal > b.Upper {
				t.Errorf("nominal %v outside [%v, %v]", b.Nominal, b.Lower, b.Upper)
			}
			if b.Timers != tt.timers {
				t.Errorf("%d timers, want %d", b.Timers, tt.timers)
			}
			// Measurements are given to two decimals: each stands for
			// the 10 ms around it.
			for _, m := range tt.measured {
				if !b.Contains(m-5*time.Millisecond) && !b.Contains(m+5*time.Millisecond) {
					t.Errorf("measured %v outside band [%v, %v]", m, b.Lower, b.Upper)
				}
			}
		})
	}
}

// TestRetries2Boundary: the rule is the kernel's, not a count of
// retransmissions. At each RTO expiry the milliseconds since the first
// retransmission are compared with tcp_model_timeout; with a 204 ms RTO on
// loopback the timers the wheel fires late carry tcp_retries2 4 past its
// budget one expiry sooner than on-time timers would, so 3 and 4 end
// alike; 5 needs one more expiry, 6 one more again, and so on to 15.
func TestRetries2Boundary(t *testing.T) {
	rto := Retrans{RTO: 204 * time.Millisecond}
	prev := Band{}
	for r := 1; r <= 15; r++ {
		b := Predict(Case{Settings: keepalive.Settings{Retries2: r}, Data: true, Retrans: rto, HZ: 250})
		if b.Lower < rto.Budget(r) {
			t.Errorf("retries2 %d: dropped from %v, before its budget %v", r, b.Lower, rto.Budget(r))
		}
		switch {
		case r == 4 && b.Timers != prev.Timers:
			t.Errorf("retries2 4: %d timers, want those of 3 (%d)", b.Timers, prev.Timers)
		case r != 4 && r > 1 && b.Timers != prev.Timers+1:
			t.Errorf("retries2 %d: %d timers, want %d", r, b.Timers, prev.Timers+1)
		}
		prev = b
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
		{sec(60), 100, 5120 * time.Millisecond},     // 6000 jiffies at HZ=100: level 3
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

// TestLateness: a timer re-armed on its level's boundary is late by the
// same amount every time, (floor(J/g)+1)*g - J jiffies; one armed at an
// arbitrary moment anywhere from a jiffy to a granularity.
func TestLateness(t *testing.T) {
	tests := []struct {
		d          time.Duration
		hz         int
		onBoundary bool
		lo, hi     time.Duration
	}{
		{17 * time.Second, 250, true, sec(1.432), sec(1.432)},  // 4250 -> 4608 jiffies
		{17 * time.Second, 250, false, sec(0.004), sec(2.048)}, // level 3, from anywhere
		{15 * time.Second, 250, true, sec(0.104), sec(0.104)},  // 3750 -> 3776 (level 2)
		{15 * time.Second, 100, true, sec(0.36), sec(0.36)},    // 1500 -> 1536
		{15 * time.Second, 300, true, sec(0.36), sec(0.36)},    // 4500 -> 4608 (level 3)
		{1 * time.Second, 250, true, sec(0.024), sec(0.024)},   // 250 -> 256
		{sec(0.204), 250, true, sec(0.004), sec(0.004)},        // level 0: the next jiffy
	}
	for _, tt := range tests {
		lo, hi := Lateness(tt.d, tt.hz, tt.onBoundary)
		if !near(lo, tt.lo) || !near(hi, tt.hi) {
			t.Errorf("Lateness(%v, %d, %v) = %v..%v, want %v..%v", tt.d, tt.hz, tt.onBoundary, lo, hi, tt.lo, tt.hi)
		}
	}
}

func TestUserTimeoutRule(t *testing.T) {
	k := ka(2, 1, 3)
	ut := func(d time.Duration) keepalive.Settings { return withUT(k, d) }
	data := func(retries2 int, d time.Duration) keepalive.Settings {
		return keepalive.Settings{Retries2: retries2, UserTimeout: d}
	}
	rto := Retrans{RTO: 204 * time.Millisecond}
	tests := []struct {
		name  string
		c     Case
		fires time.Duration // the keepalive or retransmission timer that drops it, on time
	}{
		// probes ignored: the fire at 2+4 (6 s), beyond the 5 of 2/1/3
		{"idle, U past probes", Case{Settings: ut(sec(6))}, sec(6)},
		// the fire at 4 s: timers late by 24 ms each put it past 3.5 s
		{"idle, U before probes", Case{Settings: ut(sec(3.5))}, sec(4)},
		// U below time: one probe must be out, so time + intvl
		{"idle, U below time", Case{Settings: ut(sec(1))}, sec(3)},
		// 11/7/5, U 18.001 s: textbook 25 s, but the fire at 11+7 comes
		// 0.3 s late, past U
		{"idle, U just past a fire", Case{Settings: withUT(ka(11, 7, 5), sec(18.001))}, sec(18)},
		// data: tail loss probe, first retransmission, + U
		{"data, U", Case{Settings: data(15, sec(3)), Data: true, Retrans: rto}, sec(3.408)},
		{"data, U, no TLP", Case{Settings: data(15, sec(3)), Data: true, Retrans: Retrans{RTO: rto.RTO, NoTLP: true}}, sec(3.204)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			b := Predict(tt.c)
			// Never early; late by at most the timers' granularity.
			if b.Lower < tt.fires || b.Upper > tt.fires+sec(0.6)+Slack {
				t.Errorf("band [%v, %v], want from %v (%s)", b.Lower, b.Upper, tt.fires, b.Rule)
			}
		})
	}
	if b := Predict(Case{Settings: k, KeepaliveOff: true}); !b.Never || b.Contains(time.Hour) {
		t.Errorf("no keepalive: %+v, want never", b)
	}
}

// TestAnyHZ: a promise for other machines holds at every common tick
// rate. 60/15/4 meets 2 min only with every timer on time: at HZ=100 the
// 60 s timer is late by up to 5.12 s and each 15 s one by 0.36 s.
func TestAnyHZ(t *testing.T) {
	b := AnyHZ(Case{Settings: ka(60, 15, 4)})
	if want := sec(60+5.12+4*15.36) + Slack; !near(b.Upper, want) {
		t.Errorf("60/15/4 on any HZ: up to %v, want %v", b.Upper, want)
	}
	for _, hz := range CommonHZ {
		if p := Predict(Case{Settings: ka(60, 15, 4), HZ: hz}); p.Upper > b.Upper || p.Lower < b.Lower {
			t.Errorf("HZ=%d: [%v, %v] outside AnyHZ [%v, %v]", hz, p.Lower, p.Upper, b.Lower, b.Upper)
		}
	}
}

func TestMinRTO(t *testing.T) {
	for hz, want := range map[int]time.Duration{250: 204 * time.Millisecond, 1000: 201 * time.Millisecond, 100: 210 * time.Millisecond} {
		if got := (Retrans{}).MinRTO(hz); got != want {
			t.Errorf("MinRTO(%d) = %v, want %v", hz, got, want)
		}
	}
}
