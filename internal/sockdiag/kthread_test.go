package sockdiag

import (
	"os"
	"path/filepath"
	"testing"
)

// TestCommNamesKernelThreads: a socket held by a kernel thread (an
// in-kernel NFS or iSCSI client) names its owner as a kernel thread.
func TestCommNamesKernelThreads(t *testing.T) {
	root := t.TempDir()
	for pid, p := range map[string][2]string{
		"2":   {"kthreadd", "2 (kthreadd) S 0 0 0 0 -1 2129984 0 0 0 0\n"},
		"812": {"kworker/0:1", "812 (kworker/0:1) S 1 812 812 0 -1 4194560 0 0 0 0\n"},
	} {
		dir := filepath.Join(root, pid)
		if err := os.MkdirAll(filepath.Join(dir, "fd"), 0o755); err != nil {
			t.Fatal(err)
		}
		os.WriteFile(filepath.Join(dir, "comm"), []byte(p[0]+"\n"), 0o644)
		os.WriteFile(filepath.Join(dir, "stat"), []byte(p[1]), 0o644)
	}
	o, err := ReadOwners(root)
	if err != nil {
		t.Fatal(err)
	}
	for pid, want := range map[int]string{2: "kthreadd (kernel thread)", 812: "kworker/0:1", 999: "?"} {
		if got := o.Comm(pid); got != want {
			t.Errorf("Comm(%d) = %q, want %q", pid, got, want)
		}
	}
}
