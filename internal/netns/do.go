package netns

import (
	"fmt"
	"runtime"

	vns "github.com/vishvananda/netns"
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
		moved := false
		for i := 0; i < n; i++ {
			ns, err := open(i)
			if err != nil {
				errs[i] = err
				continue
			}
			if err := setns(ns.h); err != nil {
				errs[i] = fmt.Errorf("enter %s: %w", ns.ID(), err)
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
