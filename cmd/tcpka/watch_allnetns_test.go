package main

import (
	"fmt"
	"os/exec"
	"path/filepath"
	"regexp"
	"syscall"
	"testing"
	"time"

	"github.com/tcpka/tcpka/internal/nstest"
	"github.com/tcpka/tcpka/internal/testkit"
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

	run := t.TempDir()
	w := startWatch(t, "fast-failover", "--interval", "1s", "--all-netns", "--run-dir", run)
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
	if !testkit.Eventually(time.Second, func() bool { return logged.MatchString(stderr.String()) }) {
		t.Fatalf("the correction was not logged with its namespace:\n%s", stderr.String())
	}

	nstest.Run(t, "ip", "netns", "add", "tcpka-w3")
	waitValues("tcpka-w3", "a namespace made after the start")

	// revert --all-netns would be undone at the next check: refused, in
	// one line, the records kept.
	out, errOut, code := tcpkaRun(t, "revert", "--all-netns", "--run-dir", run)
	if want := fmt.Sprintf("tcpka: revert: tcpka watch (pid %d) keeps a profile applied in every network namespace and would undo the revert: stop it first (systemctl stop tcpka-watch), then run tcpka revert --all-netns\n", w.cmd.Process.Pid); code != 1 || out != "" || errOut != want {
		t.Errorf("revert --all-netns under watch --all-netns: exit %d, stdout %q, stderr %q; want exit 1 and %q", code, out, errOut, want)
	}
	for _, ns := range []string{"", "tcpka-w1", "tcpka-w3"} {
		waitValues(ns, "after a refused revert")
	}
	// Every namespace watch wrote has its record, the late one included:
	// the host, tcpka-w1, tcpka-w2 and tcpka-w3.
	if recs, _ := filepath.Glob(filepath.Join(run, "tcpka", "revert-*.json")); len(recs) != 4 {
		t.Errorf("revert records after a refused revert: %v, want 4", recs)
	}

	w.stop(t)
	// Once the watch is gone, revert --all-netns gives each namespace its
	// own values back, the one made after the watch started too.
	if out, errOut, code := tcpkaRun(t, "revert", "--all-netns", "--run-dir", run); code != 0 {
		t.Fatalf("revert --all-netns after the watch: exit %d\n%s%s", code, out, errOut)
	}
	for ns, want := range map[string]string{"": "600/60/6", "tcpka-w1": "7200/75/9", "tcpka-w2": "7200/75/9", "tcpka-w3": "7200/75/9"} {
		if got := nstest.Values(t, ns); got != want {
			t.Errorf("after revert --all-netns: netns %q holds %s, want its own %s", ns, got, want)
		}
	}
}

// watchProcess is a tcpka watch run as a user runs it: the built binary.
type watchProcess struct {
	cmd    *exec.Cmd
	stderr *testkit.Buffer
	exited chan error
}

// startWatch starts tcpka watch ARGS; it is killed at cleanup if still running.
func startWatch(t *testing.T, args ...string) *watchProcess {
	t.Helper()
	w := &watchProcess{stderr: &testkit.Buffer{}, exited: make(chan error, 1)}
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
