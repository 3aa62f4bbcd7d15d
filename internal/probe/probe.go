package probe

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/tcpka/tcpka/internal/keepalive"
	"github.com/tcpka/tcpka/internal/netns"
	"github.com/tcpka/tcpka/internal/sysctl"
	"github.com/vishvananda/netlink"
	vns "github.com/vishvananda/netns"
	"golang.org/x/sys/unix"
)

// Options says what to measure.
type Options struct {
	// Settings are written as the sysctls of both scratch namespaces
	// (time, intvl, probes; tcp_retries2 when set, else the new
	// namespace's default 15), and TCP_USER_TIMEOUT (when set) on the
	// survivor's socket.
	Settings keepalive.Settings
	// WithData sends data after the peer is silenced, so retransmission,
	// not keepalive, decides.
	WithData bool
	// Timeout bounds the wait for the failure (0: no bound).
	Timeout time.Duration
	// Delay is added to every packet the survivor sends (a delay line,
	// see PairOptions): the round trip of a longer path, so a longer RTO.
	Delay time.Duration
}

// Result is one measurement.
type Result struct {
	// Measured runs from the moment keepalive was switched on over a
	// silent peer (or the data was sent) to the failing read.
	Measured time.Duration
	// Err is what the survivor's read returned; Errno its errno (ETIMEDOUT
	// for a dead peer), 0 if it was not one.
	Err   error
	Errno syscall.Errno
	// RTO is the survivor's retransmission timeout (TCP_INFO tcpi_rto)
	// just before the data went out; 0 without WithData.
	RTO time.Duration
	// TimedOut: nothing failed within Options.Timeout.
	TimedOut bool
	// Namespaces name the two scratch namespaces, by role and ID ("a
	// net:[4026532247]"); they were anonymous and are gone.
	Namespaces [2]string
}

// Addresses inside the scratch namespaces (TEST-NET-1, RFC 5737), /24.
// Written out (net.IPv4's 16-byte form) so that no init code builds them
// at every start.
var (
	addrA = &net.IPNet{IP: net.IP{0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff, 192, 0, 2, 1}, Mask: net.IPMask{255, 255, 255, 0}}
	addrB = &net.IPNet{IP: net.IP{0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff, 192, 0, 2, 2}, Mask: net.IPMask{255, 255, 255, 0}}
)

// netnsDir is where tcpka measure before 0.x named its scratch namespaces;
// removeStale still clears what a killed one left there.
const netnsDir = "/run/netns"

// scratch is a set of anonymous network namespaces, held by descriptors
// only, and what lives in them: a killed tcpka leaves none behind, and
// no other command sees them (show --all-netns lists named namespaces and
// those of processes).
type scratch struct {
	roles   []string // "a", "b"; "c", "r", "s"
	names   []string // role and namespace, for messages: "a net:[4026532247]"
	handles []*netns.NS
	closers []func()
	cleaned bool
}

// newScratch prepares one namespace per role.
func newScratch(roles ...string) *scratch {
	return &scratch{roles: roles, names: append([]string(nil), roles...), handles: make([]*netns.NS, len(roles))}
}

// Measure runs one measurement. The scratch namespaces are gone when it
// returns, whatever happened.
func Measure(ctx context.Context, o Options) (res Result, err error) {
	// B listens, A connects; neither sets any keepalive option.
	p, err := NewPair(ctx, PairOptions{Settings: o.Settings, Delay: o.Delay})
	res.Namespaces = p.Names()
	if err != nil {
		return res, err
	}
	defer func() {
		if cerr := p.Close(); cerr != nil && err == nil {
			err = cerr
		}
	}()
	conn, _, err := p.Dial(ctx, nil)
	if err != nil {
		return res, err
	}
	// Silence B: its address goes, nothing answers and nothing resets.
	if err := p.Silence(); err != nil {
		return res, err
	}
	setopt := func(level, opt, v int) error {
		return Control(conn, func(fd int) error { return unix.SetsockoptInt(fd, level, opt, v) })
	}
	if ut := o.Settings.UserTimeout; ut > 0 {
		if err := setopt(unix.IPPROTO_TCP, unix.TCP_USER_TIMEOUT, int(ut/time.Millisecond)); err != nil {
			return res, fmt.Errorf("set TCP_USER_TIMEOUT: %w", err)
		}
	}
	var start time.Time
	if o.WithData {
		if err := setopt(unix.SOL_SOCKET, unix.SO_KEEPALIVE, 1); err != nil {
			return res, fmt.Errorf("set SO_KEEPALIVE: %w", err)
		}
		var info *unix.TCPInfo
		var ierr error
		if err := Control(conn, func(fd int) error {
			info, ierr = unix.GetsockoptTCPInfo(fd, unix.IPPROTO_TCP, unix.TCP_INFO)
			return nil
		}); err == nil && ierr == nil {
			res.RTO = time.Duration(info.Rto) * time.Microsecond
		}
		start = time.Now()
		if _, err := conn.Write(make([]byte, 1000)); err != nil {
			return res, fmt.Errorf("send data: %w", err)
		}
	} else {
		start = time.Now()
		if err := setopt(unix.SOL_SOCKET, unix.SO_KEEPALIVE, 1); err != nil {
			return res, fmt.Errorf("set SO_KEEPALIVE: %w", err)
		}
	}

	wctx := ctx
	if o.Timeout > 0 {
		var cancel context.CancelFunc
		wctx, cancel = context.WithDeadline(ctx, start.Add(o.Timeout))
		defer cancel()
	}
	end, rerr := Until(wctx, conn)
	res.Measured = end.Sub(start)
	switch {
	case ctx.Err() != nil:
		return res, fmt.Errorf("interrupted after %.1f s: %w", res.Measured.Seconds(), ctx.Err())
	case wctx.Err() != nil:
		res.TimedOut = true
		return res, nil
	}
	res.Err = rerr
	errors.As(rerr, &res.Errno)
	return res, nil
}

