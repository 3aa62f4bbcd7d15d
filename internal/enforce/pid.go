package enforce

import (
	"errors"
	"fmt"
	"net/netip"
	"os"
	"path/filepath"
	"slices"
	"strconv"

	"github.com/tcpka/tcpka/internal/detect"
	"github.com/tcpka/tcpka/internal/keepalive"
	"github.com/tcpka/tcpka/internal/netns"
	"github.com/tcpka/tcpka/internal/netscope"
	"github.com/tcpka/tcpka/internal/procname"
	"github.com/tcpka/tcpka/internal/sockopt"
	"github.com/tcpka/tcpka/internal/sysctl"
	"golang.org/x/sys/unix"
)

// ErrProcessGone is wrapped when the process does not exist or exits while
// its sockets are being changed.
var ErrProcessGone = sockopt.ErrProcessGone

// Status of one socket before enforce touched it.
const (
	KeepaliveOff   = "keepalive_off"   // SO_KEEPALIVE off: never probes
	FollowsProfile = "follows_profile" // already has the profile's values
	FollowsSysctls = "follows_sysctls" // keepalive on, values = its netns's sysctls
	OwnValues      = "own_values"      // keepalive on with values of its own
)

// PIDOptions select and control what EnforcePID changes.
type PIDOptions struct {
	Port     int  // only sockets with this local or peer port (0: all)
	DryRun   bool // change nothing, say what would change
	Override bool // change sockets that have keepalive on with other values too
	ProcRoot string
}

// Socket is one connected TCP socket of the process.
type Socket struct {
	FD      int
	Local   netip.AddrPort
	Peer    netip.AddrPort
	Status  string
	Before  sockopt.Options
	After   sockopt.Options    // what it has now (Before when untouched)
	Sysctls keepalive.Settings // the sysctls of the socket's netns, tcp_retries2 included
	Net     detect.Net         // the socket's netns's retransmission parameters
	Changed bool               // changed (or, with DryRun, would be)
}

// Bounds is how long a silent peer holds the socket with options o (its
// Before or After), per state, from the one model: o's settings with the
// socket's namespace's tcp_retries2.
func (s Socket) Bounds(o sockopt.Options) detect.Bounds {
	eff := o.Settings
	eff.Retries2 = s.Sysctls.Retries2
	return s.Net.Bounds(eff, o.On)
}

// PIDResult is what EnforcePID found and did.
type PIDResult struct {
	PID          int
	Comm         string
	Sockets      []Socket // connected TCP sockets (of Port, when given)
	Listening    int      // listening TCP sockets, left alone
	NotConnected int      // TCP sockets not connected (connecting, closed)
	Changed      int
}

