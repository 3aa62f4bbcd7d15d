package main

import (
	"os/exec"
	"regexp"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/tcpka/tcpka/internal/enforce"
	"github.com/tcpka/tcpka/internal/enforce/enforcetest"
)

// TestWatchEnforceCgroup: watch --enforce-cgroup attaches the program to a
// test cgroup, attaches it again after it was removed behind its back, and
// refuses a directory that is not a cgroup before serving anything.
func TestWatchEnforceCgroup(t *testing.T) {
	if !enforcetest.InScratchNetns(t) {
		return
	}
	if err := enforce.CheckKernel(); err != nil {
		t.Skip(err)
	}
	cg := enforcetest.Cgroup(t)
	bpf := enforcetest.BPFFS(t)
	runDir := t.TempDir()
	flags := []string{"--bpf-root", bpf, "--run-dir", runDir}
	listed := regexp.MustCompile(`(?m)^` + regexp.QuoteMeta(cg) + ` +fast-failover +10 s +3 s +5 +25 s `)
	waitListed := func(what string) {
		t.Helper()
		for deadline := time.Now().Add(3 * time.Second); ; time.Sleep(50 * time.Millisecond) {
			out, _, _ := tcpkaRun(t, append([]string{"enforce", "--list"}, flags...)...)
			if listed.MatchString(out) {
				return
			}
			if time.Now().After(deadline) {
				t.Fatalf("%s: enforce --list does not show %s within 3 s:\n%s", what, cg, out)
			}
		}
	}

	var stderr syncBuffer
	cmd := exec.Command(tcpkaBinary(t), append([]string{"watch", "fast-failover", "--interval", "1s", "--enforce-cgroup", cg}, flags...)...)
	cmd.Stderr = &stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	defer func() {
		cmd.Process.Kill()
		<-exited
		tcpkaRun(t, append([]string{"enforce", "--remove", "--cgroup", cg}, flags...)...)
	}()
	waitListed("at start")

	// Removed behind its back: attached again at the next check, and logged.
	if _, errs, code := tcpkaRun(t, append([]string{"enforce", "--remove", "--cgroup", cg}, flags...)...); code != 0 {
		t.Fatalf("enforce --remove: exit %d %s", code, errs)
	}
	waitListed("after --remove")
	if n := strings.Count(stderr.String(), `msg="enforcement attached" cgroup=`+cg+` action=attached`); n != 2 {
		t.Errorf("want two 'enforcement attached' lines (start, re-attach), got %d:\n%s", n, stderr.String())
	}

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

	// Not a cgroup: exit 1 before anything is served, one line.
	_, errs, code := tcpkaRun(t, append([]string{"watch", "fast-failover", "--enforce-cgroup", t.TempDir()}, flags...)...)
	if code != 1 || !strings.Contains(errs, "no cgroup v2: not a directory of a cgroup2 file system") || strings.Count(errs, "\n") != 1 {
		t.Errorf("--enforce-cgroup on a plain dir: exit %d, stderr %q", code, errs)
	}
}
