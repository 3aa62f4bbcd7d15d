package main

import (
	"context"
	"encoding/json"
	"net"
	"regexp"
	"testing"
	"time"

	"github.com/tcpka/tcpka/internal/nstest"
	"github.com/tcpka/tcpka/internal/sockdiag"
	"github.com/tcpka/tcpka/internal/testkit"
	"golang.org/x/sys/unix"
)

// keepaliveConns opens n loopback connections whose client ends turn
// SO_KEEPALIVE on and follow the sysctls (no own TCP_KEEPIDLE): each
// timer is armed with tcp_keepalive_time as it is now.
func keepaliveConns(t *testing.T, n int) []net.Conn {
	t.Helper()
	// The accepted ends: keepalive off (Go would turn it on with its own
	// 15 s idle time).
	ln, err := (&net.ListenConfig{KeepAlive: -1}).Listen(context.Background(), "tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			t.Cleanup(func() { c.Close() })
		}
	}()
	var out []net.Conn
	for range n {
		c, err := (&net.Dialer{KeepAlive: -1}).Dial("tcp", ln.Addr().String())
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { c.Close() })
		raw, _ := c.(*net.TCPConn).SyscallConn()
		raw.Control(func(fd uintptr) { unix.SetsockoptInt(int(fd), unix.SOL_SOCKET, unix.SO_KEEPALIVE, 1) })
		out = append(out, c)
	}
	return out
}

// longestKeepaliveTimer is the latest keepalive timer of the namespace's
// sockets, as ss -o shows it.
func longestKeepaliveTimer(t *testing.T) time.Duration {
	t.Helper()
	var max time.Duration
	err := sockdiag.Netlink{}.Each(sockdiag.StatesAll, func(s *sockdiag.Socket) error {
		if d := time.Duration(s.Expires) * time.Millisecond; s.Timer == sockdiag.TimerKeepalive && d > max {
			max = d
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return max
}

// TestApplyRearm: apply of lower values says how many live connections
// keep a timer armed with the old ones; apply --rearm re-arms them, so
// their next probe comes within the new tcp_keepalive_time.
func TestApplyRearm(t *testing.T) {
	if !nstest.Private(t, "ip") {
		return
	}
	nstest.Run(t, "ip", "link", "set", "lo", "up")
	keepaliveConns(t, 3)
	if d := longestKeepaliveTimer(t); d < time.Hour {
		t.Fatalf("timers armed at the defaults: longest %v, want about 2h", d)
	}
	out, errs, code := tcpkaRun(t, "apply", "fast-failover")
	if code != 0 {
		t.Fatalf("apply: exit %d: %s", code, errs)
	}
	mustMatch(t, "apply", out, `(?m)^note: 3 live connections still have a keepalive timer armed with the old values, the last for (2h|1h59m(\d+s)?) more: tcpka apply --rearm makes the new values hold now$`)
	if d := longestKeepaliveTimer(t); d < time.Hour {
		t.Fatalf("apply alone moved the timers: longest %v", d)
	}
	out, errs, code = tcpkaRun(t, "apply", "fast-failover", "--rearm", "--json")
	if code != 0 {
		t.Fatalf("apply --rearm: exit %d: %s", code, errs)
	}
	var j struct {
		Rearm struct {
			Method  string `json:"method"`
			DryRun  bool   `json:"dry_run"`
			Rearmed int    `json:"rearmed"`
			Failed  int    `json:"failed"`
		} `json:"rearm"`
	}
	if err := json.Unmarshal([]byte(out), &j); err != nil || j.Rearm.Rearmed != 3 || j.Rearm.DryRun || j.Rearm.Failed != 0 {
		t.Fatalf("apply --rearm --json: %+v %v\n%s", j, err, out)
	}
	if d := longestKeepaliveTimer(t); d > 10*time.Second+time.Second {
		t.Errorf("after --rearm the longest timer is %v, want within fast-failover's 10 s", d)
	}
	out, _, _ = tcpkaRun(t, "apply", "fast-failover", "--rearm")
	mustMatch(t, "second apply --rearm", out, `(?m)^re-armed 0 keepalive timers \((bpf|pidfd), [0-9.]+ s[^)]*\): their first probe now comes within 10s$`)
	mustMatch(t, "second apply --rearm", out, `(?m)^left alone: 3 already due in time, 0 own TCP_KEEPIDLE, 3 keepalive off$`)
}

// TestWatchRearm: watch --rearm brings connections opened before it
// started onto its profile within an interval, and logs it.
func TestWatchRearm(t *testing.T) {
	if !nstest.Private(t, "ip") {
		return
	}
	nstest.Run(t, "ip", "link", "set", "lo", "up")
	keepaliveConns(t, 3)
	w := startWatch(t, "fast-failover", "--interval", "1s", "--rearm", "--run-dir", t.TempDir())
	if !testkit.Eventually(5*time.Second, func() bool { return longestKeepaliveTimer(t) <= 11*time.Second }) {
		t.Errorf("watch --rearm: the longest timer is still %v\n%s", longestKeepaliveTimer(t), w.stderr.String())
	}
	if !testkit.Eventually(2*time.Second, func() bool {
		return regexp.MustCompile(`msg="keepalive timers re-armed" rearmed=3 failed=0 method=(bpf|pidfd)`).MatchString(w.stderr.String())
	}) {
		t.Errorf("watch --rearm logged no re-arm:\n%s", w.stderr.String())
	}
	w.stop(t)
}