// create makes the anonymous namespaces.
func (s *scratch) create() error {
	removeStale()
	for i, role := range s.roles {
		h, err := netns.New()
		if err != nil {
			return fmt.Errorf("create scratch netns %s: %w", role, err)
		}
		s.handles[i] = h
		s.names[i] = role + " " + h.ID()
	}
	return nil
}

// removeStale deletes the named namespaces an older tcpka measure that
// was killed (SIGKILL, power loss) left behind: names of its pattern,
// tcpka-measure-PID-N-ROLE, whose process is gone.
func removeStale() {
	entries, _ := os.ReadDir(netnsDir)
	for _, e := range entries {
		rest, ok := strings.CutPrefix(e.Name(), "tcpka-measure-")
		if !ok {
			continue
		}
		pidStr, _, _ := strings.Cut(rest, "-")
		pid, err := strconv.Atoi(pidStr)
		if err != nil || pid <= 0 || pid == os.Getpid() {
			continue
		}
		if err := unix.Kill(pid, 0); errors.Is(err, unix.ESRCH) {
			_ = netns.DeleteNamed(netnsDir, e.Name())
		}
	}
}

// open makes the namespaces and returns a netlink handle in each; cleanup
// closes both, whatever open got to.
func (s *scratch) open() ([]*netlink.Handle, error) {
	if err := s.create(); err != nil {
		return nil, err
	}
	return s.netlink()
}

// netlink opens a netlink handle in each scratch namespace; cleanup
// closes them.
func (s *scratch) netlink() ([]*netlink.Handle, error) {
	hs := make([]*netlink.Handle, len(s.handles))
	for i, n := range s.handles {
		h, err := netlink.NewHandleAt(n.Handle())
		if err != nil {
			return nil, fmt.Errorf("netlink in scratch netns %s: %w", s.names[i], err)
		}
		s.closers = append(s.closers, h.Close)
		hs[i] = h
	}
	return hs, nil
}

// link joins A (handle ha) and B (handle hb, namespace nsB) with a veth
// pair named nameA and nameB, gives the ends addrA and addrB and each end
// a permanent neighbour entry for the other (no ARP, so a silenced peer
// is not reported as unreachable and an idle path sends nothing).
func link(ha, hb *netlink.Handle, nsB vns.NsHandle, nameA, nameB string, addrA, addrB *net.IPNet) (la, lb netlink.Link, err error) {
	veth := &netlink.Veth{LinkAttrs: netlink.LinkAttrs{Name: nameA}, PeerName: nameB, PeerNamespace: netlink.NsFd(int(nsB))}
	if err := ha.LinkAdd(veth); err != nil {
		return nil, nil, fmt.Errorf("create veth pair: %w", err)
	}
	if la, err = ha.LinkByName(nameA); err != nil {
		return nil, nil, err
	}
	if lb, err = hb.LinkByName(nameB); err != nil {
		return nil, nil, err
	}
	for _, x := range []struct {
		h          *netlink.Handle
		l, other   netlink.Link
		addr, peer *net.IPNet
	}{{ha, la, lb, addrA, addrB}, {hb, lb, la, addrB, addrA}} {
		if err := x.h.AddrAdd(x.l, &netlink.Addr{IPNet: x.addr}); err != nil {
			return nil, nil, fmt.Errorf("address %s: %w", x.addr, err)
		}
		if err := x.h.LinkSetUp(x.l); err != nil {
			return nil, nil, fmt.Errorf("link up: %w", err)
		}
		n := &netlink.Neigh{LinkIndex: x.l.Attrs().Index, Family: netlink.FAMILY_V4, State: netlink.NUD_PERMANENT,
			IP: x.peer.IP, HardwareAddr: x.other.Attrs().HardwareAddr}
		if err := x.h.NeighAdd(n); err != nil {
			return nil, nil, fmt.Errorf("neighbour %s: %w", x.peer.IP, err)
		}
	}
	return la, lb, nil
}

// writeSysctls runs inside a scratch namespace (netns.Do checked that).
func writeSysctls(o Options) error {
	// Only the keys set: a 0 would be written as is (probes 0 drops an
	// idle connection at once).
	if _, err := sysctl.Apply(sysctl.NewFS(sysctl.DefaultProcRoot), o.Settings, sysctl.SetKeys(o.Settings), false); err != nil {
		return err
	}
	// Forwarding off: a packet for the silenced peer's dropped address is
	// discarded, not routed back as an ICMP error.
	if err := writeProc("net/ipv4/conf/all/forwarding", 0); err != nil {
		return err
	}
	if r := o.Settings.Retries2; r > 0 {
		return writeProc(keepalive.Retries2.RelPath(), r)
	}
	return nil
}

func writeProc(rel string, v int) error {
	return os.WriteFile(filepath.Join(sysctl.DefaultProcRoot, "sys", rel), []byte(strconv.Itoa(v)+"\n"), 0)
}

// cleanup closes everything; the kernel frees the namespaces, and the
// veth pairs and tables in them, once the last socket and handle are gone.
func (s *scratch) cleanup() error {
	if s.cleaned {
		return nil
	}
	s.cleaned = true
	for i := len(s.closers) - 1; i >= 0; i-- {
		s.closers[i]()
	}
	for _, h := range s.handles {
		if h != nil {
			h.Close()
		}
	}
	return nil
}
