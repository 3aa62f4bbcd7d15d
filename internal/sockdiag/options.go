package sockdiag

import (
	"fmt"

	"github.com/tcpka/tcpka/internal/detect"
	"github.com/tcpka/tcpka/internal/keepalive"
	"github.com/tcpka/tcpka/internal/sockopt"
	"golang.org/x/sys/unix"
)

// OptionReader reads sockets' keepalive options from their owners with
// pidfd_getfd + getsockopt, keeping one pidfd per process. Needs root (or
// ptrace rights over every owner). Close it when done.
type OptionReader struct {
	pidfds map[int]int
	gone   map[int]error
}

// NewOptionReader returns an empty reader.
func NewOptionReader() *OptionReader {
	return &OptionReader{pidfds: make(map[int]int), gone: make(map[int]error)}
}

// Read duplicates the owner's descriptor, checks it is still the socket
// with this inode, and reads its options. Errors wrap sockopt's sentinels:
// ErrProcessGone and ErrNoSuchFD when the owner exited or closed the socket
// mid-scan (skip the socket), ErrNotPermitted without rights.
func (r *OptionReader) Read(o Owner, inode uint32) (sockopt.Options, error) {
	fd, err := r.Dup(o, inode)
	if err != nil {
		return sockopt.Options{}, err
	}
	defer unix.Close(fd)
	return sockopt.Get(fd)
}

// Dup duplicates the owner's descriptor into this process (pidfd_getfd,
// one cached pidfd per process) and checks it is still the socket with
// this inode: the owner may have closed it and reused the number since the
// dump. The caller closes the duplicate with unix.Close; setsockopt on it
// changes the owner's socket. Errors are those of Read.
func (r *OptionReader) Dup(o Owner, inode uint32) (int, error) {
	if err, ok := r.gone[o.PID]; ok {
		return -1, err
	}
	pidfd, ok := r.pidfds[o.PID]
	if !ok {
		var err error
		pidfd, err = sockopt.PidfdOpen(o.PID)
		if err != nil {
			r.gone[o.PID] = err
			return -1, err
		}
		r.pidfds[o.PID] = pidfd
	}
	fd, err := sockopt.PidfdGetfd(pidfd, o.FD)
	if err != nil {
		return -1, fmt.Errorf("pid %d: %w", o.PID, err)
	}
	var st unix.Stat_t
	if err := unix.Fstat(fd, &st); err != nil {
		unix.Close(fd)
		return -1, fmt.Errorf("pid %d fd %d: %w", o.PID, o.FD, err)
	}
	if st.Ino != uint64(inode) {
		unix.Close(fd)
		return -1, fmt.Errorf("pid %d fd %d now holds another file: %w", o.PID, o.FD, sockopt.ErrNoSuchFD)
	}
	return fd, nil
}

// Close closes the cached pidfds.
func (r *OptionReader) Close() {
	for pid, fd := range r.pidfds {
		unix.Close(fd)
		delete(r.pidfds, pid)
	}
}

// Keepalive says whether a socket's keepalive is on.
type Keepalive uint8

// Keepalive values.
const (
	KeepaliveUnknown Keepalive = iota // hidden by another timer and no options read
	KeepaliveOff
	KeepaliveOn
)

// String is "on", "off" or "unknown".
func (k Keepalive) String() string {
	switch k {
	case KeepaliveOn:
		return "on"
	case KeepaliveOff:
		return "off"
	}
	return "unknown"
}

// Verdict is what one socket's keepalive amounts to, given the sysctls.
type Verdict struct {
	Keepalive Keepalive
	// HasOptions: Options were read from the owner.
	HasOptions bool
	Options    sockopt.Options
	// Own: keepalive on with TCP_KEEPIDLE/INTVL/CNT differing from the
	// sysctls (the kernel reports effective values, so a socket that set
	// the sysctls' own numbers counts as following them).
	Own bool
	// Effective are the settings the socket really uses: its options with
	// its namespace's tcp_retries2 (valid with HasOptions).
	Effective keepalive.Settings
	// Bounds: how long a silent peer holds the socket, idle and with data
	// in flight (detect.Net.Bounds); -1 where unknown (no options read) or
	// never (idle without keepalive).
	Bounds detect.Bounds
}

// DetectionS is the idle bound: seconds until an idle connection notices a
// silent peer; -1 when keepalive is off (never while idle) or unknown.
func (v Verdict) DetectionS() int { return v.Bounds.Idle }

// Judge combines what the dump says with the options read from the owner
// (nil when not read) against the namespace's sysctls sys (tcp_retries2
// included) and retransmission parameters net.
func Judge(s *Socket, opts *sockopt.Options, sys keepalive.Settings, net detect.Net) Verdict {
	v := Verdict{Bounds: detect.Bounds{Idle: -1, Data: -1}}
	if opts != nil {
		v.HasOptions = true
		v.Options = *opts
		v.Effective = opts.Settings
		v.Effective.Retries2 = sys.Retries2
		v.Bounds = net.Bounds(v.Effective, opts.On)
		if !opts.On {
			v.Keepalive = KeepaliveOff
			return v
		}
		v.Keepalive = KeepaliveOn
		v.Own = opts.Settings.Keepalive() != sys.Keepalive()
		return v
	}
	switch on, known := s.Keepalive(); {
	case !known:
		v.Keepalive = KeepaliveUnknown
	case on:
		v.Keepalive = KeepaliveOn
	default:
		v.Keepalive = KeepaliveOff
	}
	return v
}
