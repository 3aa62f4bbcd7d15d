package sysctl

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"time"

	"github.com/tcpka/tcpka/internal/atomicfile"
	"golang.org/x/sys/unix"
)

// ErrLocked is returned when another tcpka holds the lock past the timeout.
var ErrLocked = errors.New("another tcpka is applying (lock held)")

// Lock takes an exclusive flock on path, waiting up to timeout, so two
// applies cannot interleave their writes. The lock goes with the process:
// a crash releases it. Call the returned func to release it.
func Lock(path string, timeout time.Duration) (unlock func(), err error) {
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return nil, fmt.Errorf("lock %s: %w", path, err)
	}
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE|unix.O_NOFOLLOW, 0o600)
	if err != nil {
		return nil, fmt.Errorf("lock %s: %w", path, err)
	}
	// A lock file someone else made could be held, or swapped, by them.
	var st unix.Stat_t
	if err := unix.Fstat(int(f.Fd()), &st); err != nil {
		f.Close()
		return nil, fmt.Errorf("lock %s: %w", path, err)
	}
	if int(st.Uid) != os.Geteuid() || st.Mode&0o022 != 0 || st.Mode&unix.S_IFMT != unix.S_IFREG {
		f.Close()
		return nil, fmt.Errorf("lock %s: %w: owned by uid %d, mode %#o (remove it; tcpka makes it again)", path, atomicfile.ErrUnsafe, st.Uid, st.Mode&0o7777)
	}
	deadline := time.Now().Add(timeout)
	for {
		err = unix.Flock(int(f.Fd()), unix.LOCK_EX|unix.LOCK_NB)
		if err == nil {
			return func() { f.Close() }, nil
		}
		if !errors.Is(err, unix.EWOULDBLOCK) || time.Now().After(deadline) {
			f.Close()
			if errors.Is(err, unix.EWOULDBLOCK) {
				return nil, fmt.Errorf("%s: %w", path, ErrLocked)
			}
			return nil, fmt.Errorf("lock %s: %w", path, err)
		}
		time.Sleep(20 * time.Millisecond)
	}
}
