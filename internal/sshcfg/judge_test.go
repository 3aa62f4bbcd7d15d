package sshcfg

import (
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"
	"github.com/tcpka/tcpka/internal/keepalive"
	"github.com/tcpka/tcpka/internal/profile"
)

var (
	kernelDefault = keepalive.Settings{Time: 7200, Intvl: 75, Probes: 9}
	sshProfile    = keepalive.Settings{Time: 60, Intvl: 15, Probes: 4}
)

func TestJudge(t *testing.T) {
	tests := []struct {
		name string
		s    Settings
		k    keepalive.Settings
		idle int
		want Judgment
	}{
		{"client without ServerAliveInterval, kernel defaults",
			Settings{Client, 0, 3, true}, kernelDefault, 240,
			Judgment{SSHOff: "ServerAliveInterval 0: no SSH keepalives", TCPDetect: 7875, First: LayerTCP, Detect: 7875, Every: 7200, By: LayerTCP, Verdict: Dropped}},
		{"client without ServerAliveInterval, ssh profile",
			Settings{Client, 0, 3, true}, sshProfile, 240,
			Judgment{SSHOff: "ServerAliveInterval 0: no SSH keepalives", TCPDetect: 120, First: LayerTCP, Detect: 120, Every: 60, By: LayerTCP, Verdict: Survives}},
		{"client 30 x 3: SSH fires first",
			Settings{Client, 30, 3, true}, kernelDefault, 240,
			Judgment{SSHDetect: 120, SSHDetectMin: 90, TCPDetect: 7875, First: LayerSSH, Detect: 120, Every: 30, By: LayerSSH, Verdict: Survives}},
		{"client 30 x 3, ssh profile: TCP cannot finish before the first SSH keepalive",
			Settings{Client, 30, 3, true}, sshProfile, 240,
			Judgment{SSHDetect: 120, SSHDetectMin: 90, TCPDetect: 120, First: LayerSSH, Detect: 120, Every: 30, By: LayerSSH, Verdict: Survives}},
		{"client 300 x 5, fast kernel: TCP finishes first",
			Settings{Client, 300, 5, true}, sshProfile, 350,
			Judgment{SSHDetect: 1800, SSHDetectMin: 1500, TCPDetect: 120, First: LayerTCP, Detect: 120, Every: 60, By: LayerTCP, Verdict: Survives}},
		{"client 300, TCPKeepAlive no, 350 s NLB: inside the margin",
			Settings{Client, 320, 1, false}, sshProfile, 350,
			Judgment{SSHDetect: 640, SSHDetectMin: 320, First: LayerSSH, Detect: 640, Every: 320, By: LayerSSH, Verdict: AtRisk}},
		{"nothing at all",
			Settings{Client, 0, 3, false}, sshProfile, 240,
			Judgment{SSHOff: "ServerAliveInterval 0: no SSH keepalives", First: LayerNone, Verdict: Dropped}},
		{"server countmax 0 with TCP off: retransmission decides",
			Settings{Server, 45, 0, false}, kernelDefault, 240,
			Judgment{SSHOff: "ClientAliveCountMax 0: sshd sends keepalives but never gives up", First: LayerRetx, Detect: 939, Retries2: 15, Every: 90, By: LayerSSH, Verdict: Survives}},
		{"server checks every other interval: 30 x 3 is 240 s, and 2 x 110 s is inside a 4m margin",
			Settings{Server, 110, 0, false}, kernelDefault, 240,
			Judgment{SSHOff: "ClientAliveCountMax 0: sshd sends keepalives but never gives up", First: LayerRetx, Detect: 939, Retries2: 15, Every: 220, By: LayerSSH, Verdict: AtRisk}},
		{"server 30 x 3",
			Settings{Server, 30, 3, true}, kernelDefault, 240,
			Judgment{SSHDetect: 240, SSHDetectMin: 90, TCPDetect: 7875, First: LayerSSH, Detect: 240, Every: 60, By: LayerSSH, Verdict: Survives}},
		{"server 15 x 3: within 2m",
			Settings{Server, 15, 3, true}, sshProfile, 240,
			Judgment{SSHDetect: 120, SSHDetectMin: 45, TCPDetect: 120, First: LayerSSH, Detect: 120, Every: 30, By: LayerSSH, Verdict: Survives}},
		{"server countmax 0, fast kernel finishes before the first keepalive",
			Settings{Server, 600, 0, true}, sshProfile, 240,
			Judgment{SSHOff: "ClientAliveCountMax 0: sshd sends keepalives but never gives up", TCPDetect: 120, First: LayerTCP, Detect: 120, Every: 60, By: LayerTCP, Verdict: Survives}},
		{"server default",
			Settings{Server, 0, 3, true}, kernelDefault, 600,
			Judgment{SSHOff: "ClientAliveInterval 0: no SSH keepalives", TCPDetect: 7875, First: LayerTCP, Detect: 7875, Every: 7200, By: LayerTCP, Verdict: Dropped}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := Judge(tt.s, tt.k, tt.idle)
			tt.want.Settings, tt.want.Kernel, tt.want.IdleTimeout = tt.s, tt.k, tt.idle
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("Judge (-want +got):\n%s", diff)
			}
		})
	}
}