// EnforcePID gives the connected TCP sockets of process pid the values s
// sets (keepalive and TCP_USER_TIMEOUT): sockets with keepalive off
// always, sockets with keepalive on but other values only with Override.
// It works on duplicates taken with pidfd_getfd, so the process keeps
// running and notices nothing, whatever network namespace it is in.
func EnforcePID(pid int, s keepalive.Settings, opt PIDOptions) (*PIDResult, error) {
	if _, err := Instructions(s); err != nil { // same validation as the BPF mode
		return nil, err
	}
	if opt.ProcRoot == "" {
		opt.ProcRoot = "/proc"
	}
	res := &PIDResult{PID: pid}
	pidfd, err := sockopt.PidfdOpen(pid)
	if err != nil {
		return nil, explainPID(pid, err)
	}
	defer unix.Close(pidfd)
	res.Comm, _ = procname.Read(opt.ProcRoot, pid)
	fdDir := filepath.Join(opt.ProcRoot, strconv.Itoa(pid), "fd")
	entries, err := os.ReadDir(fdDir)
	if err != nil {
		if errors.Is(err, os.ErrNotExist) {
			return nil, fmt.Errorf("pid %d: %w: it exited", pid, ErrProcessGone)
		}
		return nil, fmt.Errorf("pid %d: %w", pid, err)
	}
	want := sockopt.Options{On: true, Settings: s}
	want.Settings.Retries2 = 0 // a namespace's, not a socket option
	// ReadDir sorts names as strings (10, 11, 4): go through the
	// descriptors in numeric order, the order a user reads them in.
	var fds []int
	for _, e := range entries {
		if fd, err := strconv.Atoi(e.Name()); err == nil {
			fds = append(fds, fd)
		}
	}
	slices.Sort(fds)
	ns := nsCache{}
	for _, fd := range fds {
		// No readlink: a duplicate of a non-socket fails the first
		// getsockopt in inspect and is closed at once.
		dup, err := sockopt.PidfdGetfd(pidfd, fd)
		if err != nil {
			if errors.Is(err, sockopt.ErrNoSuchFD) {
				continue
			}
			return res, explainPIDMidway(res, err)
		}
		sock, kind, err := inspect(dup, fd, ns)
		if err != nil {
			unix.Close(dup)
			return res, fmt.Errorf("pid %d fd %d: %w", pid, fd, err)
		}
		switch kind {
		case kindListening:
			res.Listening++
		case kindUnconnected:
			res.NotConnected++
		}
		if kind != kindConnected || opt.Port != 0 && int(sock.Local.Port()) != opt.Port && int(sock.Peer.Port()) != opt.Port {
			unix.Close(dup)
			continue
		}
		sock.Status = classify(sock.Before, want, sock.Sysctls)
		sock.After = sock.Before
		change := sock.Status == KeepaliveOff || opt.Override && sock.Status != FollowsProfile
		if change {
			sock.Changed = true
			res.Changed++
			if opt.DryRun {
				sock.After = merge(sock.Before, want)
			} else {
				if err := sockopt.Set(dup, want); err != nil {
					unix.Close(dup)
					res.Changed--
					return res, explainPIDMidway(res, fmt.Errorf("fd %d: %w", fd, err))
				}
				sock.After = merge(sock.Before, want) // setsockopt succeeded: no read-back

			}
		}
		unix.Close(dup)
		res.Sockets = append(res.Sockets, sock)
	}
	// The process may have exited while we worked: say so rather than
	// report changes to sockets that are gone.
	if err := unix.PidfdSendSignal(pidfd, 0, nil, 0); errors.Is(err, unix.ESRCH) {
		return res, explainPIDMidway(res, fmt.Errorf("%w", ErrProcessGone))
	}
	return res, nil
}

func explainPID(pid int, err error) error {
	switch {
	case errors.Is(err, sockopt.ErrProcessGone):
		return fmt.Errorf("pid %d: %w: no such process", pid, ErrProcessGone)
	case errors.Is(err, sockopt.ErrNotPermitted):
		return fmt.Errorf("pid %d: %w: needs root (CAP_SYS_PTRACE over the process, pidfd_getfd)", pid, err)
	case errors.Is(err, unix.ENOSYS):
		return fmt.Errorf("pid %d: %w: pidfd_open/pidfd_getfd need Linux 5.6+", pid, err)
	}
	return fmt.Errorf("pid %d: %w", pid, err)
}

func explainPIDMidway(res *PIDResult, err error) error {
	if errors.Is(err, sockopt.ErrProcessGone) {
		return fmt.Errorf("pid %d exited mid-way: %w (%d %s changed before it did)", res.PID, ErrProcessGone, res.Changed, plural(res.Changed, "socket"))
	}
	return fmt.Errorf("pid %d: %w (%d %s changed before the error)", res.PID, err, res.Changed, plural(res.Changed, "socket"))
}

func plural(n int, w string) string {
	if n == 1 {
		return w
	}
	return w + "s"
}

// merge is before with the options want sets.
func merge(before, want sockopt.Options) sockopt.Options {
	return sockopt.Options{On: true, Settings: want.Settings.Over(before.Settings)}
}

