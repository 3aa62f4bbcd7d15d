package main

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/tcpka/tcpka/internal/keepalive"
)

// TestPuTTYExitCodes: tcpka ssh --putty exits 0 when every session keeps
// the path open and 1 when any does not (the report on stdout, nothing on
// stderr); with one line on stderr, 2 for bad input (a bad or missing
// export, a usage mistake) and 3 for an export that is there but cannot be
// read.
func TestPuTTYExitCodes(t *testing.T) {
	tree := fakeProc(t, keepalive.Settings{Time: 7200, Intvl: 75, Probes: 9})
	fixtures := "../../internal/sshcfg/testdata/putty/"
	good := filepath.Join(t.TempDir(), "sessions")
	if err := os.MkdirAll(good, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(good, "web"), []byte("PingIntervalSecs=30\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		args   []string
		code   int
		stderr bool // one line on stderr
	}{
		{[]string{"--putty", good}, 0, false},
		{[]string{"--putty", good, "--json"}, 0, false},
		{[]string{"--putty", fixtures + "sessions.reg"}, 1, false},
		{[]string{"--putty", fixtures + "sessions.reg", "--json"}, 1, false},
		// 5 minutes survives an NLB's 350 s, the rest still does not.
		{[]string{"--putty", fixtures + "unix/sessions", "--path", "aws-nlb"}, 1, false},
		{[]string{"--putty", fixtures + "bad/garbage.bin"}, 2, true},
		{[]string{"--putty", fixtures + "bad/baddword.reg"}, 2, true},
		{[]string{"--putty", fixtures + "missing.reg"}, 2, true},
		{[]string{"--putty", "/proc/self/mem"}, 3, true}, // there, but unreadable
		{[]string{"--putty", good, "host"}, 2, true},
		{[]string{"--putty", good, "--idle-timeout", "soon"}, 2, true},
	}
	for _, tt := range tests {
		var out, errb bytes.Buffer
		args := append([]string{"ssh"}, tt.args...)
		args = append(args, "--proc-root", tree, "--ssh-bin", "/nonexistent/ssh", "--sshd-bin", "/nonexistent/sshd")
		code := run(args, &out, &errb)
		name := strings.Join(tt.args, " ")
		if code != tt.code {
			t.Errorf("tcpka ssh %s: exit %d, want %d (stderr %q)", name, code, tt.code, errb.String())
		}
		switch {
		case tt.stderr && (strings.Count(errb.String(), "\n") != 1 || !strings.HasPrefix(errb.String(), "tcpka: ssh: ")):
			t.Errorf("tcpka ssh %s: stderr %q, want one line starting 'tcpka: ssh: '", name, errb.String())
		case tt.stderr && out.Len() > 0:
			t.Errorf("tcpka ssh %s: stdout %q, want nothing", name, out.String())
		case !tt.stderr && errb.Len() > 0:
			t.Errorf("tcpka ssh %s: stderr %q, want nothing", name, errb.String())
		}
	}
}