// TestRecommendMatchesShippedProfile: what `tcpka ssh` recommends for the
// ssh profile's own ask is the shipped ssh profile, and the SSH lines meet
// the same ask on both sides.
func TestRecommendMatchesShippedProfile(t *testing.T) {
	p, err := profile.Shipped("ssh")
	if err != nil {
		t.Fatal(err)
	}
	r, err := Recommend(p.IdleTimeout, p.DetectWithin)
	if err != nil {
		t.Fatal(err)
	}
	if got, want := r.Profile.Settings, p.Settings; got != want {
		t.Errorf("recommended profile %+v, shipped ssh profile %+v", got, want)
	}
	if r.ClientInterval != 30 || r.ServerInterval != 15 || r.CountMax != 3 {
		t.Errorf("recommended SSH keepalive %+v, want ServerAliveInterval 30, ClientAliveInterval 15, CountMax 3", r)
	}
	for _, side := range []Side{Client, Server} {
		s := Settings{Side: side, Interval: r.Interval(side), CountMax: r.CountMax, TCPKeepAlive: true}
		j := Judge(s, r.Profile.Settings, p.IdleTimeout)
		if !j.Meets(p.DetectWithin) || !j.SSHMeets(p.DetectWithin) {
			t.Errorf("%s with the recommendation: %+v does not meet %d s", side, j, p.DetectWithin)
		}
		if fix := r.Fix(j, p.DetectWithin); len(fix) != 0 {
			t.Errorf("%s: recommendation asks to fix itself: %q", side, fix)
		}
		// Without SSH keepalives, the profile alone also meets the ask.
		s.Interval = 0
		if j := Judge(s, r.Profile.Settings, p.IdleTimeout); !j.Meets(p.DetectWithin) {
			t.Errorf("%s on the ssh profile alone: %+v", side, j)
		}
	}
}

func TestRecommendAndFix(t *testing.T) {
	tests := []struct {
		idle, within int
		s            Settings
		interval     int
		fix          []string
	}{
		{240, 120, Settings{Client, 0, 3, true}, 30, []string{"ServerAliveInterval 30", "ServerAliveCountMax 3"}},
		{240, 120, Settings{Server, 0, 3, false}, 15, []string{"ClientAliveInterval 15", "ClientAliveCountMax 3", "TCPKeepAlive yes"}},
		{240, 120, Settings{Server, 30, 3, true}, 15, []string{"ClientAliveInterval 15", "ClientAliveCountMax 3"}},
		{240, 120, Settings{Client, 15, 5, false}, 30, []string{"TCPKeepAlive yes"}},
		{240, 120, Settings{Client, 60, 3, true}, 30, []string{"ServerAliveInterval 30", "ServerAliveCountMax 3"}},
		// A short idle timeout caps the interval below it.
		{40, 600, Settings{Client, 0, 3, true}, 30, []string{"ServerAliveInterval 30", "ServerAliveCountMax 3"}},
		{20, 600, Settings{Server, 0, 3, true}, 5, []string{"ClientAliveInterval 5", "ClientAliveCountMax 3"}},
		{600, 8, Settings{Client, 2, 3, true}, 2, nil},
	}
	for _, tt := range tests {
		r, err := Recommend(tt.idle, tt.within)
		if err != nil {
			t.Fatalf("Recommend(%d, %d): %v", tt.idle, tt.within, err)
		}
		if got := r.Interval(tt.s.Side); got != tt.interval {
			t.Errorf("Recommend(%d, %d).Interval(%s) = %d, want %d", tt.idle, tt.within, tt.s.Side, got, tt.interval)
		}
		fix := r.Fix(Judge(tt.s, kernelDefault, tt.idle), tt.within)
		if diff := cmp.Diff(tt.fix, fix, cmpopts.EquateEmpty()); diff != "" {
			t.Errorf("Fix(%+v) (-want +got):\n%s", tt.s, diff)
		}
	}
	if _, err := Recommend(240, 7); err == nil {
		t.Error("Recommend(240, 7): want an error, sshd's 4 checks 2 s apart cannot fit in 7 s")
	}
	if _, err := Recommend(10, 120); err == nil {
		t.Error("Recommend(10, 120): want an error, no room below a 10 s idle timeout")
	}
}
