package sockdiag

import (
	"encoding/binary"
	"errors"
	"io"
	"net"
	"net/netip"
	"os/exec"
	"runtime"
	"strconv"
	"syscall"
	"testing"
	"time"

	"github.com/tcpka/tcpka/internal/nstest"
	"golang.org/x/sys/unix"
)

func TestExactReqLayout(t *testing.T) {
	tests := []struct {
		name string
		id   ID
		want map[int]byte // byte offset -> value
	}{
		{"ipv4, no cookie", ID{Family: unix.AF_INET, Local: netip.MustParseAddrPort("10.0.0.1:22"), Peer: netip.MustParseAddrPort("10.0.0.9:51234")},
			map[int]byte{0: unix.AF_INET, 1: unix.IPPROTO_TCP, 8: 0, 9: 22, 10: 0xc8, 11: 0x22, 12: 10, 15: 1, 16: 0, 28: 10, 31: 9, 48: 0xff, 55: 0xff}},
		{"ipv6 v4-mapped, cookie", ID{Family: unix.AF_INET6, Local: netip.MustParseAddrPort("[::ffff:10.0.0.1]:22"), Peer: netip.MustParseAddrPort("[2001:db8::9]:1"), Interface: 3, Cookie: 0x0000000200000001},
			map[int]byte{0: unix.AF_INET6, 22: 0xff, 23: 0xff, 24: 10, 27: 1, 28: 0x20, 29: 0x01, 43: 9}},
	}
	for _, tt := range tests {
		b := (&exactReq{tt.id}).Serialize()
		if len(b) != sizeofInetDiagReq {
			t.Fatalf("%s: %d bytes", tt.name, len(b))
		}
		for off, v := range tt.want {
			if b[off] != v {
				t.Errorf("%s: byte %d = %#x, want %#x", tt.name, off, b[off], v)
			}
		}
		if tt.id.Cookie != 0 {
			lo, hi := nativeU32(b[48:52]), nativeU32(b[52:56])
			if lo != 1 || hi != 2 || nativeU32(b[44:48]) != 3 {
				t.Errorf("%s: interface/cookie %d %d %d, want 3 1 2", tt.name, nativeU32(b[44:48]), lo, hi)
			}
		}
	}
}

func nativeU32(b []byte) uint32 { return binary.NativeEndian.Uint32(b) }

func TestExactErrors(t *testing.T) {
	tests := []struct {
		typ  int
		err  error
		want error
	}{
		{unix.SOCK_DESTROY, unix.EOPNOTSUPP, ErrNoDestroy},
		{unix.SOCK_DIAG_BY_FAMILY, unix.EOPNOTSUPP, ErrUnavailable},
		{unix.SOCK_DESTROY, unix.EPERM, ErrNotPermitted},
		{unix.SOCK_DESTROY, unix.ENOENT, ErrGone},
		{unix.SOCK_DESTROY, unix.ESTALE, ErrGone},
	}
	for _, tt := range tests {
		got := exactError(tt.typ, tt.err)
		if !errors.Is(got, tt.want) || !errors.Is(got, tt.err) {
			t.Errorf("exactError(%d, %v) = %v, want %v wrapping the errno", tt.typ, tt.err, got, tt.want)
		}
	}
}

// echoServer accepts and echoes until the listener closes.
func echoServer(t *testing.T) net.Listener {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go func() { io.Copy(c, c); c.Close() }()
		}
	}()
	return ln
}

func echoes(c net.Conn) error {
	c.SetDeadline(time.Now().Add(5 * time.Second))
	defer c.SetDeadline(time.Time{})
	if _, err := c.Write([]byte("ping")); err != nil {
		return err
	}
	buf := make([]byte, 4)
	_, err := io.ReadFull(c, buf)
	return err
}

