package probe

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/tcpka/tcpka/internal/keepalive"
	"github.com/tcpka/tcpka/internal/netns"
	"github.com/tcpka/tcpka/internal/sysctl"
	"github.com/vishvananda/netlink/nl"
	"golang.org/x/sys/unix"
)

// NATOptions says what MeasureNAT measures.
type NATOptions struct {
	// Settings: time, intvl and probes, written as the client namespace's
	// sysctls (fields left 0 keep the namespace's defaults).
	Settings keepalive.Settings
	// Timeout: the router forgets a TCP flow silent this long (whole
	// seconds, conntrack's unit; at least MinNATTimeout).
	Timeout time.Duration
	// Idle: how long both connections stay idle before the client sends.
	Idle time.Duration
	// EchoWait bounds the wait for the echo (0: DefaultEchoWait).
	EchoWait time.Duration
}

// MinNATTimeout is the shortest flow timeout MeasureNAT sets up.
const MinNATTimeout = 2 * time.Second

// DefaultEchoWait is how long a connection waits for its echo after the
// idle period: on a living flow it takes well under a millisecond; on a
// forgotten one nothing ever comes back.
const DefaultEchoWait = 3 * time.Second

// NATResult is one NAT measurement.
type NATResult struct {
	// WithKeepalive sets SO_KEEPALIVE (and nothing else): the client
	// namespace's sysctls decide its probes. WithoutKeepalive never does.
	WithKeepalive, WithoutKeepalive Held
	// Namespaces name the client, router and server namespaces, by role
	// and ID ("c net:[4026532247]"); they were anonymous and are gone.
	Namespaces [3]string
}

// Held is what became of one connection held idle through the NAT.
type Held struct {
	// Survived: the server echoed the client's bytes within EchoWait.
	Survived bool
	// Idle is how long the connection really was idle: from its connect
	// to the client's send.
	Idle time.Duration
	// Echo is the round trip of the echo when it survived.
	Echo time.Duration
	// Err is why it did not survive, Errno its errno if it was one
	// (ETIMEDOUT on the send: keepalive had given up on the flow; a
	// deadline error: nothing came back).
	Err   error
	Errno syscall.Errno
}

// Addresses: the client's side of the router on TEST-NET-1, the server's
// on TEST-NET-2 (RFC 5737), /24 (written out as in probe.go). The server
// sees the router's outer address.
var (
	natClient    = &net.IPNet{IP: net.IP{0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff, 192, 0, 2, 1}, Mask: net.IPMask{255, 255, 255, 0}}
	natRouterIn  = &net.IPNet{IP: net.IP{0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff, 192, 0, 2, 254}, Mask: net.IPMask{255, 255, 255, 0}}
	natRouterOut = &net.IPNet{IP: net.IP{0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff, 198, 51, 100, 254}, Mask: net.IPMask{255, 255, 255, 0}}
	natServer    = &net.IPNet{IP: net.IP{0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff, 198, 51, 100, 1}, Mask: net.IPMask{255, 255, 255, 0}}
)

// The router's interface towards the server: masquerade goes out there.
const natOutside = "tcpka2"

