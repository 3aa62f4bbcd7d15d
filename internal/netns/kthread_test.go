package netns

import (
	"os"
	"path/filepath"
	"testing"
)

// TestProcessesNameKernelThreads: the host namespace's processes include
// kernel threads; one is named as one, and a process that calls itself
// kworker is not.
func TestProcessesNameKernelThreads(t *testing.T) {
	root := t.TempDir()
	for pid, p := range map[string][2]string{
		"2":   {"kthreadd", "2 (kthreadd) S 0 0 0 0 -1 2129984 0 0 0 0\n"},
		"812": {"kworker/0:1", "812 (kworker/0:1) S 1 812 812 0 -1 4194560 0 0 0 0\n"},
	} {
		dir := filepath.Join(root, pid)
		if err := os.MkdirAll(dir, 0o755); err != nil {
			t.Fatal(err)
		}
		os.WriteFile(filepath.Join(dir, "comm"), []byte(p[0]+"\n"), 0o644)
		os.WriteFile(filepath.Join(dir, "stat"), []byte(p[1]), 0o644)
	}
	n := Namespace{Pids: []int{2, 812, 999}, procRoot: root}
	got := n.Processes(10)
	want := []Process{{Pid: 2, Command: "kthreadd (kernel thread)"}, {Pid: 812, Command: "kworker/0:1"}}
	if len(got) != len(want) || got[0] != want[0] || got[1] != want[1] {
		t.Errorf("Processes = %+v, want %+v", got, want)
	}
}
