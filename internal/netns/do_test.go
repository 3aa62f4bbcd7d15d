package netns

import (
	"errors"
	"os"
	"runtime"
	"strings"
	"sync"
	"testing"

	"github.com/tcpka/tcpka/internal/nstest"
	vns "github.com/vishvananda/netns"
)

// threadNetns is the namespace of the OS thread running the caller, which
// must be locked to it.
func threadNetns(t *testing.T) string {
	t.Helper()
	id, err := os.Readlink("/proc/thread-self/ns/net")
	if err != nil {
		t.Fatal(err)
	}
	return id
}

// othersStayHome checks, on many goroutines each locked to a thread, that
// no thread the Go runtime hands out is in a foreign namespace.
func othersStayHome(t *testing.T, home string) {
	t.Helper()
	var wg sync.WaitGroup
	bad := make(chan string, 64)
	for i := 0; i < 64; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			runtime.LockOSThread()
			defer runtime.UnlockOSThread()
			if id, err := os.Readlink("/proc/thread-self/ns/net"); err != nil || id != home {
				bad <- id
			}
		}()
	}
	wg.Wait()
	close(bad)
	for id := range bad {
		t.Errorf("a goroutine ran in %s, not in tcpka's own %s", id, home)
	}
}

// TestDo reads a named namespace's sysctl from inside Do, and checks that
// the caller and every other goroutine stay in their own namespace.
func TestDo(t *testing.T) {
	if !nstest.Private(t, "ip") {
		return
	}
	nstest.Run(t, "ip", "netns", "add", "tcpka-do")
	nstest.SetValues(t, "tcpka-do", 111, 22, 3)
	home, err := os.Readlink("/proc/self/ns/net")
	if err != nil {
		t.Fatal(err)
	}
	ns, err := Resolve("tcpka-do", DefaultRunDir, "/proc")
	if err != nil {
		t.Fatal(err)
	}
	defer ns.Close()
	var inside, got string
	err = Do(ns, func() error {
		inside = threadNetns(t)
		b, err := os.ReadFile("/proc/sys/net/ipv4/tcp_keepalive_time")
		got = strings.TrimSpace(string(b))
		return err
	})
	if err != nil {
		t.Fatalf("Do: %v", err)
	}
	if inside != ns.ID() || inside == home {
		t.Errorf("fn ran in %s, want the target %s (home %s)", inside, ns.ID(), home)
	}
	if got != "111" {
		t.Errorf("tcp_keepalive_time inside Do = %s, want 111 (the target's, not the home's)", got)
	}
	wantErr := errors.New("from fn")
	if err := Do(ns, func() error { return wantErr }); err != wantErr {
		t.Errorf("Do returned %v, want fn's error", err)
	}
	othersStayHome(t, home)
}

// TestDoRestoreFails: when the thread cannot move back, Do says so and the
// thread is never reused: no goroutine afterwards finds itself in the target.
func TestDoRestoreFails(t *testing.T) {
	if !nstest.Private(t, "ip") {
		return
	}
	nstest.Run(t, "ip", "netns", "add", "tcpka-stuck")
	home, err := os.Readlink("/proc/self/ns/net")
	if err != nil {
		t.Fatal(err)
	}
	ns, err := Resolve("tcpka-stuck", DefaultRunDir, "/proc")
	if err != nil {
		t.Fatal(err)
	}
	defer ns.Close()
	calls := 0
	setns = func(h vns.NsHandle) error {
		calls++
		if calls == 2 { // the way back
			return errors.New("injected failure")
		}
		return vns.Set(h)
	}
	defer func() { setns = vns.Set }()
	var inside string
	err = Do(ns, func() error { inside = threadNetns(t); return nil })
	if err == nil || !strings.Contains(err.Error(), "could not move the thread back") || !strings.Contains(err.Error(), "discarded") {
		t.Fatalf("Do = %v, want the restore failure", err)
	}
	if inside != ns.ID() {
		t.Fatalf("fn ran in %s, want %s", inside, ns.ID())
	}
	for i := 0; i < 20; i++ {
		othersStayHome(t, home)
	}
}

// TestDoUnderHostProc: tcpka as pid 1 of its own pid namespace but with the
// host's /proc (a container that mounts it). Do must find its way home by
// /proc/thread-self, not by getpid/gettid, which name other processes in
// that /proc.
func TestDoUnderHostProc(t *testing.T) {
	if !nstest.PidNetOnly(t) {
		return
	}
	home, err := os.Readlink("/proc/thread-self/ns/net")
	if err != nil {
		t.Fatal(err)
	}
	ns, err := Open("/proc/thread-self/ns/net")
	if err != nil {
		t.Fatal(err)
	}
	defer ns.Close()
	var inside string
	if err := Do(ns, func() error { inside = threadNetns(t); return nil }); err != nil {
		t.Fatalf("Do under the host's /proc: %v", err)
	}
	if inside != home {
		t.Errorf("fn ran in %s, want %s", inside, home)
	}
	othersStayHome(t, home)
}
