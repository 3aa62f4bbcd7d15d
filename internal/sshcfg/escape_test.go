package sshcfg

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestEchoedTextEscaped: a config path, and the line ssh or sshd print on
// failure, reach the terminal escaped, never as raw control characters.
func TestEchoedTextEscaped(t *testing.T) {
	dir := t.TempDir()
	evil := filepath.Join(dir, "conf\x1b[2J")
	if err := checkConfig("--ssh-config", evil); err == nil || strings.Contains(err.Error(), "\x1b") {
		t.Errorf("missing config: %v", err)
	}
	bin := filepath.Join(dir, "fake-ssh")
	if err := os.WriteFile(bin, []byte("#!/bin/sh\nprintf 'bad \\033[31mred\\n' >&2\nexit 255\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	_, err := Run(bin, "-G", "host")
	if err == nil || strings.Contains(err.Error(), "\x1b") || !strings.Contains(err.Error(), `bad \x1b[31mred`) {
		t.Errorf("a failing ssh: %v, want its message escaped", err)
	}
}
