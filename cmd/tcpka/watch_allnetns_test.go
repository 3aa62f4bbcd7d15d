package main

import (
	"os/exec"
	"regexp"
	"syscall"
	"testing"
	"time"

	"github.com/tcpka/tcpka/internal/nstest"
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

	var stderr syncBuffer
	cmd := exec.Command(tcpkaBinary(t), "watch", "fast-failover", "--interval", "1s", "--all-netns", "--run-dir", t.TempDir())
	cmd.Stderr = &stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	defer func() {
		cmd.Process.Kill()
		<-exited
	}()
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

	cmd.Process.Signal(syscall.SIGTERM)
	select {
	case err := <-exited:
		exited <- err
		if err != nil {
			t.Errorf("SIGTERM: %v\n%s", err, stderr.String())
		}
	case <-time.After(2 * time.Second):
		t.Fatal("watch did not exit after SIGTERM")
	}
}
