package plan

import (
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/tcpka/tcpka/internal/detect"
	"github.com/tcpka/tcpka/internal/keepalive"
	"github.com/tcpka/tcpka/internal/profile"
)

func ka(t, i, p int) keepalive.Settings { return keepalive.Settings{Time: t, Intvl: i, Probes: p} }

func TestSolveMiddleboxes(t *testing.T) {
	// Every known path, without and with detection bounds: the values a
	// user gets, and the reason in the words they read.
	tests := []struct {
		path   string
		within int
		want   keepalive.Settings
		why    string
	}{
		{"aws-nlb", 0, ka(300, 30, 5), "largest round value below the 315 s the path allows"},
		{"aws-nat", 0, ka(300, 30, 5), "5 probes 30 s apart"},
		{"azure-lb", 0, ka(210, 20, 5), "below the 216 s"},
		{"azure-nat", 0, ka(210, 20, 5), "below the 216 s"},
		{"gcp-vpc", 0, ka(540, 30, 5), "below the 540 s"},
		{"gcp-nat", 0, ka(1050, 30, 5), "below the 1068 s"}, // a 1080 s timer may fire 131 s late at HZ=250
		{"conntrack", 0, ka(7200, 75, 9), "kernel defaults already keep the path open"},
		// The example and the ssh profile: 2 min bound. 15 s
		// intervals would meet it only with every timer on time: at
		// HZ=100 the 60 s timer fires up to 5.12 s late and each 15 s one
		// 0.36 s late.
		{"aws-nlb", 120, ka(60, 13, 4), "half of the 2m bound; the rest goes to 4 probes 13 s apart, not 15 s: those would meet 2m only with every timer on time; as late as the timer wheel can fire them on a kernel of any common tick rate they take up to 126.8 s, these up to 119.1 s; the path alone would allow 300 s (12 probes an hour instead of 60)"},
		{"azure-lb", 120, ka(60, 13, 4), "half of the 2m bound"},
		{"gcp-vpc", 120, ka(60, 13, 4), "half of the 2m bound"},
		{"conntrack", 120, ka(60, 13, 4), "half of the 2m bound"},
		// A bound longer than twice the path's limit: the path binds.
		{"azure-lb", 600, ka(210, 61, 6), "largest round value below the 216 s the path allows; the rest goes to 6 probes 61 s apart, not 65 s"},
		{"aws-nlb", 30, ka(15, 3, 5-1), "half of the 30s bound"},
		{"gcp-nat", 3600, ka(1050, 75, 9), "below the 1068 s"},
		{"conntrack", 86400, ka(7200, 75, 9), "kernel default (a longer idle time only delays detection)"},
		// The least valid profile: 1/1/1 takes up to 2.4 s.
		{"aws-nat", 3, ka(1, 1, 1), "time 1 s, 1 probe 1 s apart, not 1/1/2"},
		{"aws-nat", 5, ka(1, 1, 3), "time 1 s, 3 probes 1 s apart, not 2/1/3"},
	}
	for _, tt := range tests {
		t.Run(fmt.Sprintf("%s/%d", tt.path, tt.within), func(t *testing.T) {
			m, err := Lookup(tt.path)
			if err != nil {
				t.Fatal(err)
			}
			p, err := Solve(Ask{IdleTimeout: m.IdleTimeout, DetectWithin: tt.within, IdleOnly: true})
			if err != nil {
				t.Fatalf("Solve: %v", err)
			}
			if p.Settings != tt.want {
				t.Errorf("got %+v, want %+v", p.Settings, tt.want)
			}
			if !strings.Contains(p.Why, tt.why) {
				t.Errorf("why = %q, want it to contain %q", p.Why, tt.why)
			}
			if p.Margin != detect.Margin(m.IdleTimeout) || p.TimeLimit != m.IdleTimeout-p.Margin {
				t.Errorf("margin %d limit %d for idle timeout %d", p.Margin, p.TimeLimit, m.IdleTimeout)
			}
		})
	}
}

