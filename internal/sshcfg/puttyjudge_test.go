package sshcfg

import (
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/tcpka/tcpka/internal/keepalive"
)

func TestJudgePuTTY(t *testing.T) {
	win := WindowsTCP()
	linux := LinuxTCP(keepalive.Settings{Time: 7200, Intvl: 75, Probes: 9, Retries2: 15})
	fast := LinuxTCP(keepalive.Settings{Time: 60, Intvl: 15, Probes: 4, Retries2: 8})
	if win.Retx != 189 || linux.Retx != 939 || fast.Retx != 107 {
		t.Fatalf("retransmission bounds: Windows %d, Linux %d, retries2 8 %d; want 189, 939, 107", win.Retx, linux.Retx, fast.Retx)
	}
	ses := func(interval int, tcp bool) PuTTYSession {
		return PuTTYSession{Name: "s", PingInterval: interval, PingSecs: interval, TCPKeepalives: tcp}
	}
	tests := []struct {
		name string
		s    PuTTYSession
		c    ClientTCP
		idle int
		want PuTTYJudgment
	}{
		{"nothing: never noticed, dropped", ses(0, false), win, 240,
			PuTTYJudgment{First: LayerNone, Verdict: Dropped}},
		{"30 s on Windows: the next keepalive plus Windows' retransmission", ses(30, false), win, 240,
			PuTTYJudgment{Every: 30, By: LayerSSH, Verdict: Survives, First: LayerRetx, Detect: 30 + 189}},
		{"30 s on Linux: plus tcp_retries2 15", ses(30, false), linux, 240,
			PuTTYJudgment{Every: 30, By: LayerSSH, Verdict: Survives, First: LayerRetx, Detect: 30 + 939}},
		{"5 minutes behind a 4m path: dropped", ses(300, false), win, 240,
			PuTTYJudgment{Every: 300, By: LayerSSH, Verdict: Dropped, First: LayerRetx, Detect: 300 + 189}},
		{"5 minutes behind an AWS NLB's 350 s: survives", ses(300, false), win, 350,
			PuTTYJudgment{Every: 300, By: LayerSSH, Verdict: Survives, First: LayerRetx, Detect: 300 + 189}},
		{"230 s on a 4m path: inside the margin", ses(230, false), win, 240,
			PuTTYJudgment{Every: 230, By: LayerSSH, Verdict: AtRisk, First: LayerRetx, Detect: 230 + 189}},
		{"TCP keepalives only on Windows: 2 h, dropped on any shorter path", ses(0, true), win, 3600,
			PuTTYJudgment{Every: 7200, By: LayerTCP, Verdict: Dropped, First: LayerTCP, Detect: 7210}},
		{"TCP keepalives only on Linux defaults", ses(0, true), linux, 240,
			PuTTYJudgment{Every: 7200, By: LayerTCP, Verdict: Dropped, First: LayerTCP, Detect: 7875}},
		{"TCP keepalives only on a fast kernel: survives", ses(0, true), fast, 240,
			PuTTYJudgment{Every: 60, By: LayerTCP, Verdict: Survives, First: LayerTCP, Detect: 120}},
		{"both, the kernel probes more often: still retransmission decides", ses(300, true), fast, 240,
			PuTTYJudgment{Every: 60, By: LayerTCP, Verdict: Survives, First: LayerRetx, Detect: 300 + 107}},
		{"both on Windows: PuTTY's keepalive is the packet", ses(90, true), win, 240,
			PuTTYJudgment{Every: 90, By: LayerSSH, Verdict: Survives, First: LayerRetx, Detect: 90 + 189}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := JudgePuTTY(tt.s, tt.c, tt.idle)
			tt.want.PuTTYSession, tt.want.IdleTimeout = tt.s, tt.idle
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("JudgePuTTY (-want +got):\n%s", diff)
			}
		})
	}
}

// TestEvaluatePuTTY: the fixture sessions on a 4m path: the setting to
// change is the ServerAliveInterval tcpka recommends for ssh, and the
// recommended value makes every session survive.
func TestEvaluatePuTTY(t *testing.T) {
	ps, err := ReadPuTTY("testdata/putty/sessions.reg")
	if err != nil {
		t.Fatal(err)
	}
	r, err := EvaluatePuTTY(ps, WindowsTCP(), 240, 120)
	if err != nil {
		t.Fatal(err)
	}
	var fixes []string
	for _, j := range r.Sessions {
		fixes = append(fixes, j.Name+": "+r.Fix(j))
	}
	want := []string{
		"Default Settings: Connection > Seconds between keepalives: 30",
		"legacy: Connection > Seconds between keepalives: 30",
		"my server: ",
		"split 90s: ",
		"tcp only: Connection > Seconds between keepalives: 30",
	}
	if diff := cmp.Diff(want, fixes); diff != "" {
		t.Errorf("fixes (-want +got):\n%s", diff)
	}
	if r.Missed() != 3 {
		t.Errorf("Missed() = %d, want 3", r.Missed())
	}
	for _, j := range r.Sessions {
		s := j.PuTTYSession
		s.PingInterval = r.Interval
		if fixed := JudgePuTTY(s, r.TCP, r.IdleTimeout); !fixed.Survives() {
			t.Errorf("%s with %d s: %+v", s.Name, r.Interval, fixed)
		}
	}
	if _, err := EvaluatePuTTY(ps, WindowsTCP(), 10, 120); err == nil {
		t.Error("a 10 s idle timeout: want the impossible-ask error")
	}
	// 7 s leaves sshd no interval (Recommend fails), PuTTY 1 s.
	if r, err := EvaluatePuTTY(ps, WindowsTCP(), 240, 7); err != nil {
		t.Errorf("detect-within 7 s: %v", err)
	} else if r.Interval != 1 {
		t.Errorf("detect-within 7 s: interval %d, want 1 s", r.Interval)
	}
	if _, err := EvaluatePuTTY(ps, WindowsTCP(), 240, 3); err == nil {
		t.Error("detect-within 3 s: want an error (no interval fits)")
	}
}
