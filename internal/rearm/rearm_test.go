package rearm

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/tcpka/tcpka/internal/netns"
	"github.com/tcpka/tcpka/internal/nstest"
	"github.com/tcpka/tcpka/internal/sockdiag"
	"github.com/tcpka/tcpka/internal/testkit"
	"golang.org/x/sys/unix"
)

// TestNamespaceBPF re-arms through the BPF iterator.
func TestNamespaceBPF(t *testing.T) {
	testkit.Slow(t, "scratch namespaces and a dead peer to wait for")
	if !nstest.Private(t, "ip") {
		return
	}
	if _, err := kernelLayout(); err != nil {
		t.Skipf("this kernel cannot run the BPF method: %v", err)
	}
	testNamespace(t, BPF)
}

// TestNamespaceFallback makes BPF unsupported and re-arms with Auto: the
// pidfd fallback must run, say why, and do the same.
func TestNamespaceFallback(t *testing.T) {
	testkit.Slow(t, "scratch namespaces and a dead peer to wait for")
	if !nstest.Private(t, "ip") {
		return
	}
	loadIterFunc = func(bool) (*bpfIter, error) {
		return nil, fmt.Errorf("%w: refused by the test", ErrUnsupported)
	}
	t.Cleanup(func() { loadIterFunc = loadIter })
	testNamespace(t, Auto)
}

const serverPort = 7000

// scratch is three namespaces: a server (srv) and two clients, a and b,
// each joined to srv by a veth pair with permanent neighbour entries (a
// silenced server is then dropped without ARP failures or resets). All
// live under the private /run/netns of nstest.Private.
type scratch struct {
	a, b   *netns.NS
	mu     sync.Mutex
	served []net.Conn
}

func newScratch(t *testing.T) *scratch {
	t.Helper()
	run := func(args ...string) { t.Helper(); nstest.Run(t, "ip", args...) }
	for _, n := range []string{"srv", "a", "b"} {
		run("netns", "add", n)
		t.Cleanup(func() { nstest.Run(t, "ip", "netns", "del", n) })
		run("-n", n, "link", "set", "lo", "up")
	}
	for i, c := range []string{"a", "b"} {
		mac := func(end int) string { return fmt.Sprintf("02:00:00:00:0%d:0%d", i+1, end) }
		cli, srv := fmt.Sprintf("10.9.%d.1", i+1), fmt.Sprintf("10.9.%d.2", i+1)
		cdev, sdev := c+"0", fmt.Sprintf("s%d", i)
		run("link", "add", cdev, "address", mac(1), "netns", c, "type", "veth", "peer", "name", sdev, "address", mac(2), "netns", "srv")
		run("-n", c, "addr", "add", cli+"/24", "dev", cdev)
		run("-n", c, "link", "set", cdev, "up")
		run("-n", c, "neigh", "add", srv, "lladdr", mac(2), "dev", cdev, "nud", "permanent")
		run("-n", "srv", "addr", "add", srv+"/24", "dev", sdev)
		run("-n", "srv", "link", "set", sdev, "up")
		run("-n", "srv", "neigh", "add", cli, "lladdr", mac(1), "dev", sdev, "nud", "permanent")
	}
	s := &scratch{}
	var err error
	if s.a, err = netns.Open("/run/netns/a"); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.a.Close() })
	if s.b, err = netns.Open("/run/netns/b"); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.b.Close() })
	srv, err := netns.Open("/run/netns/srv")
	if err != nil {
		t.Fatal(err)
	}
	defer srv.Close()
	var ln net.Listener
	if err := netns.Do(srv, func() (err error) {
		lc := net.ListenConfig{KeepAlive: -1} // the server probes nothing
		ln, err = lc.Listen(context.Background(), "tcp4", fmt.Sprintf("0.0.0.0:%d", serverPort))
		return err
	}); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			s.mu.Lock()
			s.served = append(s.served, c)
			s.mu.Unlock()
		}
	}()
	t.Cleanup(func() {
		s.mu.Lock()
		defer s.mu.Unlock()
		for _, c := range s.served {
			c.Close()
		}
	})
	return s
}

