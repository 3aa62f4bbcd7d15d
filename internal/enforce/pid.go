package enforce

import (
	"errors"
	"fmt"
	"net/netip"
	"os"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"

	"github.com/tcpka/tcpka/internal/detect"
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
	After   sockopt.Options // what it has now (Before when untouched)
	Sysctls sysctl.Values   // the keepalive sysctls of the socket's netns
	Changed bool            // changed (or, with DryRun, would be)
}

// Detection is the socket's dead-peer detection time in seconds, -1 when
// keepalive is off (never).
func Detection(o sockopt.Options) int {
	if !o.Keepalive {
		return -1
	}
	return detect.Keepalive{Time: o.Idle, Intvl: o.Intvl, Probes: o.Count}.IdleSeconds()
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

// EnforcePID gives the connected TCP sockets of process pid the values of
// s: sockets with keepalive off always, sockets with keepalive on but
// other values only with Override. It works on duplicates taken with
// pidfd_getfd, so the process keeps running and notices nothing, whatever
// network namespace it is in.
func EnforcePID(pid int, s sysctl.Settings, opt PIDOptions) (*PIDResult, error) {
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
	comm, _ := os.ReadFile(filepath.Join(opt.ProcRoot, strconv.Itoa(pid), "comm"))
	res.Comm = strings.TrimSpace(string(comm))
	fdDir := filepath.Join(opt.ProcRoot, strconv.Itoa(pid), "fd")
	entries, err := os.ReadDir(fdDir)
	if err != nil {
		if errors.Is(err, os.ErrNotExist) {
			return nil, fmt.Errorf("pid %d: %w: it exited", pid, ErrProcessGone)
		}
		return nil, fmt.Errorf("pid %d: %w", pid, err)
	}
	want := sockopt.Options{Keepalive: true}
	want.Idle, _ = s.Lookup(sysctl.Time)
	want.Intvl, _ = s.Lookup(sysctl.Intvl)
	want.Count, _ = s.Lookup(sysctl.Probes)
	ns := nsCache{}
	for _, e := range entries {
		fd, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
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
	out := before
	out.Keepalive = true
	if want.Idle != 0 {
		out.Idle = want.Idle
	}
	if want.Intvl != 0 {
		out.Intvl = want.Intvl
	}
	if want.Count != 0 {
		out.Count = want.Count
	}
	return out
}

// classify says how a socket's options relate to the profile and to the
// sysctls of its netns. Options a socket never set read back as the
// sysctls, so "keepalive on with the sysctls' values" is taken as following
// them.
func classify(o, want sockopt.Options, sys sysctl.Values) string {
	if !o.Keepalive {
		return KeepaliveOff
	}
	if merge(o, want) == o {
		return FollowsProfile
	}
	if o.Idle == sys.Time && o.Intvl == sys.Intvl && o.Count == sys.Probes {
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
	// The netns's sysctls matter only to tell "follows the sysctls" from
	// "own values", i.e. for sockets with keepalive on.
	if s.Before.Keepalive {
		if s.Sysctls, err = ns.sysctls(fd); err != nil {
			return s, kindOther, err
		}
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

// nsCache reads the keepalive sysctls of a socket's network namespace
// (SIOCGSKNS), once per namespace.
type nsCache map[uint64]sysctl.Values

func (c nsCache) sysctls(sockfd int) (sysctl.Values, error) {
	nsfd, err := unix.IoctlRetInt(sockfd, unix.SIOCGSKNS)
	if err != nil {
		return sysctl.Values{}, fmt.Errorf("the socket's network namespace (SIOCGSKNS): %w", err)
	}
	defer unix.Close(nsfd)
	var st unix.Stat_t
	if err := unix.Fstat(nsfd, &st); err != nil {
		return sysctl.Values{}, err
	}
	if v, ok := c[st.Ino]; ok {
		return v, nil
	}
	var self unix.Stat_t
	var v sysctl.Values
	if unix.Stat("/proc/thread-self/ns/net", &self) == nil && self.Ino == st.Ino {
		v, err = sysctl.NewFS(sysctl.DefaultProcRoot).Read()
	} else {
		v, err = readSysctlsIn(nsfd)
	}
	if err != nil {
		return v, err
	}
	c[st.Ino] = v
	return v, nil
}

// readSysctlsIn reads the keepalive sysctls inside the network namespace
// nsfd, on a locked OS thread that moves there and back (/proc/sys/net
// shows the namespace of the thread that opens it).
func readSysctlsIn(nsfd int) (sysctl.Values, error) {
	type result struct {
		v   sysctl.Values
		err error
	}
	ch := make(chan result, 1)
	go func() {
		runtime.LockOSThread()
		self, err := unix.Open("/proc/thread-self/ns/net", unix.O_RDONLY|unix.O_CLOEXEC, 0)
		if err != nil {
			runtime.UnlockOSThread()
			ch <- result{err: err}
			return
		}
		defer unix.Close(self)
		if err := unix.Setns(nsfd, unix.CLONE_NEWNET); err != nil {
			runtime.UnlockOSThread()
			ch <- result{err: fmt.Errorf("enter the socket's network namespace: %w", err)}
			return
		}
		v, err := sysctl.NewFS(sysctl.DefaultProcRoot).Read()
		if unix.Setns(self, unix.CLONE_NEWNET) == nil {
			runtime.UnlockOSThread()
		} // else the thread stays locked and exits with this goroutine
		ch <- result{v, err}
	}()
	r := <-ch
	return r.v, r.err
}
