package main

import (
	"bytes"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/tcpka/tcpka/internal/keepalive"
	"github.com/tcpka/tcpka/internal/sysctl"
)

// TestExitCodes runs the CLI in-process: 0 ok, 1 failure or drift, 2 usage;
// and every failure is exactly one line on stderr.
func TestExitCodes(t *testing.T) {
	tree := fakeProc(t, keepalive.Settings{Time: 60, Intvl: 15, Probes: 4, Retries2: 8}) // profile ssh
	bad := filepath.Join(t.TempDir(), "bad.yaml")
	os.WriteFile(bad, []byte("probes: 0\n"), 0o644)
	g := []string{"--proc-root", tree, "--run-dir", t.TempDir()}
	tests := []struct {
		args []string
		code int
	}{
		{[]string{"show"}, 0},
		{[]string{"check", "ssh"}, 0},
		{[]string{"check", "aws-nlb"}, 1},
		{[]string{"apply", bad}, 1},
		{[]string{"apply", "nope"}, 1},
		{[]string{"apply"}, 2},
		{[]string{"apply", "ssh", "aws-nlb"}, 2},
		{[]string{"show", "--nope"}, 2},
		{[]string{"nope"}, 2},
		{[]string{"apply", "ssh", "--dry-run"}, 0},
	}
	for _, tt := range tests {
		var out, errb bytes.Buffer
		args := tt.args
		if args[0] != "nope" {
			args = append(append([]string{}, args...), g...)
		}
		code := run(args, &out, &errb)
		if code != tt.code {
			t.Errorf("tcpka %s: exit %d, want %d (stderr %q)", strings.Join(tt.args, " "), code, tt.code, errb.String())
		}
		if code != 0 && tt.args[0] != "check" {
			if n := strings.Count(errb.String(), "\n"); n != 1 || !strings.HasPrefix(errb.String(), "tcpka: ") {
				t.Errorf("tcpka %s: stderr %q, want one line starting 'tcpka: '", strings.Join(tt.args, " "), errb.String())
			}
		}
	}
}

// fakeProc writes a proc tree holding v under t.TempDir() for --proc-root;
// fields v leaves zero hold the kernel defaults.
func fakeProc(t *testing.T, v keepalive.Settings) string {
	t.Helper()
	tree := t.TempDir()
	fs := sysctl.NewFS(tree)
	v = v.Over(keepalive.KernelDefaults) // a kernel has every key
	for _, k := range sysctl.Keys {
		if err := os.MkdirAll(filepath.Dir(fs.Path(k)), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(fs.Path(k), []byte(strconv.Itoa(k.Get(v))+"\n"), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return tree
}

func TestPrintable(t *testing.T) {
	for in, want := range map[string]string{
		"/sys/fs/cgroup/system.slice/app.service": "/sys/fs/cgroup/system.slice/app.service",
		"evil\x1b[2J": `"evil\x1b[2J"`,
		"two\nlines":  `"two\nlines"`,
		"bad\xffutf8": `"bad\xffutf8"`,
		"café":        "café",
	} {
		if got := printable(in); got != want {
			t.Errorf("printable(%q) = %s, want %s", in, got, want)
		}
	}
}