// dial connects from ns to the server of client network n (1: a, 2: b)
// and applies opts (level, option, value triples) to the socket.
func dial(t *testing.T, ns *netns.NS, n int, opts ...[3]int) *net.TCPConn {
	t.Helper()
	var c net.Conn
	if err := netns.Do(ns, func() (err error) {
		d := net.Dialer{KeepAlive: -1, Timeout: 5 * time.Second}
		c, err = d.Dial("tcp4", fmt.Sprintf("10.9.%d.2:%d", n, serverPort))
		return err
	}); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	rc, err := c.(*net.TCPConn).SyscallConn()
	if err != nil {
		t.Fatal(err)
	}
	var serr error
	if err := rc.Control(func(fd uintptr) {
		for _, o := range opts {
			if serr == nil {
				serr = unix.SetsockoptInt(int(fd), o[0], o[1], o[2])
			}
		}
	}); err != nil || serr != nil {
		t.Fatal(err, serr)
	}
	return c.(*net.TCPConn)
}

// loopback6 connects over ::1 inside ns: the client with keepalive on
// (a follower), the accepted end without (the listener sets none).
func loopback6(t *testing.T, ns *netns.NS) (client, served *net.TCPConn) {
	t.Helper()
	var ln net.Listener
	if err := netns.Do(ns, func() (err error) {
		lc := net.ListenConfig{KeepAlive: -1}
		ln, err = lc.Listen(context.Background(), "tcp6", "[::1]:0")
		return err
	}); err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	var c net.Conn
	if err := netns.Do(ns, func() (err error) {
		d := net.Dialer{KeepAlive: -1}
		c, err = d.Dial("tcp6", ln.Addr().String())
		return err
	}); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	a, err := ln.Accept()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { a.Close() })
	rc, _ := c.(*net.TCPConn).SyscallConn()
	if err := rc.Control(func(fd uintptr) { _ = unix.SetsockoptInt(int(fd), unix.SOL_SOCKET, unix.SO_KEEPALIVE, 1) }); err != nil {
		t.Fatal(err)
	}
	return c.(*net.TCPConn), a.(*net.TCPConn)
}

// unaccepted connects inside ns to a listener with SO_KEEPALIVE on that
// never accepts: the connection waits in the accept queue, a full socket
// that inherited keepalive and a timer, but that no process holds (no
// file, no inode, nothing in /proc/PID/fd). It returns the client (no
// keepalive) and the queued socket's local address.
func unaccepted(t *testing.T, ns *netns.NS) (*net.TCPConn, netip.AddrPort) {
	t.Helper()
	var ln net.Listener
	if err := netns.Do(ns, func() (err error) {
		lc := net.ListenConfig{KeepAlive: -1, Control: func(_, _ string, c syscall.RawConn) error {
			var serr error
			if err := c.Control(func(fd uintptr) { serr = unix.SetsockoptInt(int(fd), unix.SOL_SOCKET, unix.SO_KEEPALIVE, 1) }); err != nil {
				return err
			}
			return serr
		}}
		ln, err = lc.Listen(context.Background(), "tcp4", "127.0.0.1:0")
		return err
	}); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	var c net.Conn
	if err := netns.Do(ns, func() (err error) {
		d := net.Dialer{KeepAlive: -1}
		c, err = d.Dial("tcp4", ln.Addr().String())
		return err
	}); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c.(*net.TCPConn), ln.Addr().(*net.TCPAddr).AddrPort()
}

