package main

import (
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
)

// TestEnforcePidZero: --pid 0 is a value the user gave, not a missing
// flag: it is refused as no process id, exit 2.
func TestEnforcePidZero(t *testing.T) {
	for _, pid := range []string{"0", "-3"} {
		_, errs, code := tcpkaRun(t, "enforce", "ssh", "--pid", pid)
		if code != 2 || !strings.HasPrefix(errs, "tcpka: enforce: --pid "+pid+": not a process id") || strings.Contains(errs, "needs exactly one") {
			t.Errorf("enforce ssh --pid %s: exit %d, %q; want exit 2 and --pid %s: not a process id", pid, code, errs, pid)
		}
	}
}

// TestEnforcePIDNameEscaped: a process whose command holds a terminal
// escape is named escaped, never raw.
func TestEnforcePIDNameEscaped(t *testing.T) {
	needRoot(t)
	sleep, err := exec.LookPath("sleep")
	if err != nil {
		t.Skip("needs sleep")
	}
	bin := filepath.Join(t.TempDir(), "ev\x1b[2Jil")
	b, err := os.ReadFile(sleep)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(bin, b, 0o755); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(bin, "60")
	if err := cmd.Start(); err != nil {
		t.Skipf("cannot run a copy of sleep here: %v", err)
	}
	defer func() { cmd.Process.Kill(); cmd.Wait() }()
	out, errs, code := tcpkaRun(t, "enforce", "ssh", "--pid", strconv.Itoa(cmd.Process.Pid), "--dry-run")
	if strings.Contains(out+errs, "\x1b") {
		t.Errorf("enforce --pid: exit %d, a raw control character:\n%q\n%q", code, out, errs)
	}
	if !strings.Contains(out, `(\"ev\x1b[2Jil\")`) && !strings.Contains(out, `"ev\x1b[2Jil"`) {
		t.Errorf("enforce --pid: the command is not named escaped:\n%s%s", out, errs)
	}
}
