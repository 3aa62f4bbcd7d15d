package procname

import (
	"os"
	"path/filepath"
	"strconv"
	"testing"
)

// fakeProc writes /proc/PID/comm and stat for each pid under a temporary
// proc root.
func fakeProc(t *testing.T, procs map[int][2]string) string {
	t.Helper()
	root := t.TempDir()
	for pid, p := range procs {
		dir := filepath.Join(root, strconv.Itoa(pid))
		if err := os.MkdirAll(dir, 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(dir, "comm"), []byte(p[0]+"\n"), 0o644); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(dir, "stat"), []byte(p[1]), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return root
}

// Stat lines as Linux 6.18 writes them (trimmed after the flags field).
const (
	kthreadStat = "2 (kthreadd) S 0 0 0 0 -1 2129984 0 0 0 0 0 0\n"           // 0x208040: PF_KTHREAD
	userStat    = "4711 (kworker/0:1) S 1 4711 4711 0 -1 4194560 0 0 0 0 0\n" // 0x400100: a process
	trickyStat  = "4712 (a) b (c) S 1 4712 4712 0 -1 4194304 0 0 0 0 0\n"     // a command with ") "
)

func TestRead(t *testing.T) {
	root := fakeProc(t, map[int][2]string{
		2:    {"kthreadd", kthreadStat},
		4711: {"kworker/0:1", userStat},
		4712: {"a) b (c", trickyStat},
		4713: {"evil\x1b[2J", "4713 (evil\x1b[2J) S 1 1 1 0 -1 4194304 0 0\n"},
	})
	tests := []struct {
		pid  int
		want string
	}{
		{2, "kthreadd (kernel thread)"},
		{4711, "kworker/0:1"}, // a process that calls itself a kernel worker is not marked
		{4712, "a) b (c"},
		{4713, "evil\x1b[2J"}, // as the kernel holds it; the printer escapes it
	}
	for _, tt := range tests {
		got, err := Read(root, tt.pid)
		if err != nil || got != tt.want {
			t.Errorf("Read(%d) = %q, %v; want %q", tt.pid, got, err, tt.want)
		}
	}
	if _, err := Read(root, 9999); err == nil {
		t.Errorf("a missing process: no error")
	}
}

// TestReadHost: on a real /proc, pid 2 (kthreadd) is a kernel thread and
// this test is not.
func TestReadHost(t *testing.T) {
	if k, err := Kernel("/proc", os.Getpid()); err != nil || k {
		t.Errorf("this test: kernel thread %v, %v", k, err)
	}
	name, err := Read("/proc", 2)
	if err != nil {
		t.Skipf("no pid 2 here (a pid namespace): %v", err)
	}
	if name != "kthreadd"+KernelThread {
		t.Errorf("pid 2: %q, want kthreadd marked as a kernel thread", name)
	}
}