// orphanFinWait2 makes, in ns, a connection with keepalive that its
// process closes while the server keeps its end open: the client end is
// an orphan in FIN-WAIT-2. With tcp_fin_timeout above 60 s it stays a full
// socket whose sk_timer runs the rest of the fin timeout; toggling
// SO_KEEPALIVE there would cut it short. It returns the orphan's local
// address once sock_diag shows it in FIN-WAIT-2.
func orphanFinWait2(t *testing.T, ns *netns.NS) netip.AddrPort {
	t.Helper()
	nstest.Run(t, "ip", "netns", "exec", "a", "sh", "-c", "echo 120 > /proc/sys/net/ipv4/tcp_fin_timeout")
	c := dial(t, ns, 1, keepaliveOn)
	addr := local(c)
	c.Close()
	if !testkit.Eventually(3*time.Second, func() bool {
		tm, ok := timers(t, ns)[addr]
		return ok && tm.State == sockdiag.FinWait2
	}) {
		t.Fatalf("%s did not reach FIN-WAIT-2", addr)
	}
	return addr
}

var (
	keepaliveOn = [3]int{unix.SOL_SOCKET, unix.SO_KEEPALIVE, 1}
	ownIdle     = [3]int{unix.IPPROTO_TCP, unix.TCP_KEEPIDLE, 60}
	ownIntvl    = [3]int{unix.IPPROTO_TCP, unix.TCP_KEEPINTVL, 5}
	ownCnt      = [3]int{unix.IPPROTO_TCP, unix.TCP_KEEPCNT, 3}
)

// timers is what sock_diag (ss -tno) shows in ns for its connections
// (listeners aside), by local address.
func timers(t *testing.T, ns *netns.NS) map[netip.AddrPort]sockdiag.Socket {
	t.Helper()
	m := map[netip.AddrPort]sockdiag.Socket{}
	if err := netns.Do(ns, func() error {
		return sockdiag.Netlink{}.Each(sockdiag.StatesAll, func(s *sockdiag.Socket) error {
			if s.State != sockdiag.Listen {
				m[s.Local] = *s
			}
			return nil
		})
	}); err != nil {
		t.Fatal(err)
	}
	return m
}

func local(c *net.TCPConn) netip.AddrPort { return c.LocalAddr().(*net.TCPAddr).AddrPort() }

// pass runs fn (Namespace or DryRun) inside ns and collects its sockets.
func pass(t *testing.T, ns *netns.NS, method Method, dry bool) (Result, map[netip.AddrPort]Socket) {
	t.Helper()
	socks := map[netip.AddrPort]Socket{}
	opt := Options{Method: method, Each: func(s Socket) { socks[s.Local] = s }}
	var res Result
	if err := netns.Do(ns, func() (err error) {
		if dry {
			res, err = DryRun(context.Background(), opt)
		} else {
			res, err = Namespace(context.Background(), opt)
		}
		return err
	}); err != nil {
		t.Fatalf("dry %v: %v", dry, err)
	}
	t.Logf("dry %v: %+v", dry, res)
	return res, socks
}