// MeasureNAT holds two connections idle through a NAT that forgets silent
// flows and reports which survived. It builds three scratch namespaces,
// client, router and server (tcpka-measure-PID-N-c, -r, -s), joined by
// veth pairs. In the router only: nftables masquerades towards the server
// and drops packets conntrack finds invalid (a forgotten flow's, with loose
// pickup off), and the router's own conntrack forgets an established TCP
// flow after o.Timeout of silence. The client namespace gets o.Settings.
// The client opens one connection with SO_KEEPALIVE and one without, both
// stay idle for o.Idle, then each sends a few bytes that the server echoes.
// Everything it created is removed before it returns, also on error and
// when ctx is cancelled; nothing outside the scratch namespaces is written.
func MeasureNAT(ctx context.Context, o NATOptions) (res NATResult, err error) {
	if o.Timeout < MinNATTimeout || o.Timeout%time.Second != 0 {
		return res, fmt.Errorf("NAT timeout %s: want whole seconds, at least %s", o.Timeout, MinNATTimeout)
	}
	if o.Idle <= 0 {
		return res, fmt.Errorf("idle %s: want a positive duration", o.Idle)
	}
	if o.EchoWait <= 0 {
		o.EchoWait = DefaultEchoWait
	}
	s := newScratch("c", "r", "s")
	defer func() {
		if cerr := s.cleanup(); cerr != nil && err == nil {
			err = cerr
		}
	}()
	hs, err := s.open()
	res.Namespaces = [3]string(s.names)
	if err != nil {
		return res, err
	}
	client, router, server := s.handles[0], s.handles[1], s.handles[2]
	lc, _, err := link(hs[0], hs[1], router.Handle(), "tcpka0", "tcpka1", natClient, natRouterIn)
	if err != nil {
		return res, err
	}
	if _, _, err := link(hs[1], hs[2], server.Handle(), natOutside, "tcpka3", natRouterOut, natServer); err != nil {
		return res, err
	}
	if err := netns.Do(client, func() error { return defaultRoute(lc.Attrs().Index, natRouterIn.IP) }); err != nil {
		return res, fmt.Errorf("client: default route: %w", err)
	}
	if err := netns.Do(router, func() error { return setupRouter(o.Timeout) }); err != nil {
		return res, fmt.Errorf("router netns %s: %w", s.names[1], err)
	}
	if err := netns.Do(client, func() error {
		_, err := sysctl.Apply(sysctl.NewFS(sysctl.DefaultProcRoot), o.Settings, sysctl.SetKeys(o.Settings), false)
		return err
	}); err != nil {
		return res, fmt.Errorf("client netns %s: %w", s.names[0], err)
	}

	// The server echoes; nothing there sets a keepalive option, so only
	// the client's probes can keep a flow alive.
	var ln net.Listener
	if err := netns.Do(server, func() (err error) {
		lc := net.ListenConfig{KeepAlive: -1}
		ln, err = lc.Listen(ctx, "tcp4", net.JoinHostPort(natServer.IP.String(), "0"))
		return err
	}); err != nil {
		return res, fmt.Errorf("listen in scratch netns: %w", err)
	}
	s.closers = append(s.closers, func() { ln.Close() })

	// The keepalive connection sets SO_KEEPALIVE before connecting, so its
	// timer starts with the handshake, as the flow's does.
	var conns [2]net.Conn
	var started [2]time.Time
	if err := netns.Do(client, func() error {
		for i, keep := range []bool{true, false} {
			d := net.Dialer{KeepAlive: -1, Timeout: 5 * time.Second}
			if keep {
				d.Control = func(_, _ string, c syscall.RawConn) error {
					var serr error
					if err := c.Control(func(fd uintptr) { serr = unix.SetsockoptInt(int(fd), unix.SOL_SOCKET, unix.SO_KEEPALIVE, 1) }); err != nil {
						return err
					}
					return serr
				}
			}
			c, err := d.DialContext(ctx, "tcp4", ln.Addr().String())
			if err != nil {
				return err
			}
			started[i] = time.Now()
			conns[i] = c
			s.closers = append(s.closers, func() { c.Close() })
		}
		return nil
	}); err != nil {
		return res, fmt.Errorf("connect through the NAT: %w", err)
	}
	for range conns {
		peer, err := ln.Accept()
		if err != nil {
			return res, fmt.Errorf("accept in scratch netns: %w", err)
		}
		s.closers = append(s.closers, func() { peer.Close() })
		go io.Copy(peer, peer) // ends when the peer is closed
	}

	idle := time.NewTimer(time.Until(started[1].Add(o.Idle)))
	defer idle.Stop()
	select {
	case <-idle.C:
	case <-ctx.Done():
		return res, fmt.Errorf("interrupted after %.1f s idle: %w", time.Since(started[1]).Seconds(), ctx.Err())
	}

	var held [2]Held
	var wg sync.WaitGroup
	for i, c := range conns {
		wg.Add(1)
		go func() {
			defer wg.Done()
			held[i] = echo(c, started[i], o.EchoWait)
		}()
	}
	done := make(chan struct{})
	go func() { wg.Wait(); close(done) }()
	select {
	case <-done:
	case <-ctx.Done():
		for _, c := range conns {
			c.SetDeadline(time.Now()) // the echoes return at once
		}
		<-done
		return res, fmt.Errorf("interrupted waiting for the echo: %w", ctx.Err())
	}
	res.WithKeepalive, res.WithoutKeepalive = held[0], held[1]
	return res, nil
}