// dumped finds a connection's own socket in the dump.
func dumped(t *testing.T, c net.Conn) Socket {
	t.Helper()
	local := netip.MustParseAddrPort(c.LocalAddr().String())
	var found Socket
	n := 0
	if err := (Netlink{}).Each(1<<Established, func(s *Socket) error {
		if netip.AddrPortFrom(s.Local.Addr().Unmap(), s.Local.Port()) == local { // Go prints v4-mapped ends unmapped
			found, n = *s, n+1
		}
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	if n != 1 {
		t.Fatalf("%s found %d times in the dump", local, n)
	}
	return found
}

// TestDestroy closes one of two loopback connections in a scratch network
// namespace: a read pending on it fails with ECONNABORTED, the other one
// still echoes, and a second close finds nothing.
func TestDestroy(t *testing.T) {
	if testing.Short() {
		t.Skip("-short: needs a scratch network namespace")
	}
	if !nstest.Private(t, "ip") {
		return
	}
	if out, err := exec.Command("ip", "link", "set", "lo", "up").CombinedOutput(); err != nil {
		t.Fatalf("ip link set lo up: %v: %s", err, out)
	}
	ln := echoServer(t)
	var conns [2]net.Conn
	for i := range conns {
		c, err := net.Dial("tcp", ln.Addr().String())
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { c.Close() })
		if err := echoes(c); err != nil {
			t.Fatalf("conn %d before: %v", i, err)
		}
		conns[i] = c
	}
	doomed, kept := conns[0], conns[1]
	s := dumped(t, doomed)

	_, id, err := Lookup(IDOf(&s))
	if err != nil {
		t.Fatalf("Lookup: %v", err)
	}
	if id.Cookie == 0 || id.Local != s.Local || id.Peer != s.Peer {
		t.Fatalf("Lookup = %+v, want the dump's ends and a cookie", id)
	}
	stale := id
	stale.Cookie++
	if err := Destroy(stale); !errors.Is(err, ErrGone) {
		t.Errorf("Destroy(wrong cookie) = %v, want ErrGone (ESTALE), and the socket untouched", err)
	}
	if err := echoes(doomed); err != nil {
		t.Fatalf("a refused close touched the connection: %v", err)
	}

	// A read blocked on the socket when it is closed.
	readErr := make(chan error, 1)
	go func() {
		_, err := doomed.Read(make([]byte, 1))
		readErr <- err
	}()
	time.Sleep(100 * time.Millisecond)
	if err := DestroySocket(&s); err != nil {
		t.Fatalf("DestroySocket: %v", err)
	}
	select {
	case err := <-readErr:
		if !errors.Is(err, syscall.ECONNABORTED) {
			t.Errorf("read on the closed connection: %v, want ECONNABORTED", err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("the pending read did not return after the close")
	}
	if _, err := doomed.Write([]byte("x")); err == nil {
		t.Error("write on the closed connection succeeded")
	}
	if err := echoes(kept); err != nil {
		t.Errorf("the other connection: %v, want it still echoing", err)
	}
	if err := DestroySocket(&s); !errors.Is(err, ErrGone) {
		t.Errorf("second DestroySocket = %v, want ErrGone", err)
	}
	if _, _, err := Lookup(ID{Family: unix.AF_INET, Local: netip.MustParseAddrPort("127.0.0.1:1"), Peer: netip.MustParseAddrPort("127.0.0.1:2")}); !errors.Is(err, ErrGone) {
		t.Errorf("Lookup(no such connection) = %v, want ErrGone", err)
	}

	// IPv6, and an IPv4 client of a dual-stack listener (v4-mapped ends).
	ln6, err := net.Listen("tcp", "[::]:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln6.Close()
	port := netip.MustParseAddrPort(ln6.Addr().String()).Port()
	for _, addr := range []string{"[::1]", "127.0.0.1"} {
		c, err := net.Dial("tcp", addr+":"+strconv.Itoa(int(port)))
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		srv, err := ln6.Accept()
		if err != nil {
			t.Fatal(err)
		}
		defer srv.Close()
		ss := dumped(t, srv) // the accepted end: AF_INET6 in both cases
		if err := DestroySocket(&ss); err != nil {
			t.Fatalf("%s: DestroySocket(%s): %v", addr, IDOf(&ss), err)
		}
		srv.SetReadDeadline(time.Now().Add(5 * time.Second))
		if _, err := srv.Read(make([]byte, 1)); !errors.Is(err, syscall.ECONNABORTED) {
			t.Errorf("%s: read on the closed accepted end: %v, want ECONNABORTED", addr, err)
		}
	}

	// Without CAP_NET_ADMIN: drop it from this thread only (capabilities
	// are per thread), which is then thrown away.
	ks := dumped(t, kept)
	permErr := make(chan error, 1)
	go func() {
		runtime.LockOSThread() // never unlocked: the thread exits with the goroutine
		var d [2]unix.CapUserData
		h := unix.CapUserHeader{Version: unix.LINUX_CAPABILITY_VERSION_3}
		if err := unix.Capget(&h, &d[0]); err != nil {
			permErr <- err
			return
		}
		d[0].Effective &^= 1 << unix.CAP_NET_ADMIN
		if err := unix.Capset(&h, &d[0]); err != nil {
			permErr <- err
			return
		}
		permErr <- DestroySocket(&ks)
	}()
	if err := <-permErr; !errors.Is(err, ErrNotPermitted) {
		t.Errorf("DestroySocket without CAP_NET_ADMIN = %v, want ErrNotPermitted", err)
	}
	if err := echoes(kept); err != nil {
		t.Errorf("the other connection after a refused close: %v", err)
	}
}