// classify says how a socket's options relate to the profile and to the
// sysctls of its netns. Options a socket never set read back as the
// sysctls, so "keepalive on with the sysctls' values" is taken as following
// them.
func classify(o, want sockopt.Options, sys keepalive.Settings) string {
	if !o.On {
		return KeepaliveOff
	}
	if merge(o, want) == o {
		return FollowsProfile
	}
	if o.Settings.Keepalive() == sys.Keepalive() {
		return FollowsSysctls
	}
	return OwnValues
}

type sockKind int

const (
	kindOther sockKind = iota
	kindListening
	kindUnconnected
	kindConnected
)

// inspect reads what EnforcePID needs of socket fd (a duplicate), with as
// few system calls as it can: this runs once per descriptor.
func inspect(fd, ownerFD int, ns nsCache) (Socket, sockKind, error) {
	s := Socket{FD: ownerFD}
	// IPPROTO_TCP (6) is only ever the protocol of an AF_INET/AF_INET6
	// stream socket. Go listens with MPTCP by default (IPPROTO_MPTCP); it
	// takes the same keepalive options, and accepted connections from plain
	// TCP clients are plain TCP sockets. Non-sockets fail here (ENOTSOCK).
	proto, err := unix.GetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_PROTOCOL)
	if err != nil || proto != unix.IPPROTO_TCP && proto != unix.IPPROTO_MPTCP {
		return s, kindOther, nil
	}
	peer, err := unix.Getpeername(fd)
	if err != nil {
		if acc, _ := unix.GetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_ACCEPTCONN); acc == 1 {
			return s, kindListening, nil
		}
		return s, kindUnconnected, nil
	}
	local, _ := unix.Getsockname(fd)
	s.Local, s.Peer = addrPort(local), addrPort(peer)
	if s.Before, err = sockopt.Get(fd); err != nil {
		return s, kindOther, err
	}
	// The netns's sysctls tell "follows the sysctls" from "own values",
	// and its tcp_retries2 bounds the socket with data in flight.
	if s.Sysctls, s.Net, err = ns.sysctls(fd); err != nil {
		return s, kindOther, err
	}
	return s, kindConnected, nil
}

func addrPort(sa unix.Sockaddr) netip.AddrPort {
	switch a := sa.(type) {
	case *unix.SockaddrInet4:
		return netip.AddrPortFrom(netip.AddrFrom4(a.Addr), uint16(a.Port))
	case *unix.SockaddrInet6:
		return netip.AddrPortFrom(netip.AddrFrom16(a.Addr).Unmap(), uint16(a.Port))
	}
	return netip.AddrPort{}
}

// nsCache reads the sysctls of a socket's network namespace (SIOCGSKNS),
// once per namespace.
type nsCache map[uint64]nsValues

type nsValues struct {
	sys keepalive.Settings
	net detect.Net
}

func (c nsCache) sysctls(sockfd int) (keepalive.Settings, detect.Net, error) {
	nsfd, err := unix.IoctlRetInt(sockfd, unix.SIOCGSKNS)
	if err != nil {
		return keepalive.Settings{}, detect.Net{}, fmt.Errorf("the socket's network namespace (SIOCGSKNS): %w", err)
	}
	defer unix.Close(nsfd)
	var st unix.Stat_t
	if err := unix.Fstat(nsfd, &st); err != nil {
		return keepalive.Settings{}, detect.Net{}, err
	}
	if v, ok := c[st.Ino]; ok {
		return v.sys, v.net, nil
	}
	target, err := netns.FromFD(nsfd, netns.FormatID(st.Ino))
	if err != nil {
		return keepalive.Settings{}, detect.Net{}, err
	}
	defer target.Close()
	k := netscope.Bind(sysctl.DefaultProcRoot, target)
	var v nsValues
	if v.sys, err = k.Read(); err != nil {
		return v.sys, v.net, fmt.Errorf("the socket's network namespace %s: %w", target.ID(), err)
	}
	v.net = k.ReadNet()
	c[st.Ino] = v
	return v.sys, v.net, nil
}
