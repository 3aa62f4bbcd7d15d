package sockopt

import (
	"errors"
	"fmt"

	"golang.org/x/sys/unix"
)

// Sentinel errors; every error from this package wraps one of them (or the
// raw errno when none fits) so callers can decide with errors.Is.
var (
	// ErrProcessGone: the process exited (ESRCH).
	ErrProcessGone = errors.New("process gone")
	// ErrNotPermitted: no right to reach the process or its fd (EPERM,
	// EACCES): needs root or PTRACE_MODE_ATTACH over the target.
	ErrNotPermitted = errors.New("not permitted")
	// ErrNoSuchFD: the descriptor is not open (EBADF), e.g. closed mid-scan.
	ErrNoSuchFD = errors.New("no such file descriptor")
	// ErrNotSocket: the descriptor is not a socket (ENOTSOCK).
	ErrNotSocket = errors.New("not a socket")
	// ErrNotTCP: a socket, but TCP options do not apply (ENOPROTOOPT,
	// EOPNOTSUPP: UDP, unix, ...).
	ErrNotTCP = errors.New("not a TCP socket")
	// ErrInvalid: a value outside the kernel's per-socket range.
	ErrInvalid = errors.New("invalid option value")
)

// Per-socket limits from include/net/tcp.h.
const (
	MaxKeepIdle  = 32767 // MAX_TCP_KEEPIDLE, seconds
	MaxKeepIntvl = 32767 // MAX_TCP_KEEPINTVL, seconds
	MaxKeepCnt   = 127   // MAX_TCP_KEEPCNT
)

// Options are a TCP socket's keepalive options as the kernel reports them.
type Options struct {
	Keepalive     bool // SO_KEEPALIVE
	Idle          int  // TCP_KEEPIDLE, seconds
	Intvl         int  // TCP_KEEPINTVL, seconds
	Count         int  // TCP_KEEPCNT, probes
	UserTimeoutMs int  // TCP_USER_TIMEOUT, milliseconds; 0 = not set
}

// classify maps an errno to a sentinel.
func classify(err error) error {
	var errno unix.Errno
	if !errors.As(err, &errno) {
		return err
	}
	switch errno {
	case unix.ESRCH:
		return fmt.Errorf("%w (%v)", ErrProcessGone, errno)
	case unix.EPERM, unix.EACCES:
		return fmt.Errorf("%w (%v)", ErrNotPermitted, errno)
	case unix.EBADF:
		return fmt.Errorf("%w (%v)", ErrNoSuchFD, errno)
	case unix.ENOTSOCK:
		return fmt.Errorf("%w (%v)", ErrNotSocket, errno)
	case unix.ENOPROTOOPT, unix.EOPNOTSUPP:
		return fmt.Errorf("%w (%v)", ErrNotTCP, errno)
	}
	return errno
}

// PidfdOpen returns a pidfd for pid (pidfd_open(2)). Close it with
// unix.Close. A pid that does not exist gives ErrProcessGone.
func PidfdOpen(pid int) (int, error) {
	fd, err := unix.PidfdOpen(pid, 0)
	if err != nil {
		return -1, fmt.Errorf("pidfd_open %d: %w", pid, classify(err))
	}
	return fd, nil
}

// PidfdGetfd duplicates descriptor fd of the process behind pidfd into this
// process (pidfd_getfd(2)); the copy is close-on-exec. Close it with
// unix.Close; the owner's descriptor stays open.
func PidfdGetfd(pidfd, fd int) (int, error) {
	nfd, err := unix.PidfdGetfd(pidfd, fd, 0)
	if err != nil {
		return -1, fmt.Errorf("pidfd_getfd %d: %w", fd, classify(err))
	}
	return nfd, nil
}

// Dup duplicates descriptor fd of process pid into this process: PidfdOpen
// then PidfdGetfd, closing the pidfd. Close the result with unix.Close.
func Dup(pid, fd int) (int, error) {
	pidfd, err := PidfdOpen(pid)
	if err != nil {
		return -1, err
	}
	defer unix.Close(pidfd)
	nfd, err := PidfdGetfd(pidfd, fd)
	if err != nil {
		return -1, fmt.Errorf("pid %d: %w", pid, err)
	}
	return nfd, nil
}

