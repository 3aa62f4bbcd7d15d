package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/tcpka/tcpka/internal/keepalive"
)

// TestPuTTYNamesEscaped: a sessions directory whose path and session name
// (PuTTY's %1B) hold terminal escapes: ssh --putty prints both escaped,
// never a raw control character.
func TestPuTTYNamesEscaped(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "home\x1b[2J", ".putty", "sessions")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "evil%1B%5B31m%0Aforged"), []byte("PingIntervalSecs=30\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	proc := fakeProc(t, keepalive.KernelDefaults)
	for _, args := range [][]string{
		{"ssh", "--putty", dir, "--proc-root", proc},
		{"ssh", "--putty", filepath.Join(dir, "evil%1B%5B31m%0Aforged"), "--proc-root", proc}, // not an export: an error naming it
	} {
		out, errs, code := tcpkaRun(t, args...)
		if strings.ContainsAny(out+errs, "\x1b") || strings.Count(errs, "\n") > 1 {
			t.Errorf("tcpka %s: exit %d, raw control characters:\nstdout:\n%q\nstderr:\n%q", strings.Join(args[:2], " "), code, out, errs)
		}
		if code == 0 && !strings.Contains(out, `session "evil\x1b[31m\nforged"`) {
			t.Errorf("tcpka ssh --putty: session name not shown escaped:\n%s", out)
		}
		if code == 0 && !strings.Contains(out, `home\x1b[2J`) {
			t.Errorf("tcpka ssh --putty: path not shown escaped:\n%s", out)
		}
	}
}