// echo sends a few bytes on c and waits up to wait for the server to send
// them back.
func echo(c net.Conn, started time.Time, wait time.Duration) (h Held) {
	msg := []byte("tcpka nat\n")
	start := time.Now()
	h.Idle = start.Sub(started)
	c.SetDeadline(start.Add(wait))
	got := make([]byte, len(msg))
	_, err := c.Write(msg)
	if err == nil {
		_, err = io.ReadFull(c, got)
	}
	if err == nil && !bytes.Equal(got, msg) {
		err = fmt.Errorf("echo came back as %q", got)
	}
	if err != nil {
		h.Err = err
		errors.As(err, &h.Errno)
		return h
	}
	h.Survived, h.Echo = true, time.Since(start)
	return h
}

// setupRouter runs inside the router namespace (netns.Do checked that):
// the nftables rules first, since they are what makes the kernel track
// connections there, then conntrack's settings and forwarding.
func setupRouter(timeout time.Duration) error {
	if err := natRules(); err != nil {
		return fmt.Errorf("nftables: %w (needs nf_tables with masquerade and conntrack)", err)
	}
	for _, w := range []struct {
		rel string
		v   int
	}{
		// Forget an established TCP flow silent this long...
		{"net/netfilter/nf_conntrack_tcp_timeout_established", int(timeout / time.Second)},
		// ...and never pick it up again from a mid-stream packet.
		{"net/netfilter/nf_conntrack_tcp_loose", 0},
		{"net/ipv4/ip_forward", 1},
	} {
		if err := writeProc(w.rel, w.v); err != nil {
			return err
		}
		b, err := os.ReadFile(filepath.Join(sysctl.DefaultProcRoot, "sys", w.rel))
		if err != nil {
			return err
		}
		if got := strings.TrimSpace(string(b)); got != strconv.Itoa(w.v) {
			return fmt.Errorf("%s: wrote %d, reads %s", w.rel, w.v, got)
		}
	}
	return nil
}

// defaultRoute adds a default route via gw (IPv4) out of the link with
// index link, in the calling thread's network namespace: the request
// netlink's Handle.RouteAdd sends for Route{LinkIndex: link, Gw: gw}
// (ip route add default via GW dev LINK). RouteAdd's general route
// encoder took about 20 KB of the binary for this one route.
func defaultRoute(link int, gw net.IP) error {
	req := nl.NewNetlinkRequest(unix.RTM_NEWROUTE, unix.NLM_F_CREATE|unix.NLM_F_EXCL|unix.NLM_F_ACK)
	msg := nl.NewRtMsg() // main table, universe scope, boot protocol, unicast
	msg.Family = unix.AF_INET
	req.AddData(msg)
	req.AddData(nl.NewRtAttr(unix.RTA_GATEWAY, gw.To4()))
	req.AddData(nl.NewRtAttr(unix.RTA_OIF, nl.Uint32Attr(uint32(link))))
	_, err := req.Execute(unix.NETLINK_ROUTE, 0)
	return err
}
