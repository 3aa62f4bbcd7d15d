package detect

import (
	"testing"
	"time"
)

func TestIdleFlow(t *testing.T) {
	const s = time.Second
	ms := func(n int) time.Duration { return time.Duration(n) * time.Millisecond }
	tests := []struct {
		name      string
		time, ivl int
		on        bool
		idle, tmo time.Duration
		flow      Flow
		lo, hi    time.Duration
		every     time.Duration
	}{
		// Measured on Linux 6.18 (bench/nat/run): a 4 s NAT timeout, 10 s idle.
		{"probes every 2 s", 2, 1, true, 10 * s, 4 * s, FlowKept, 2 * s, ms(2282), 2 * s},
		{"first probe after the NAT forgot", 8, 1, true, 10 * s, 4 * s, FlowLost, 8 * s, ms(8506), 8 * s},
		{"answered probes every max(time, intvl)", 2, 6, true, 10 * s, 4 * s, FlowLost, 6 * s, ms(6506), 6 * s},
		{"intvl above time but below the timeout", 2, 3, true, 10 * s, 4 * s, FlowKept, 3 * s, ms(3506), 3 * s},
		{"without keepalive", 2, 1, false, 10 * s, 4 * s, FlowLost, 10 * s, ms(10250), 0},
		// Short idle: no probe is needed before the send.
		{"idle shorter than the timeout", 2, 1, false, 3 * s, 4 * s, FlowKept, 3 * s, ms(3250), 0},
		{"send before the second probe", 2, 6, true, 5 * s, 4 * s, FlowKept, ms(2718), ms(3250), 6 * s},
		{"send before the first probe", 8, 1, true, 3 * s, 4 * s, FlowKept, 3 * s, ms(3250), 8 * s},
		// Knife edges: the model does not say.
		{"idle just under the timeout", 2, 1, false, ms(3900), 4 * s, FlowAtRisk, ms(3900), ms(4150), 0},
		{"idle equal to the timeout", 2, 1, false, 4 * s, 4 * s, FlowAtRisk, 4 * s, ms(4250), 0},
		{"time equal to the timeout", 4, 1, true, 10 * s, 4 * s, FlowAtRisk, 4 * s, ms(4506), 4 * s},
		{"time within its timer's lateness", 3, 1, true, 10 * s, ms(3400), FlowAtRisk, 3 * s, ms(3506), 3 * s},
		// A 130 s timer may fire 16.4 s late at HZ=250: more than a 10 %
		// margin (14 s) covers, so KeepsOpen refuses it (see below).
		{"real path, late timer", 130, 30, true, 10 * time.Minute, 145 * s, FlowAtRisk, 130 * s, ms(146634), 130 * s},
		{"real path, room for the timer", 300, 30, true, 10 * time.Minute, 350 * s, FlowKept, 300 * s, ms(316634), 300 * s},
	}
	for _, tt := range tests {
		got := IdleFlow(ka(tt.time, tt.ivl, 3), tt.on, tt.idle, tt.tmo, 250)
		want := Silence{Min: tt.lo, Max: tt.hi, Flow: tt.flow, Every: tt.every}
		if got != want {
			t.Errorf("%s: IdleFlow(%d/%d, on %v, idle %v, timeout %v) = %+v, want %+v", tt.name, tt.time, tt.ivl, tt.on, tt.idle, tt.tmo, got, want)
		}
	}
	// KeepsOpen agrees with IdleFlow where the timer wheel is coarse:
	// 130 s at a 145 s timeout is at risk, 129 s (2.05 s late at most) is
	// not.
	if KeepsOpen(130, 145) || !KeepsOpen(129, 145) || OpenLimit(145) != 129 {
		t.Errorf("KeepsOpen(130, 145) %v, KeepsOpen(129, 145) %v, OpenLimit(145) %d: want false, true, 129",
			KeepsOpen(130, 145), KeepsOpen(129, 145), OpenLimit(145))
	}
	for _, T := range []int{20, 60, 145, 240, 350, 600, 3600, 86400} {
		lim := OpenLimit(T)
		got := IdleFlow(ka(lim, lim, 3), true, 10*secs(T), secs(T), 250)
		if got.Flow != FlowKept {
			t.Errorf("OpenLimit(%d) = %d, but IdleFlow says %v at HZ=250", T, lim, got.Flow)
		}
	}
}
