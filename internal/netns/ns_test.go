package netns

import (
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
)

// TestResolveErrors: each wrong target gives its own sentinel and a message
// that says what was wrong. Needs no privileges.
func TestResolveErrors(t *testing.T) {
	dir := t.TempDir()
	runDir := filepath.Join(dir, "netns")
	if err := os.Mkdir(runDir, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(runDir, "stale"), nil, 0o444); err != nil {
		t.Fatal(err)
	}
	file := filepath.Join(dir, "hosts")
	if err := os.WriteFile(file, []byte("127.0.0.1 localhost\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	exited := exec.Command("true")
	if err := exited.Run(); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		spec string
		want error
		msg  string
	}{
		{"nope", ErrNotExist, `no such network namespace named "nope" in ` + runDir},
		{"stale", ErrNotNetns, runDir + "/stale: not a network namespace: a plain file"},
		{file, ErrNotNetns, "not a network namespace: a plain file (want /run/netns/NAME, /proc/PID/ns/net or a bind mount of one)"},
		{dir, ErrNotNetns, "not a network namespace: a directory"},
		{dir + "/missing", ErrNotExist, "no such network namespace: no such file"},
		{"/proc/self/ns/uts", ErrNotNetns, "not a network namespace: it is a uts namespace"},
		{"pid:" + strconv.Itoa(exited.Process.Pid), ErrExited, "process has exited (no process " + strconv.Itoa(exited.Process.Pid) + ")"},
		{"pid:abc", ErrBadSpec, `"pid:abc": bad network namespace: pid must be a positive integer`},
		{"pid:0", ErrBadSpec, "pid must be a positive integer"},
		{"", ErrBadSpec, "empty"},
		{"..", ErrBadSpec, `"..": bad network namespace`},
	}
	for _, tt := range tests {
		t.Run(tt.spec, func(t *testing.T) {
			ns, err := Resolve(tt.spec, runDir, "/proc")
			if err == nil {
				ns.Close()
				t.Fatalf("Resolve(%q) = %s, want an error", tt.spec, ns.ID())
			}
			if !errors.Is(err, tt.want) {
				t.Errorf("Resolve(%q) = %v, want errors.Is %v", tt.spec, err, tt.want)
			}
			if !strings.Contains(err.Error(), tt.msg) {
				t.Errorf("Resolve(%q) = %q, want it to contain %q", tt.spec, err, tt.msg)
			}
		})
	}
}

// TestResolveOwn: the three forms of target all reach this process's own
// namespace, with the inode ls -l /proc/self/ns/net shows.
func TestResolveOwn(t *testing.T) {
	link, err := os.Readlink("/proc/self/ns/net")
	if err != nil {
		t.Skipf("no /proc/self/ns/net: %v", err)
	}
	runDir := t.TempDir()
	for _, spec := range []string{"/proc/self/ns/net", "pid:" + strconv.Itoa(os.Getpid())} {
		ns, err := Resolve(spec, runDir, "/proc")
		if err != nil {
			t.Fatalf("Resolve(%q): %v", spec, err)
		}
		if ns.ID() != link {
			t.Errorf("Resolve(%q).ID() = %s, want %s", spec, ns.ID(), link)
		}
		ns.Close()
	}
}