// TestSolveData: with a detection bound (and not --idle-only), plan bounds
// a connection with data in flight too: the largest tcp_retries2 whose
// retransmission ends within the bound at the latest (none when the
// kernel's 15 does), and TCP_USER_TIMEOUT = time + interval x probes, less
// where the first retransmission would carry it past the bound; both
// within the bound by the one model.
func TestSolveData(t *testing.T) {
	tests := []struct {
		within   int
		retries2 int
		ut       time.Duration
		why      string
	}{
		{120, 8, 2 * time.Minute, "tcp_retries2 8 gives up on unacknowledged data within 115.1 s at the latest (the kernel's 15 takes up to 965.0 s)"},
		{600, 12, 10 * time.Minute, "tcp_retries2 12 gives up"},
		{30, 6, 27 * time.Second, "below 8 it is under the 100 s RFC 1122 asks for"},
		{3600, 0, 3600 * time.Second, "the kernel's tcp_retries2 15 already gives up within 1h"},
		{3, 1, 2 * time.Second, "tcp_retries2 1 gives up"},
	}
	for _, tt := range tests {
		p, err := Solve(Ask{IdleTimeout: 350, DetectWithin: tt.within})
		if err != nil {
			t.Fatalf("Solve(%d): %v", tt.within, err)
		}
		if p.Settings.Retries2 != tt.retries2 || p.Settings.UserTimeout > time.Duration(detect.Idle(p.Settings.Keepalive()))*time.Second {
			t.Errorf("Solve(%d): %+v, want retries2 %d and user_timeout at most time + interval x probes", tt.within, p.Settings, tt.retries2)
		}
		if p.Settings.UserTimeout > tt.ut {
			t.Errorf("Solve(%d): user_timeout %v past the bound %v", tt.within, p.Settings.UserTimeout, tt.ut)
		}
		if !strings.Contains(p.DataWhy, tt.why) {
			t.Errorf("Solve(%d): data why %q, want %q", tt.within, p.DataWhy, tt.why)
		}
		if d := detect.Latest(p.Settings.Over(keepalive.KernelDefaults).Sysctls(), true).Data; d > tt.within {
			t.Errorf("Solve(%d): data in flight up to %d s", tt.within, d)
		}
		if d := detect.Latest(keepalive.Settings{UserTimeout: p.Settings.UserTimeout}, false).Data; d > tt.within {
			t.Errorf("Solve(%d): data in flight with user_timeout up to %d s", tt.within, d)
		}
	}
	if p, _ := Solve(Ask{IdleTimeout: 350, DetectWithin: 120, IdleOnly: true}); p.Settings.Retries2 != 0 || p.Settings.UserTimeout != 0 {
		t.Errorf("--idle-only set %+v", p.Settings)
	}
}

func TestSolveImpossible(t *testing.T) {
	tests := []struct {
		ask  Ask
		want string
	}{
		{Ask{DetectWithin: 1}, "detect-within 1 s is shorter than any valid profile allows: the least is time 1 s + interval 1 s * 1 probe, which the timer wheel stretches to 2.4 s"},
		{Ask{DetectWithin: 2}, "the timer wheel stretches to 2.4 s"},
		{Ask{IdleTimeout: 350, DetectWithin: 1}, "shorter than any valid profile allows"},
		{Ask{IdleTimeout: 10}, "an idle timeout of 10 s leaves no room: the idle time must stay 10 s below it for timer lateness, and at least 1 s"},
		{Ask{IdleTimeout: 5, DetectWithin: 60}, "idle timeout of 5 s leaves no room"},
		{Ask{IdleTimeout: -1}, "durations must be positive"},
	}
	for _, tt := range tests {
		_, err := Solve(tt.ask)
		if !errors.Is(err, ErrImpossible) {
			t.Errorf("Solve(%+v) = %v, want ErrImpossible", tt.ask, err)
			continue
		}
		if !strings.Contains(err.Error(), tt.want) {
			t.Errorf("Solve(%+v) = %q, want it to contain %q", tt.ask, err, tt.want)
		}
	}
	if _, err := Solve(Ask{}); !errors.Is(err, ErrNothingAsked) {
		t.Errorf("Solve(Ask{}) = %v, want ErrNothingAsked", err)
	}
}

