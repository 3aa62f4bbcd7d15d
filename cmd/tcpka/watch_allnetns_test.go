package main

import (
	"os/exec"
	"regexp"
	"syscall"
	"testing"
	"time"

	"github.com/tcpka/tcpka/internal/nstest"
	"github.com/tcpka/tcpka/internal/testio"
)

// TestWatchAllNetns: watch --all-netns applies the profile in every
// namespace, corrects a drift in one of them with a log line naming it, and
// covers a namespace made after it started. It runs inside private
// pid+mount+net namespaces, so it can never see or write the host's.
func TestWatchAllNetns(t *testing.T) {
	if !nstest.Private(t, "ip", "nsenter") {
		return
	}
	nstest.SetValues(t, "", 600, 60, 6) // the "host"
	nstest.Run(t, "ip", "netns", "add", "tcpka-w1")
	nstest.Run(t, "ip", "netns", "add", "tcpka-w2")

	w := startWatch(t, "fast-failover", "--interval", "1s", "--all-netns", "--run-dir", t.TempDir())
	stderr := w.stderr
	waitValues := func(ns, what string) {
		t.Helper()
		if _, ok := waitFor(t, 3*time.Second, "10/3/5", func() string { return nstest.Values(t, ns) }); !ok {
			t.Fatalf("%s: netns %q holds %s, want 10/3/5 within 3 s\n%s", what, ns, nstest.Values(t, ns), stderr.String())
		}
	}
	for _, ns := range []string{"", "tcpka-w1", "tcpka-w2"} {
		waitValues(ns, "at start")
	}

	nstest.SetValues(t, "tcpka-w2", 7200, 3, 5)
	waitValues("tcpka-w2", "after a drift")
	logged := regexp.MustCompile(`(?m)^time=\S+ level=WARN msg="drift corrected" netns="net:\[\d+\] tcpka-w2" key=net.ipv4.tcp_keepalive_time from=7200 to=10 profile=fast-failover$`)
	for deadline := time.Now().Add(time.Second); !logged.MatchString(stderr.String()); time.Sleep(20 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("the correction was not logged with its namespace:\n%s", stderr.String())
		}
	}

	nstest.Run(t, "ip", "netns", "add", "tcpka-w3")
	waitValues("tcpka-w3", "a namespace made after the start")

	w.stop(t)
}

// watchProcess is a tcpka watch run as a user runs it: the built binary.
type watchProcess struct {
	cmd    *exec.Cmd
	stderr *testio.Buffer
	exited chan error
}

// startWatch starts tcpka watch ARGS; it is killed at cleanup if still running.
func startWatch(t *testing.T, args ...string) *watchProcess {
	t.Helper()
	w := &watchProcess{stderr: &testio.Buffer{}, exited: make(chan error, 1)}
	w.cmd = exec.Command(tcpkaBinary(t), append([]string{"watch"}, args...)...)
	w.cmd.Stderr = w.stderr
	if err := w.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() { w.exited <- w.cmd.Wait() }()
	t.Cleanup(func() {
		w.cmd.Process.Kill()
		err := <-w.exited
		w.exited <- err
	})
	return w
}

// stop sends SIGTERM and expects exit 0 within 2 s.
func (w *watchProcess) stop(t *testing.T) {
	t.Helper()
	w.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case err := <-w.exited:
		w.exited <- err
		if err != nil {
			t.Errorf("SIGTERM: %v\n%s", err, w.stderr.String())
		}
	case <-time.After(2 * time.Second):
		t.Fatal("watch did not exit after SIGTERM")
	}
}
