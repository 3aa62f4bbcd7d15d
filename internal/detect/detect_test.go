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
		// Predict replays the same timers on the timer wheel: never
		// earlier than the figure where the probe count decides (a user
		// timeout can fall before a fire that comes late), later by at
		// most each timer's granularity.
		b := Predict(Case{Settings: tt.s})
		if tt.s.UserTimeout == 0 && b.Lower < time.Duration(tt.want)*time.Second {
			t.Errorf("Predict(%+v) from %v, before %d s", tt.s, b.Lower, tt.want)
		}
		if lim := time.Duration(tt.want)*time.Second*71/63 + Slack + 4*time.Millisecond; b.Upper > lim {
			t.Errorf("Predict(%+v) up to %v, past %v", tt.s, b.Upper, lim)
		}
	}
}

func TestBounds(t *testing.T) {
	s := keepalive.KernelDefaults
	n := Net{HZ: 250}
	// Data: the kernel's figure, measured 939 s (924.6 s of budget after
	// a first retransmission 0.4 s in, the last timers late).
	if b := n.Bounds(s, true); b.Idle != 7875 || b.Data != 939 {
		t.Errorf("kernel defaults: %+v, want idle 7875, data 939", b)
	}
	if b := n.Bounds(s, false); b.Idle != -1 {
		t.Errorf("keepalive off: idle %d, want -1 (never)", b.Idle)
	}
	if b := n.Bounds(ka(60, 15, 4), true); b.Data != -1 {
		t.Errorf("retries2 unknown: data %d, want -1", b.Data)
	}
	// TCP_USER_TIMEOUT bounds data in flight: first retransmission (0.4 s)
	// + U + the clamped timer's lateness.
	if b := n.Bounds(withUT(s, 30*time.Second), true); b.Data != 31 {
		t.Errorf("user timeout 30 s: data %d, want 31", b.Data)
	}
}

// TestLatest: the worst case, on any common tick rate, the peer dying
// right after its last packet.
func TestLatest(t *testing.T) {
	tests := []struct {
		s          keepalive.Settings
		on         bool
		idle, data int
	}{
		{ka(60, 15, 4), true, 127, -1}, // 60 + 5.12 + 4 x 15.36 + 0.25 (HZ=100)
		{ka(60, 13, 4), true, 120, -1}, // 60 + 5.12 + 4 x 13.44 + 0.25: what plan gives for 2 min
		{ka(2, 6, 3), true, 27, -1},    // answered probes 6 s apart: the first unanswered one 6 s after the last packet
		{keepalive.Settings{Retries2: 8}, false, -1, 116},
		{keepalive.KernelDefaults, true, 8750, 965}, // at HZ=300 the 7200 s timer is filed with a granularity of 873.8 s
	}
	for _, tt := range tests {
		if got := Latest(tt.s, tt.on); got.Idle != tt.idle || got.Data != tt.data {
			t.Errorf("Latest(%+v, %v) = %+v, want idle %d data %d", tt.s, tt.on, got, tt.idle, tt.data)
		}
	}
}