// Get reads the keepalive options of TCP socket fd.
func Get(fd int) (Options, error) {
	var o Options
	get := func(level, opt int, name string) (int, error) {
		v, err := unix.GetsockoptInt(fd, level, opt)
		if err != nil {
			return 0, fmt.Errorf("getsockopt %s: %w", name, classify(err))
		}
		return v, nil
	}
	ka, err := get(unix.SOL_SOCKET, unix.SO_KEEPALIVE, "SO_KEEPALIVE")
	if err != nil {
		return o, err
	}
	o.Keepalive = ka != 0
	for _, f := range []struct {
		opt  int
		name string
		dst  *int
	}{
		{unix.TCP_KEEPIDLE, "TCP_KEEPIDLE", &o.Idle},
		{unix.TCP_KEEPINTVL, "TCP_KEEPINTVL", &o.Intvl},
		{unix.TCP_KEEPCNT, "TCP_KEEPCNT", &o.Count},
		{unix.TCP_USER_TIMEOUT, "TCP_USER_TIMEOUT", &o.UserTimeoutMs},
	} {
		v, err := get(unix.IPPROTO_TCP, f.opt, f.name)
		if err != nil {
			return Options{}, err
		}
		*f.dst = v
	}
	return o, nil
}

// Validate checks the fields Set would write against the kernel's
// per-socket limits; zero fields are left alone by Set and pass.
func (o Options) Validate() error {
	check := func(name string, v, max int) error {
		if v < 0 || v > max {
			return fmt.Errorf("%s %d: %w: want 1..%d", name, v, ErrInvalid, max)
		}
		return nil
	}
	if err := check("TCP_KEEPIDLE", o.Idle, MaxKeepIdle); err != nil {
		return err
	}
	if err := check("TCP_KEEPINTVL", o.Intvl, MaxKeepIntvl); err != nil {
		return err
	}
	if err := check("TCP_KEEPCNT", o.Count, MaxKeepCnt); err != nil {
		return err
	}
	if o.UserTimeoutMs < 0 {
		return fmt.Errorf("TCP_USER_TIMEOUT %d ms: %w: want >= 0", o.UserTimeoutMs, ErrInvalid)
	}
	return nil
}

// Set writes o to TCP socket fd: SO_KEEPALIVE always, TCP_KEEPIDLE,
// TCP_KEEPINTVL, TCP_KEEPCNT and TCP_USER_TIMEOUT only where non-zero (zero
// leaves the socket's current value). Values are validated before anything
// is written; a setsockopt failure part way leaves the earlier options set.
// The per-socket options are written before SO_KEEPALIVE so the timer is
// armed with the new idle time.
func Set(fd int, o Options) error {
	if err := o.Validate(); err != nil {
		return err
	}
	set := func(level, opt, v int, name string) error {
		if err := unix.SetsockoptInt(fd, level, opt, v); err != nil {
			return fmt.Errorf("setsockopt %s %d: %w", name, v, classify(err))
		}
		return nil
	}
	for _, f := range []struct {
		opt  int
		v    int
		name string
	}{
		{unix.TCP_KEEPIDLE, o.Idle, "TCP_KEEPIDLE"},
		{unix.TCP_KEEPINTVL, o.Intvl, "TCP_KEEPINTVL"},
		{unix.TCP_KEEPCNT, o.Count, "TCP_KEEPCNT"},
		{unix.TCP_USER_TIMEOUT, o.UserTimeoutMs, "TCP_USER_TIMEOUT"},
	} {
		if f.v == 0 {
			continue
		}
		if err := set(unix.IPPROTO_TCP, f.opt, f.v, f.name); err != nil {
			return err
		}
	}
	ka := 0
	if o.Keepalive {
		ka = 1
	}
	return set(unix.SOL_SOCKET, unix.SO_KEEPALIVE, ka, "SO_KEEPALIVE")
}
