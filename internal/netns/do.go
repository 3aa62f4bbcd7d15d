package netns

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"runtime"

	vns "github.com/vishvananda/netns"
	"golang.org/x/sys/unix"
)

// setns moves the calling thread; a variable so a test can make the way
// back fail.
var setns = vns.Set

// Do runs fn inside ns and returns its error. fn runs on a goroutine of its
// own, locked to an OS thread that has joined ns; the caller's goroutine and
// every other goroutine stay where they were. fn must not start goroutines
// that expect to be in ns (they would not be).
func Do(ns *NS, fn func() error) error {
	errs, err := Each(1, func(int) (*NS, error) { return ns, nil }, func(int) error { return fn() }, false)
	if err != nil {
		return err
	}
	return errs[0]
}

// Each visits n namespaces in turn on one locked OS thread: for each i it
// gets a handle from open(i), moves the thread into it, runs fn(i), and
// (when closeEach) closes the handle. errs[i] is that visit's error (open,
// setns or fn). The thread goes back to its own namespace at the end; err
// is set when it could not (the thread is then discarded, never reused) or
// when the thread's own namespace could not be opened (nothing was run).
func Each(n int, open func(i int) (*NS, error), fn func(i int) error, closeEach bool) (errs []error, err error) {
	errs = make([]error, n)
	done := make(chan error, 1)
	go func() {
		runtime.LockOSThread()
		// Not vns.Get(): it builds /proc/PID/task/TID from getpid and
		// gettid, which name another process when tcpka runs in a pid
		// namespace of its own under the host's /proc. thread-self is
		// resolved by procfs itself.
		home, err := vns.GetFromPath("/proc/thread-self/ns/net")
		if err != nil {
			runtime.UnlockOSThread()
			done <- fmt.Errorf("open this thread's network namespace: %w", err)
			return
		}
		defer home.Close()
		var homeSt unix.Stat_t
		if err := unix.Fstat(int(home), &homeSt); err != nil {
			runtime.UnlockOSThread()
			done <- fmt.Errorf("this thread's network namespace: %w", err)
			return
		}
		moved := false
		for i := 0; i < n; i++ {
			ns, err := open(i)
			if err != nil {
				errs[i] = err
				continue
			}
			if ns.Dev == homeSt.Dev && ns.Ino == homeSt.Ino {
				// Already there: no setns, which needs CAP_SYS_ADMIN even
				// into one's own namespace, so that without privileges
				// tcpka still reads the namespace it runs in.
				errs[i] = fn(i)
			} else if err := setns(ns.h); err != nil {
				errs[i] = fmt.Errorf("enter %s: %w", ns.ID(), err)
				if errors.Is(err, unix.EPERM) {
					errs[i] = fmt.Errorf("%w (entering another network namespace needs CAP_SYS_ADMIN)", errs[i])
				}
			} else if err := inside(ns); err != nil {
				moved = true
				errs[i] = err
			} else {
				moved = true
				errs[i] = fn(i)
			}
			if closeEach {
				ns.Close()
			}
		}
		if moved {
			if err := setns(home); err != nil {
				// Leave the thread locked: the goroutine ends here and Go
				// terminates its thread instead of reusing it in a foreign
				// namespace.
				done <- fmt.Errorf("could not move the thread back to its own network namespace (the thread was discarded): %w", err)
				return
			}
		}
		runtime.UnlockOSThread()
		done <- nil
	}()
	return errs, <-done
}

// inside checks that the calling thread really is in ns before anything
// runs there: a write meant for a scratch namespace must never land in
// the one tcpka started in.
func inside(ns *NS) error {
	var st unix.Stat_t
	if err := unix.Stat("/proc/thread-self/ns/net", &st); err != nil {
		return fmt.Errorf("enter %s: check: %w", ns.ID(), err)
	}
	if st.Dev != ns.Dev || st.Ino != ns.Ino {
		return fmt.Errorf("enter %s: the thread is in %s instead: refusing to run there", ns.ID(), FormatID(st.Ino))
	}
	return nil
}

// New creates an anonymous network namespace, held by the returned handle
// alone: no name under /run/netns, no process in it. It vanishes, with
// its links, addresses and firewall tables, when the last handle and
// socket in it are closed, which a killed process does too; nothing can
// be left behind for a later command to find. It is made on a thread of
// its own that is thrown away afterwards (unshare moves the calling
// thread, and it must never run other goroutines there).
func New() (*NS, error) {
	type result struct {
		fd  int
		err error
	}
	c := make(chan result, 1)
	go func() {
		runtime.LockOSThread() // never unlocked: the thread exits with the goroutine
		if err := unix.Unshare(unix.CLONE_NEWNET); err != nil {
			c <- result{-1, fmt.Errorf("unshare: %w", err)}
			return
		}
		fd, err := unix.Open("/proc/thread-self/ns/net", unix.O_RDONLY|unix.O_CLOEXEC, 0)
		c <- result{fd, err}
	}()
	r := <-c
	if r.err != nil {
		return nil, fmt.Errorf("create network namespace: %w", r.err)
	}
	defer unix.Close(r.fd)
	return FromFD(r.fd, "anonymous network namespace")
}

// DeleteNamed unmounts and removes runDir/name, a namespace bind-mounted
// as `ip netns add` does (older measures left theirs so); a file that is
// no mount is removed all the same.
func DeleteNamed(runDir, name string) error {
	path := filepath.Join(runDir, name)
	uerr := unix.Unmount(path, unix.MNT_DETACH)
	if err := os.Remove(path); err != nil && !errors.Is(err, os.ErrNotExist) {
		return errors.Join(uerr, err)
	}
	return nil
}
