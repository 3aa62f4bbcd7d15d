package probe

import (
	"context"
	"errors"
	"fmt"
	"net"
	"strconv"
	"syscall"
	"time"

	"github.com/tcpka/tcpka/internal/detect"
	"github.com/tcpka/tcpka/internal/keepalive"
	"github.com/tcpka/tcpka/internal/netns"
	"github.com/tcpka/tcpka/internal/sockdiag"
	"github.com/tcpka/tcpka/internal/sockopt"
	"github.com/tcpka/tcpka/internal/sysctl"
	"github.com/vishvananda/netlink"
	"golang.org/x/sys/unix"
)

// errUnsupported is wrapped when the kernel lacks what an experiment
// needs (TUN for a delay line, nf_tables to drop one connection).
var errUnsupported = errors.New("not supported by this kernel")

// PairOptions says how to build a Pair.
type PairOptions struct {
	// Settings are written as the sysctls of both namespaces (fields left
	// 0 keep a new namespace's defaults; tcp_retries2 too).
	Settings keepalive.Settings
	// Delay is added to every packet A sends: the round trip of a longer
	// path, and so a larger RTO. A and B are then joined by a delay line
	// through two TUN devices instead of a veth pair (see delayLine).
	Delay time.Duration
	// PeerRcvBuf, when set, is the SO_RCVBUF of B's accepted sockets: a
	// small one fills fast, so a peer that does not read closes its
	// window (zero-window probing).
	PeerRcvBuf int
}

// Pair is two scratch network namespaces joined by a veth pair, A
// (192.0.2.1, the survivor) and B (192.0.2.2, the peer, listening), for
// experiments on live connections: connect, read A's sockets as tcpka
// does, change A's sysctls, make B vanish without a RST (all of it, or
// one connection), and time what A's kernel does. Close removes both
// namespaces, as Measure does.
type Pair struct {
	s      *scratch
	ha, hb *netlink.Handle
	lb     netlink.Link
	ln     net.Listener
	nft    bool // B has the tcpka table
}

// NewPair builds a Pair. On error nothing is left behind, and the Pair
// returned only names the namespaces it had.
func NewPair(ctx context.Context, o PairOptions) (p *Pair, err error) {
	p = &Pair{s: newScratch("a", "b")}
	defer func() {
		if err != nil {
			p.Close()
		}
	}()
	hs, err := p.s.open()
	if err != nil {
		return p, err
	}
	p.ha, p.hb = hs[0], hs[1]
	if o.Delay > 0 {
		d, err := newDelayLine(p.s, p.ha, p.hb, o.Delay)
		if err != nil {
			return p, err
		}
		p.s.closers = append(p.s.closers, d.close)
		if p.lb, err = p.hb.LinkByName("tcpka1"); err != nil {
			return p, err
		}
	} else if _, p.lb, err = link(p.ha, p.hb, p.s.handles[1].Handle(), "tcpka0", "tcpka1", addrA, addrB); err != nil {
		return p, err
	}
	for i, h := range p.s.handles {
		if err := netns.Do(h, func() error { return writeSysctls(Options{Settings: o.Settings}) }); err != nil {
			return p, fmt.Errorf("scratch netns %s: %w", p.s.names[i], err)
		}
	}
	err = netns.Do(p.s.handles[1], func() (err error) {
		lc := net.ListenConfig{KeepAlive: -1}
		if o.PeerRcvBuf > 0 {
			lc.Control = func(_, _ string, c syscall.RawConn) error {
				return control(c, func(fd int) error { return unix.SetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_RCVBUF, o.PeerRcvBuf) })
			}
		}
		p.ln, err = lc.Listen(ctx, "tcp4", net.JoinHostPort(addrB.IP.String(), "0"))
		return err
	})
	if err != nil {
		return p, fmt.Errorf("listen in scratch netns: %w", err)
	}
	p.s.closers = append(p.s.closers, func() { p.ln.Close() })
	return p, nil
}

// Close closes every connection and removes the namespaces; once.
func (p *Pair) Close() error { return p.s.cleanup() }

// Names are the namespaces' names, A's and B's.
func (p *Pair) Names() [2]string { return [2]string(p.s.names) }

func control(c syscall.RawConn, fn func(fd int) error) error {
	var ferr error
	if err := c.Control(func(fd uintptr) { ferr = fn(int(fd)) }); err != nil {
		return err
	}
	return ferr
}

// Dial connects A to B. before runs on A's socket before it connects (to
// set options); nil sets nothing. It returns A's end and B's.
func (p *Pair) Dial(ctx context.Context, before func(fd int) error) (a, b *net.TCPConn, err error) {
	err = netns.Do(p.s.handles[0], func() error {
		d := net.Dialer{KeepAlive: -1, Timeout: 5 * time.Second}
		if before != nil {
			d.Control = func(_, _ string, c syscall.RawConn) error { return control(c, before) }
		}
		c, err := d.DialContext(ctx, "tcp4", p.ln.Addr().String())
		if err != nil {
			return err
		}
		a = c.(*net.TCPConn)
		return nil
	})
	if err != nil {
		return nil, nil, fmt.Errorf("connect in scratch netns: %w", err)
	}
	p.s.closers = append(p.s.closers, func() { a.Close() })
	c, err := p.ln.Accept()
	if err != nil {
		return nil, nil, fmt.Errorf("accept in scratch netns: %w", err)
	}
	b = c.(*net.TCPConn)
	p.s.closers = append(p.s.closers, func() { b.Close() })
	return a, b, nil
}

