package main

import (
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/tcpka/tcpka/internal/enforce/enforcetest"
	"github.com/tcpka/tcpka/internal/testkit"
)

// TestWatchEnforceCgroup: watch --enforce-cgroup attaches the program to a
// test cgroup, attaches it again after it was removed behind its back, and
// refuses a directory that is not a cgroup before serving anything.
func TestWatchEnforceCgroup(t *testing.T) {
	if !enforcetest.InScratchNetns(t) {
		return
	}
	cg, _, flags := cgroupFixture(t)
	listed := regexp.MustCompile(`(?m)^` + regexp.QuoteMeta(cg) + ` +fast-failover +10 s +3 s +5 +25 s `)
	// Within 10 s: watch checks every second, but a CI machine running
	// every package's tests at once can hold a check back for seconds.
	var w *watchProcess
	waitListed := func(what string) {
		t.Helper()
		var out string
		if !testkit.Eventually(10*time.Second, func() bool {
			out, _, _ = tcpkaRun(t, append([]string{"enforce", "--list"}, flags...)...)
			return listed.MatchString(out)
		}) {
			t.Fatalf("%s: enforce --list does not show %s within 10 s:\n%s\nwatch's log:\n%s", what, cg, out, w.stderr.String())
		}
	}

	// Cleanups run last-in first-out: watch is killed, then the pin is
	// removed, then the private bpffs checks that no pin is left.
	t.Cleanup(func() { tcpkaRun(t, append([]string{"enforce", "--remove", "--cgroup", cg}, flags...)...) })
	w = startWatch(t, append([]string{"fast-failover", "--interval", "1s", "--enforce-cgroup", cg}, flags...)...)
	stderr := w.stderr
	waitListed("at start")

	// Removed behind its back: attached again at the next check, and logged.
	if _, errs, code := tcpkaRun(t, append([]string{"enforce", "--remove", "--cgroup", cg}, flags...)...); code != 0 {
		t.Fatalf("enforce --remove: exit %d %s", code, errs)
	}
	waitListed("after --remove")
	// The log line follows the pin that enforce --list sees: wait for it.
	attached := func() int {
		return strings.Count(stderr.String(), `msg="enforcement attached" cgroup=`+cg+` action=attached`)
	}
	testkit.Eventually(10*time.Second, func() bool { return attached() >= 2 })
	if n := attached(); n != 2 {
		t.Errorf("want two 'enforcement attached' lines (start, re-attach), got %d:\n%s", n, stderr.String())
	}

	w.stop(t)

	// Not a cgroup: exit 1 before anything is served, one line.
	_, errs, code := tcpkaRun(t, append([]string{"watch", "fast-failover", "--enforce-cgroup", t.TempDir()}, flags...)...)
	if code != 1 || !strings.Contains(errs, "no cgroup v2: not a directory of a cgroup2 file system") || strings.Count(errs, "\n") != 1 {
		t.Errorf("--enforce-cgroup on a plain dir: exit %d, stderr %q", code, errs)
	}
}