// testNamespace: in namespace a, under 7200/75/9, two connections follow
// the sysctls, one follows them for the idle time but has its own
// interval and count, one has its own TCP_KEEPIDLE and one has keepalive
// off, and an IPv6 loopback pair has a follower and an end with keepalive
// off; a connection waits unaccepted in a listener's queue with keepalive
// inherited and no owner process (BPF reaches it, pidfd cannot, and says
// so), its client without keepalive; namespace b holds one that follows
// the sysctls, and a connection its process closed waits in FIN-WAIT-2 on
// its fin timer, which is sk_timer, the keepalive timer's. Both namespaces
// go to 2/1/2 and a is re-armed. What ss -tno would show must change for
// the three followers of a only; once the server is silenced, a follower
// of a must die of ETIMEDOUT within 2/1/2's four seconds while b's
// neighbour, never re-armed, lives on with its two-hour timer.
func testNamespace(t *testing.T, method Method) {
	s := newScratch(t)
	follow1 := dial(t, s.a, 1, keepaliveOn)
	follow2 := dial(t, s.a, 1, keepaliveOn)
	ownIntvlCnt := dial(t, s.a, 1, ownIntvl, ownCnt, keepaliveOn)
	own := dial(t, s.a, 1, ownIdle, keepaliveOn)
	off := dial(t, s.a, 1)
	neighbour := dial(t, s.b, 2, keepaliveOn)
	v6, v6served := loopback6(t, s.a)
	queuedClient, queued := unaccepted(t, s.a)
	orphan := orphanFinWait2(t, s.a)
	followers := []*net.TCPConn{follow1, follow2, ownIntvlCnt}
	nstest.SetValues(t, "a", 2, 1, 2)
	nstest.SetValues(t, "b", 2, 1, 2)

	before := timers(t, s.a)
	for _, c := range followers {
		if tm := before[local(c)]; tm.Timer != sockdiag.TimerKeepalive || tm.Expires < 7000e3 {
			t.Fatalf("before: %s has timer %v %d ms, want keepalive at about 2 h", local(c), tm.Timer, tm.Expires)
		}
	}

	wantMethod := method
	if method == Auto {
		wantMethod = Pidfd
	}
	verdicts := map[*net.TCPConn]Verdict{follow1: Rearmed, follow2: Rearmed, ownIntvlCnt: Rearmed, own: Own, off: Off,
		v6: Rearmed, v6served: Off, queuedClient: Off}
	// The queued socket: re-armed through BPF, unreachable for pidfd.
	queuedVerdict, queuedDue, queuedFrom := Rearmed, uint32(2000), uint32(1500)
	want := Result{Rearmed: 5, Own: 1, Off: 3}
	if wantMethod == Pidfd {
		queuedVerdict, queuedDue, queuedFrom = Unreachable, 7200e3, 7000e3
		want.Rearmed, want.Unreachable = 4, 1
	}
	check := func(what string, res Result, socks map[netip.AddrPort]Socket, want Result) {
		t.Helper()
		want.Method, want.DryRun, want.Limit = wantMethod, res.DryRun, 2*time.Second
		got := res
		got.Took, got.Fallback = 0, nil
		if got != want {
			t.Errorf("%s: %+v, want %+v", what, got, want)
		}
		if (method == Auto) != errors.Is(res.Fallback, ErrUnsupported) {
			t.Errorf("%s: fallback %v", what, res.Fallback)
		}
		for c, v := range verdicts {
			if want.Rearmed == 0 && v == Rearmed {
				v = Current
			}
			if got := socks[local(c)]; got.Verdict != v || got.State != sockdiag.Established || got.Inode == 0 || got.Peer != c.RemoteAddr().(*net.TCPAddr).AddrPort() {
				t.Errorf("%s: %s: %+v, want %v", what, local(c), got, v)
			}
		}
		v := queuedVerdict
		if want.Rearmed == 0 && v == Rearmed {
			v = Current
		}
		if got := socks[queued]; got.Verdict != v || got.Inode != 0 || got.Peer != local(queuedClient) {
			t.Errorf("%s: unaccepted %s: %+v, want %v and no inode", what, queued, got, v)
		}
		if got, ok := socks[orphan]; ok {
			t.Errorf("%s: the orphan was judged: %+v", what, got)
		}
	}

	dry, socks := pass(t, s.a, method, true)
	check("dry run", dry, socks, want)
	for addr, tm := range timers(t, s.a) {
		if tm != before[addr] && (tm.Timer != before[addr].Timer || before[addr].Expires-tm.Expires > 10e3) {
			t.Errorf("dry run changed %s: %+v -> %+v", addr, before[addr], tm)
		}
	}
	if sk := socks[local(follow1)]; sk.DueIn < 119*time.Minute {
		t.Errorf("dry run: follower due in %v, want about 2 h", sk.DueIn)
	}

	res, socks := pass(t, s.a, method, false)
	rearmed := time.Now()
	check("re-arm", res, socks, want)

	after := timers(t, s.a)
	for _, c := range followers {
		if tm := after[local(c)]; tm.Timer != sockdiag.TimerKeepalive || tm.Expires > 2000 || tm.Expires < 1500 {
			t.Errorf("after: follower %s: timer %v %d ms, want keepalive within 2 s", local(c), tm.Timer, tm.Expires)
		}
	}
	if tm := after[local(own)]; tm.Timer != sockdiag.TimerKeepalive || tm.Expires < 50e3 || tm.Expires > 60e3 {
		t.Errorf("after: own TCP_KEEPIDLE 60: timer %v %d ms, want its own 60 s", tm.Timer, tm.Expires)
	}
	if tm := after[local(off)]; tm.Timer != sockdiag.TimerNone {
		t.Errorf("after: keepalive off: timer %v %d ms, want none", tm.Timer, tm.Expires)
	}
	if tm := after[queued]; tm.Timer != sockdiag.TimerKeepalive || tm.Expires > queuedDue || tm.Expires < queuedFrom {
		t.Errorf("after: unaccepted: timer %v %d ms, want keepalive in about %d ms", tm.Timer, tm.Expires, queuedDue)
	}
	if tm := after[orphan]; tm.State != sockdiag.FinWait2 || tm.Timer != sockdiag.TimerKeepalive || tm.Expires < 50e3 {
		t.Errorf("after: the orphan's fin timer: %+v, want FIN-WAIT-2 with about 60 s left", tm)
	}
	if tm := timers(t, s.b)[local(neighbour)]; tm.Timer != sockdiag.TimerKeepalive || tm.Expires < 7000e3 {
		t.Errorf("namespace b was touched: %+v", tm)
	}

	again, socks := pass(t, s.a, method, false)
	want.Current, want.Rearmed = want.Rearmed, 0
	check("second pass", again, socks, want)

	// Silence the server: its addresses go; a's and b's packets to it are
	// dropped, nothing answers, nothing resets.
	nstest.Run(t, "ip", "-n", "srv", "addr", "del", "10.9.1.2/24", "dev", "s0")
	nstest.Run(t, "ip", "-n", "srv", "addr", "del", "10.9.2.2/24", "dev", "s1")
	errs := map[*net.TCPConn]chan error{}
	for _, c := range []*net.TCPConn{follow1, own, neighbour} {
		ch := make(chan error, 1)
		errs[c] = ch
		go func() {
			_, err := c.Read(make([]byte, 1))
			ch <- err
		}()
	}
	select {
	case err := <-errs[follow1]:
		took := time.Since(rearmed)
		t.Logf("re-armed follower: %v after %.2f s", err, took.Seconds())
		if !errors.Is(err, syscall.ETIMEDOUT) {
			t.Errorf("re-armed follower: %v, want ETIMEDOUT", err)
		}
		// 2 s idle, 2 probes 1 s apart: 4 s, plus timer-wheel lateness.
		if took < 3800*time.Millisecond || took > 5500*time.Millisecond {
			t.Errorf("re-armed follower died %.2f s after the re-arm, want 4 to 5.5 s", took.Seconds())
		}
	case <-time.After(10 * time.Second):
		t.Fatalf("re-armed follower still alive 10 s after its peer went silent")
	}
	// One more second: the neighbour and the own-value socket must not
	// die in it.
	for c, name := range map[*net.TCPConn]string{neighbour: "b's neighbour, not re-armed", own: "own TCP_KEEPIDLE 60"} {
		select {
		case err := <-errs[c]:
			t.Errorf("%s: %v, want still alive", name, err)
		case <-time.After(time.Second / 2):
		}
	}
	if tm := timers(t, s.b)[local(neighbour)]; tm.Timer != sockdiag.TimerKeepalive || tm.Expires < 7000e3 || tm.Retrans != 0 {
		t.Errorf("b's neighbour: %+v, want its 2 h timer and no probe sent", tm)
	}
}