// Control runs fn on c's descriptor (setsockopt, getsockopt).
func Control(c *net.TCPConn, fn func(fd int) error) error {
	raw, err := c.SyscallConn()
	if err != nil {
		return err
	}
	return control(raw, fn)
}

// InA runs fn in A's namespace, on an OS thread of its own.
func (p *Pair) InA(fn func() error) error { return netns.Do(p.s.handles[0], fn) }

// SetSysctls writes A's sysctls (the keys s sets).
func (p *Pair) SetSysctls(s keepalive.Settings) error {
	return p.InA(func() error {
		_, err := sysctl.Apply(sysctl.NewFS(sysctl.DefaultProcRoot), s, sysctl.SetKeys(s), false)
		return err
	})
}

// Silence makes all of B vanish without a RST: its address goes, and with
// forwarding off packets for it are dropped without an ICMP.
func (p *Pair) Silence() error {
	if err := p.hb.AddrDel(p.lb, &netlink.Addr{IPNet: addrB}); err != nil {
		return fmt.Errorf("silence the peer: %w", err)
	}
	return nil
}

// Drop makes B's end of one connection vanish without a RST: nftables in
// B drops every packet of the connection whose A end has port aPort, in
// and out, so B neither answers nor sends. Other connections live on.
//
//	table inet tcpka {
//		chain in { type filter hook prerouting priority raw; tcp sport aPort drop }
//		chain out { type filter hook output priority raw; tcp dport aPort drop }
//	}
func (p *Pair) Drop(aPort uint16) error {
	return netns.Do(p.s.handles[1], func() error {
		if err := nftCommit(dropBatch(aPort, !p.nft)); err != nil {
			return fmt.Errorf("nftables in the peer's namespace: %w (%w: needs nf_tables)", err, errUnsupported)
		}
		p.nft = true
		return nil
	})
}

// Live reads A's end of c as tcpka reads a socket (sock_diag with
// tcp_info, its options, A's sysctls and HZ) and returns the model's
// input for it and the moment the dump was asked for: the kernel filled
// it in at that moment or a little later, and its times count from then.
func (p *Pair) Live(c *net.TCPConn) (detect.Live, time.Time, error) {
	local := c.LocalAddr().(*net.TCPAddr).AddrPort()
	var opts sockopt.Options
	if err := Control(c, func(fd int) (err error) { opts, err = sockopt.Get(fd); return err }); err != nil {
		return detect.Live{}, time.Time{}, fmt.Errorf("socket options: %w", err)
	}
	var l detect.Live
	var at time.Time
	found := false
	err := p.InA(func() error {
		sys, err := sysctl.NewFS(sysctl.DefaultProcRoot).Read()
		if err != nil {
			return err
		}
		eff := opts.Settings
		eff.Retries2 = sys.Retries2
		hz, _ := detect.ReadHZ(sysctl.DefaultProcRoot)
		net := detect.Net{Retrans: detect.ReadRetrans(sysctl.DefaultProcRoot), HZ: hz}
		at = time.Now()
		return sockdiag.Netlink{}.Each(1<<sockdiag.Established|1<<sockdiag.FinWait1, func(s *sockdiag.Socket) error {
			if s.Local.Port() == local.Port() && s.Local.Addr().Unmap() == local.Addr().Unmap() {
				l, found = s.Live(eff, opts.On, net), true
			}
			return nil
		})
	})
	if err != nil {
		return l, at, fmt.Errorf("read A's sockets: %w", err)
	}
	if !found {
		return l, at, errors.New("read A's sockets: the connection is not in the dump")
	}
	return l, at, nil
}

// Until waits for c to fail and returns when it did (a blocked read
// returns the error the kernel set: ETIMEDOUT when it gave up on a silent
// peer), or ctx's error.
func Until(ctx context.Context, c *net.TCPConn) (time.Time, error) {
	done := make(chan error, 1)
	go func() {
		buf := make([]byte, 512)
		for {
			if _, err := c.Read(buf); err != nil {
				done <- err
				return
			}
		}
	}()
	select {
	case err := <-done:
		return time.Now(), err
	case <-ctx.Done():
		return time.Now(), ctx.Err()
	}
}

// Unsupported says whether err is the kernel lacking what an experiment
// needs (TUN, nf_tables): a test skips on it outside CI.
func Unsupported(err error) bool { return errors.Is(err, errUnsupported) }

// PathA names A's namespace for a tcpka command run in this process
// (--netns): its descriptor here, as the namespaces have no name.
func (p *Pair) PathA() string {
	return "/proc/self/fd/" + strconv.Itoa(int(p.s.handles[0].Handle()))
}