// TestSolveSweep holds every plan over a grid of asks to its promises, and
// to the profile decoder's own checks on the file it becomes.
func TestSolveSweep(t *testing.T) {
	idles := []int{0, 11, 12, 20, 30, 60, 61, 100, 240, 350, 600, 1200, 3600, 7200, 8000, 432000}
	withins := []int{0, 2, 3, 5, 7, 10, 30, 59, 60, 119, 120, 121, 300, 900, 3600, 7875, 100000}
	n := 0
	for _, d := range idles {
		for _, w := range withins {
			if d == 0 && w == 0 {
				continue
			}
			p, err := Solve(Ask{IdleTimeout: d, DetectWithin: w})
			if w > 0 && w < MinDetection() {
				if !errors.Is(err, ErrImpossible) {
					t.Errorf("Solve(%d, %d) = %v, want ErrImpossible below %d s", d, w, err, MinDetection())
				}
				continue
			}
			if err != nil {
				t.Errorf("Solve(%d, %d): %v", d, w, err)
				continue
			}
			k := p.Settings
			if d > 0 && !detect.KeepsOpen(max(k.Time, k.Intvl), d) {
				t.Errorf("Solve(%d, %d): time %d or interval %d does not keep the path open", d, w, k.Time, k.Intvl)
			}
			// The promise: at the latest, on any common tick rate.
			if l := detect.Latest(k.Over(keepalive.KernelDefaults).Sysctls(), true); w > 0 && (l.Idle > w || l.Data > w) {
				t.Errorf("Solve(%d, %d): %+v: detection up to %d s idle, %d s with data, past %d s", d, w, k, l.Idle, l.Data, w)
			}
			if w > 0 && detect.Idle(k) < w/2 && (k.Intvl != 75 || k.Probes != 9) && k.Probes != keepalive.Probes.Max {
				// Only the caps (time below the path and 7200 s, 9 probes
				// 75 s apart, or as many probes as the kernel takes at an
				// interval the path allows) may leave most of a bound
				// unused.
				t.Errorf("Solve(%d, %d): detection %d wastes most of the bound", d, w, detect.Idle(k))
			}
			if k.Time > keepalive.KernelDefaults.Time {
				t.Errorf("Solve(%d, %d): time %d above the kernel default", d, w, k.Time)
			}
			data := p.ProfileYAML("test", "a plan", []string{"https://example.com/x (\"quoted\")"})
			got, err := profile.Decode("plan.yaml", "plan", data)
			if err != nil {
				t.Errorf("Solve(%d, %d): its profile does not decode: %v\n%s", d, w, err, data)
				continue
			}
			if got.Settings != k || got.IdleTimeout != d || got.DetectWithin != w {
				t.Errorf("Solve(%d, %d): profile round trip: %+v idle %d within %d", d, w, got.Settings, got.IdleTimeout, got.DetectWithin)
			}
			n++
		}
	}
	if n < 200 {
		t.Errorf("only %d asks checked", n)
	}
}

func TestMiddleboxTimeout(t *testing.T) {
	tests := []struct {
		path    string
		seconds int
		want    string // "" for accepted
	}{
		{"aws-nlb", 350, ""},
		{"aws-nlb", 600, ""},
		{"aws-nlb", 6000, ""},
		{"aws-nlb", 30, "idle timeout not possible on this path: the AWS Network Load Balancer (TCP listener)'s idle timeout can be set to 1m-1h40m, not 30 s"},
		{"aws-nat", 350, ""},
		{"aws-nat", 600, "the AWS NAT Gateway's idle timeout is fixed at 350 s (5m50s), not 600 s (10m)"},
		{"gcp-vpc", 300, "fixed at 600 s (10m)"},
		{"azure-lb", 120, "can be set to 4m-1h40m"},
		{"azure-nat", 7200, ""},
		{"gcp-nat", 30, ""},
		{"conntrack", 3600, ""},
	}
	for _, tt := range tests {
		m, err := Lookup(tt.path)
		if err != nil {
			t.Fatal(err)
		}
		err = m.Timeout(tt.seconds)
		switch {
		case tt.want == "" && err != nil:
			t.Errorf("%s.Timeout(%d) = %v", tt.path, tt.seconds, err)
		case tt.want != "" && (err == nil || !strings.Contains(err.Error(), tt.want) || !errors.Is(err, ErrTimeoutRange)):
			t.Errorf("%s.Timeout(%d) = %v, want %q", tt.path, tt.seconds, err, tt.want)
		}
	}
	if _, err := Lookup("aws"); !errors.Is(err, ErrUnknownPath) || !strings.Contains(err.Error(), "known paths are aws-nat, aws-nlb, azure-lb, azure-nat, conntrack, gcp-nat, gcp-vpc") {
		t.Errorf("Lookup(aws) = %v", err)
	}
	if s := Smallest(); s.IdleTimeout != 240 || s.Name != "azure-lb" {
		t.Errorf("Smallest() = %+v", s)
	}
}

// TestMiddleboxesMatchShippedProfiles: a shipped profile that names an
// idle timeout must agree with the table.
func TestMiddleboxesMatchShippedProfiles(t *testing.T) {
	for _, name := range []string{"aws-nlb", "azure-lb", "gcp-vpc"} {
		p, err := profile.Shipped(name)
		if err != nil {
			t.Fatal(err)
		}
		m, _ := Lookup(name)
		if p.IdleTimeout != m.IdleTimeout {
			t.Errorf("profile %s idle_timeout %d, table %d", name, p.IdleTimeout, m.IdleTimeout)
		}
		src := strings.Fields(m.Source)[0]
		found := false
		for _, s := range p.Sources {
			found = found || strings.HasPrefix(s, src)
		}
		if !found {
			t.Errorf("profile %s does not cite %s", name, src)
		}
	}
}

func TestTraffic(t *testing.T) {
	if got := ProbesPerHour(60); got != 60 {
		t.Errorf("ProbesPerHour(60) = %v", got)
	}
	if got := BytesPerHour(60); got != 6240 {
		t.Errorf("BytesPerHour(60) = %v, want 60 probes * 104 bytes", got)
	}
}
