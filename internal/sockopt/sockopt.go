package sockopt

import (
	"errors"
	"fmt"
	"time"

	"github.com/tcpka/tcpka/internal/keepalive"
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

// Options are a TCP socket's keepalive options as the kernel reports them:
// SO_KEEPALIVE, and the settings TCP_KEEPIDLE, TCP_KEEPINTVL, TCP_KEEPCNT
// (which read back as the namespace's sysctls where the socket set none)
// and TCP_USER_TIMEOUT (0: not set). Settings.Retries2 is not a socket
// option and stays 0.
type Options struct {
	On       bool
	Settings keepalive.Settings
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
	o.On = ka != 0
	for _, k := range keepalive.SocketKeys() {
		v, err := get(k.SockOpt.Level, k.SockOpt.Opt, k.SockOpt.Name)
		if err != nil {
			return Options{}, err
		}
		k.Set(&o.Settings, v)
	}
	return o, nil
}

// Validate checks the settings Set would write against the kernel's
// per-socket limits (keepalive.Settings.Validate); zero fields are left
// alone by Set and pass.
func (o Options) Validate() error {
	if o.Settings.Retries2 != 0 {
		return fmt.Errorf("%s is not a socket option: %w", keepalive.Retries2.Sysctl, ErrInvalid)
	}
	if err := o.Settings.Validate(); err != nil {
		return fmt.Errorf("%w: %w", ErrInvalid, err)
	}
	return nil
}

// Set writes o to TCP socket fd: TCP_KEEPIDLE, TCP_KEEPINTVL, TCP_KEEPCNT
// and TCP_USER_TIMEOUT only where set (non-zero; zero leaves the socket's
// value), then SO_KEEPALIVE. Values are validated before anything is
// written; a setsockopt failure part way leaves the earlier options set.
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
	for _, k := range keepalive.SocketKeys() {
		v := k.Get(o.Settings)
		if v == 0 {
			continue
		}
		if err := set(k.SockOpt.Level, k.SockOpt.Opt, v, k.SockOpt.Name); err != nil {
			return err
		}
	}
	ka := 0
	if o.On {
		ka = 1
	}
	return set(unix.SOL_SOCKET, unix.SO_KEEPALIVE, ka, "SO_KEEPALIVE")
}

// UserTimeoutMs is the TCP_USER_TIMEOUT value in milliseconds, as the
// kernel reports it.
func (o Options) UserTimeoutMs() int { return int(o.Settings.UserTimeout / time.Millisecond) }
