package main

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestExitCodes runs the CLI in-process: 0 ok, 1 failure or drift, 2 usage;
// and every failure is exactly one line on stderr.
func TestExitCodes(t *testing.T) {
	tree := t.TempDir()
	for name, val := range map[string]string{"time": "60", "intvl": "15", "probes": "4"} {
		p := filepath.Join(tree, "sys/net/ipv4/tcp_keepalive_"+name)
		os.MkdirAll(filepath.Dir(p), 0o755)
		os.WriteFile(p, []byte(val+"\n"), 0o644)
	}
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
