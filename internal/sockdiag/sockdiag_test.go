package sockdiag

import (
	"encoding/binary"
	"errors"
	"net"
	"net/netip"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/tcpka/tcpka/internal/detect"
	"github.com/tcpka/tcpka/internal/keepalive"
	"github.com/tcpka/tcpka/internal/sockopt"
	"github.com/tcpka/tcpka/internal/testkit"
	"golang.org/x/sys/unix"
)

// msg builds an inet_diag_msg the way the kernel lays it out.
func msg(family, state, timer, retrans uint8, src, dst netip.AddrPort, expires, inode uint32) []byte {
	b := make([]byte, sizeofInetDiagMsg)
	b[0], b[1], b[2], b[3] = family, state, timer, retrans
	binary.BigEndian.PutUint16(b[4:], src.Port())
	binary.BigEndian.PutUint16(b[6:], dst.Port())
	s, d := src.Addr().As16(), dst.Addr().As16()
	if family == unix.AF_INET {
		s4, d4 := src.Addr().As4(), dst.Addr().As4()
		copy(b[8:], s4[:])
		copy(b[24:], d4[:])
	} else {
		copy(b[8:], s[:])
		copy(b[24:], d[:])
	}
	binary.NativeEndian.PutUint32(b[52:], expires)
	binary.NativeEndian.PutUint32(b[56:], 3)
	binary.NativeEndian.PutUint32(b[60:], 4)
	binary.NativeEndian.PutUint32(b[64:], 1000)
	binary.NativeEndian.PutUint32(b[68:], inode)
	return b
}

func TestParse(t *testing.T) {
	tests := []struct {
		name string
		in   []byte
		want Socket
	}{
		{"ipv4", msg(unix.AF_INET, 1, 2, 1, netip.MustParseAddrPort("10.0.0.1:22"), netip.MustParseAddrPort("10.0.0.9:51234"), 952, 777),
			Socket{Family: unix.AF_INET, State: Established, Local: netip.MustParseAddrPort("10.0.0.1:22"), Peer: netip.MustParseAddrPort("10.0.0.9:51234"),
				Timer: TimerKeepalive, Retrans: 1, Expires: 952, RecvQ: 3, SendQ: 4, UID: 1000, Inode: 777}},
		{"ipv6", msg(unix.AF_INET6, 10, 0, 0, netip.MustParseAddrPort("[2001:db8::1]:443"), netip.MustParseAddrPort("[::]:0"), 0, 9),
			Socket{Family: unix.AF_INET6, State: Listen, Local: netip.MustParseAddrPort("[2001:db8::1]:443"), Peer: netip.MustParseAddrPort("[::]:0"),
				RecvQ: 3, SendQ: 4, UID: 1000, Inode: 9}},
	}
	for _, tt := range tests {
		var got Socket
		if err := parse(tt.in, &got); err != nil {
			t.Fatalf("%s: %v", tt.name, err)
		}
		if diff := cmp.Diff(tt.want, got, cmp.Comparer(func(a, b netip.AddrPort) bool { return a == b })); diff != "" {
			t.Errorf("%s: parse (-want +got):\n%s", tt.name, diff)
		}
	}
	if err := parse(make([]byte, 40), new(Socket)); err == nil {
		t.Error("parse(short message) = nil, want an error")
	}
}

func TestParseStates(t *testing.T) {
	tests := map[string]States{
		"established": 1 << Established, "time-wait": 1 << TimeWait, "listening": 1 << Listen,
		"syn-recv": 1<<SynRecv | 1<<NewSynRecv, "all": 0x1ffe,
	}
	for in, want := range tests {
		if got, err := ParseStates(in); err != nil || got != want {
			t.Errorf("ParseStates(%q) = %#x, %v; want %#x", in, got, err, want)
		}
	}
	if c, _ := ParseStates("connected"); c.Has(Listen) || c.Has(TimeWait) || !c.Has(Established) || !c.Has(CloseWait) {
		t.Errorf("connected = %#x: want ss's default set", c)
	}
	if _, err := ParseStates("estabilshed"); err == nil {
		t.Error("ParseStates(typo) = nil error")
	}
}

func TestSocketInode(t *testing.T) {
	tests := map[string]uint32{"socket:[12345]": 12345, "socket:[4294967295]": 4294967295}
	for in, want := range tests {
		if got, ok := socketInode([]byte(in)); !ok || got != want {
			t.Errorf("socketInode(%q) = %d, %v", in, got, ok)
		}
	}
	for _, bad := range []string{"pipe:[123]", "socket:[12a]", "socket:[4294967296]", "anon_inode:[eventfd]", "/dev/null"} {
		if _, ok := socketInode([]byte(bad)); ok {
			t.Errorf("socketInode(%q) ok, want not a socket", bad)
		}
	}
}

// TestReadOwners reads a fake proc tree: symlinks like the kernel's.
func TestReadOwners(t *testing.T) {
	root := t.TempDir()
	links := map[string]string{
		"100/fd/0": "/dev/null", "100/fd/3": "socket:[5001]", "100/fd/4": "pipe:[7]",
		"200/fd/7": "socket:[5002]", "200/fd/8": "socket:[5001]", // shared with 100
		"self/fd/1": "socket:[9999]", // not a pid: skipped
	}
	for p, target := range links {
		os.MkdirAll(filepath.Join(root, filepath.Dir(p)), 0o755)
		if err := os.Symlink(target, filepath.Join(root, p)); err != nil {
			t.Fatal(err)
		}
	}
	os.WriteFile(filepath.Join(root, "100/comm"), []byte("sshd\n"), 0o644)
	os.MkdirAll(filepath.Join(root, "300"), 0o755) // no fd dir: exited
	o, err := ReadOwners(root)
	if err != nil {
		t.Fatal(err)
	}
	want := map[uint32]Owner{5001: {100, 3}, 5002: {200, 7}}
	if o.Len() != len(want) {
		t.Errorf("Len = %d, want %d", o.Len(), len(want))
	}
	for ino, w := range want {
		if got, ok := o.Owner(ino); !ok || got != w {
			t.Errorf("Owner(%d) = %+v, %v; want %+v", ino, got, ok, w)
		}
	}
	if _, ok := o.Owner(9999); ok {
		t.Error("Owner(9999) found under a non-pid directory")
	}
	if c := o.Comm(100); c != "sshd" {
		t.Errorf("Comm(100) = %q", c)
	}
	if c := o.Comm(200); c != "?" {
		t.Errorf("Comm(200) without comm = %q, want ?", c)
	}
	if _, err := ReadOwners(filepath.Join(root, "nope")); err == nil {
		t.Error("ReadOwners(missing root) = nil error")
	}
}

func TestJudgeAndSummary(t *testing.T) {
	sys := keepalive.Settings{Time: 600, Intvl: 30, Probes: 4, Retries2: 15}
	net := detect.Net{HZ: 250}
	est := func(timer Timer) *Socket { return &Socket{State: Established, Timer: timer} }
	opt := func(on bool, idle, intvl, cnt int, ut time.Duration) *sockopt.Options {
		return &sockopt.Options{On: on, Settings: keepalive.Settings{Time: idle, Intvl: intvl, Probes: cnt, UserTimeout: ut}}
	}
	unknown := detect.Bounds{Idle: -1, Data: -1}
	tests := []struct {
		name string
		s    *Socket
		opts *sockopt.Options
		ka   Keepalive
		own  bool
		want detect.Bounds
	}{
		{"timer says on", est(TimerKeepalive), nil, KeepaliveOn, false, unknown},
		{"timer says off", est(TimerNone), nil, KeepaliveOff, false, unknown},
		{"retransmitting", est(TimerRetransmit), nil, KeepaliveUnknown, false, unknown},
		{"listener", &Socket{State: Listen}, nil, KeepaliveUnknown, false, unknown},
		// Data in flight: the namespace's tcp_retries2 15 with the minimum RTO.
		{"sysctl", est(TimerKeepalive), opt(true, 600, 30, 4, 0), KeepaliveOn, false, detect.Bounds{Idle: 720, Data: 939}},
		{"own", est(TimerKeepalive), opt(true, 11, 7, 5, 0), KeepaliveOn, true, detect.Bounds{Idle: 46, Data: 939}},
		// The kernel's rule for TCP_USER_TIMEOUT: idle, the first probe
		// timer at or past it (11 + 3*7); data, first retransmission + U.
		{"own+user timeout", est(TimerRetransmit), opt(true, 11, 7, 5, 30*time.Second), KeepaliveOn, true, detect.Bounds{Idle: 32, Data: 31}},
		{"options say off", est(TimerNone), opt(false, 600, 30, 4, 0), KeepaliveOff, false, detect.Bounds{Idle: -1, Data: 939}},
	}
	sum := NewSummary()
	for _, tt := range tests {
		got := Judge(tt.s, tt.opts, sys, net)
		if got.Keepalive != tt.ka || got.Own != tt.own || got.Bounds != tt.want || got.HasOptions != (tt.opts != nil) {
			t.Errorf("%s: Judge = keepalive %s own %v bounds %+v options %v, want %s %v %+v %v",
				tt.name, got.Keepalive, got.Own, got.Bounds, got.HasOptions, tt.ka, tt.own, tt.want, tt.opts != nil)
		}
		if tt.opts != nil && got.Effective.Retries2 != 15 {
			t.Errorf("%s: effective settings %+v lack the namespace's tcp_retries2", tt.name, got.Effective)
		}
		sum.AddVerdict(got)
	}
	want := &Summary{Total: 8, KeepaliveOn: 4, KeepaliveOff: 2, KeepaliveUnknown: 2, Sysctl: 1, Own: 2, UserTimeout: 1, NoOptions: 1, WorstS: 720, WorstDataS: 939}
	if diff := cmp.Diff(want, sum); diff != "" {
		t.Errorf("Summary (-want +got):\n%s", diff)
	}
}

// info builds an INET_DIAG_INFO attribute holding a struct tcp_info of
// n bytes with the fields the model reads.
func info(n int) []byte {
	b := make([]byte, 4+n)
	ne := binary.NativeEndian
	ne.PutUint16(b[0:], uint16(4+n))
	ne.PutUint16(b[2:], inetDiagInfo)
	t := b[4:]
	put := func(off int, v uint32) {
		if off+4 <= len(t) {
			ne.PutUint32(t[off:], v)
		}
	}
	t[0], t[2], t[3], t[4] = 1, 3, 0, 3 // ESTAB, 3 retransmissions, no probes, backoff 3
	put(tiRTO, 1632000)                 // µs
	put(tiUnacked, 1)
	put(tiLastDataSent, 2300) // ms
	put(tiLastDataRecv, 9000)
	put(tiLastAckRecv, 2300)
	put(tiRTT, 150)
	put(tiTotalRetrans, 4)
	put(tiSndWnd, 65535)
	if tiTotalRTO+4 <= len(t) {
		ne.PutUint16(t[tiTotalRTO:], 3)
		ne.PutUint16(t[tiTotalRTO+2:], 1)
	}
	put(tiTotalRTOTime, 1896)
	return b
}

// TestParseInfo: tcp_info after the header, as the kernel of this tree
// (248 bytes) and an older one (104 bytes, before Linux 4.x's additions)
// lay it out; other attributes are skipped.
func TestParseInfo(t *testing.T) {
	hdr := msg(unix.AF_INET, 1, 1, 3, netip.MustParseAddrPort("10.0.0.1:22"), netip.MustParseAddrPort("10.0.0.9:51234"), 1000, 777)
	shutdown := []byte{5, 0, 8, 0, 0, 0, 0, 0} // INET_DIAG_SHUTDOWN, padded
	want := TCPInfo{State: Established, Retransmits: 3, Backoff: 3, RTO: 1632 * time.Millisecond, RTT: 150 * time.Microsecond,
		LastDataSent: 2300 * time.Millisecond, LastDataRecv: 9 * time.Second, LastAckRecv: 2300 * time.Millisecond,
		Unacked: 1, TotalRetrans: 4, SndWnd: 65535, TotalRTO: 3, TotalRTORecoveries: 1, TotalRTOTime: 1896 * time.Millisecond}
	old := want
	old.SndWnd, old.TotalRTO, old.TotalRTORecoveries, old.TotalRTOTime = 0, 0, 0, 0
	tests := []struct {
		name string
		in   []byte
		has  bool
		want TCPInfo
	}{
		{"6.18", append(append(append([]byte{}, hdr...), shutdown...), info(248)...), true, want},
		{"older kernel", append(append([]byte{}, hdr...), info(104)...), true, old},
		{"none", hdr, false, TCPInfo{}},
		{"bad attribute length", append(append([]byte{}, hdr...), 200, 0, 2, 0), false, TCPInfo{}},
	}
	var s Socket
	s.Info.Probes = 9 // left from the previous socket: must not leak
	for _, tt := range tests {
		if err := parse(tt.in, &s); err != nil {
			t.Fatalf("%s: %v", tt.name, err)
		}
		if s.HasInfo != tt.has || s.Info != tt.want {
			t.Errorf("%s: HasInfo %v Info %+v, want %v %+v", tt.name, s.HasInfo, s.Info, tt.has, tt.want)
		}
	}
	// The model's input: a retransmitting socket.
	if err := parse(append(append([]byte{}, hdr...), info(248)...), &s); err != nil {
		t.Fatal(err)
	}
	l := s.Live(keepalive.Settings{Time: 2, Intvl: 1, Probes: 3, Retries2: 5}, false, detect.Net{HZ: 250})
	wantL := detect.Live{Timer: detect.TimerRetransmit, Expires: time.Second, Retransmits: 3, Backoff: 3, RTO: 1632 * time.Millisecond,
		SinceRetransmit: 1896 * time.Millisecond, SinceRetransmitKnown: true, LastDataRecv: 9 * time.Second, LastAckRecv: 2300 * time.Millisecond,
		Settings: keepalive.Settings{Time: 2, Intvl: 1, Probes: 3, Retries2: 5}, Net: detect.Net{HZ: 250}}
	if diff := cmp.Diff(wantL, l); diff != "" {
		t.Errorf("Live (-want +got):\n%s", diff)
	}
	if d, dying := l.Dying(); !dying || d.Reason != detect.ReasonRetransmit || d.Unanswered != 3 || d.Silent != 2300*time.Millisecond {
		t.Errorf("Dying() = %+v, %v", d, dying)
	}
}

// TestKernelEach finds this test's own loopback connections, IPv4 and
// IPv6, in the real dump (reading only: no namespace needed).
func TestKernelEach(t *testing.T) {
	for _, network := range []string{"tcp4", "tcp6"} {
		addr := "127.0.0.1:0"
		if network == "tcp6" {
			addr = "[::1]:0"
		}
		ln, err := net.Listen(network, addr)
		if err != nil {
			t.Skipf("%s: %v", network, err)
		}
		defer ln.Close()
		d := net.Dialer{KeepAlive: -1}
		c, err := d.Dial(network, ln.Addr().String())
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		srv, err := ln.Accept()
		if err != nil {
			t.Fatal(err)
		}
		defer srv.Close()
		rc, _ := c.(*net.TCPConn).SyscallConn()
		rc.Control(func(fd uintptr) {
			if err := sockopt.Set(int(fd), sockopt.Options{On: true, Settings: keepalive.Settings{Time: 11, Intvl: 7, Probes: 5}}); err != nil {
				t.Fatal(err)
			}
		})
		local := netip.MustParseAddrPort(c.LocalAddr().String())
		lnAddr := netip.MustParseAddrPort(ln.Addr().String())
		var found, listener int
		err = Netlink{}.Each(StatesAll, func(s *Socket) error {
			if s.Local == local {
				found++
				if s.State != Established || s.Timer != TimerKeepalive || s.Expires > 11000 || s.Expires < 9000 || s.Retrans != 0 || s.Inode == 0 {
					t.Errorf("%s client socket: %+v, want ESTAB with a keepalive timer ~11 s away", network, *s)
				}
				// tcp_info: what the model of a live socket reads.
				if i := s.Info; !s.HasInfo || i.State != Established || i.RTO < 200*time.Millisecond || i.RTO > time.Second ||
					i.Probes != 0 || i.Retransmits != 0 || i.LastAckRecv > 10*time.Second || i.SndWnd == 0 {
					t.Errorf("%s client socket: tcp_info %v %+v", network, s.HasInfo, i)
				}
				l := s.Live(keepalive.Settings{Time: 11, Intvl: 7, Probes: 5, Retries2: 15}, true, detect.Net{})
				if f := l.Fate(); f.Reason != detect.ReasonKeepalive || f.FirstProbe.Lower < 8*time.Second || f.Drop.Upper > 50*time.Second {
					t.Errorf("%s client socket: fate %+v", network, f)
				}
			}
			if s.Local == lnAddr && s.State == Listen {
				listener++
			}
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
		if found != 1 || listener != 1 {
			t.Errorf("%s: found client %d times, listener %d times; want 1, 1", network, found, listener)
		}
		// Established only: the listener is filtered by the kernel.
		stop := errors.New("stop")
		err = Netlink{}.Each(1<<Established, func(s *Socket) error {
			if s.State != Established {
				t.Errorf("state filter let %v through", s.State)
			}
			return stop
		})
		if !errors.Is(err, stop) {
			t.Errorf("Each did not return the callback's error: %v", err)
		}
	}
}

func TestOptionReader(t *testing.T) {
	testkit.NeedRoot(t, "pidfd_getfd")
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	d := net.Dialer{KeepAlive: -1}
	c, err := d.Dial("tcp", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	f, err := c.(*net.TCPConn).File() // a second fd on the same socket
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	fd := int(f.Fd())
	want := sockopt.Options{On: true, Settings: keepalive.Settings{Time: 11, Intvl: 7, Probes: 5, UserTimeout: 4 * time.Second}}
	if err := sockopt.Set(fd, want); err != nil {
		t.Fatal(err)
	}
	var st unix.Stat_t
	unix.Fstat(fd, &st)
	r := NewOptionReader()
	defer r.Close()
	me := Owner{PID: os.Getpid(), FD: fd}
	if got, err := r.Read(me, uint32(st.Ino)); err != nil || got != want {
		t.Errorf("Read(self) = %+v, %v; want %+v", got, err, want)
	}
	if _, err := r.Read(me, uint32(st.Ino)+1); !errors.Is(err, sockopt.ErrNoSuchFD) {
		t.Errorf("Read(wrong inode) = %v, want ErrNoSuchFD (fd reused)", err)
	}
	if _, err := r.Read(Owner{PID: os.Getpid(), FD: 9999}, 1); !errors.Is(err, sockopt.ErrNoSuchFD) {
		t.Errorf("Read(closed fd) = %v, want ErrNoSuchFD", err)
	}
	if _, err := r.Read(Owner{PID: 1 << 22, FD: 3}, 1); !errors.Is(err, sockopt.ErrProcessGone) {
		t.Errorf("Read(no such pid) = %v, want ErrProcessGone", err)
	}
}

func TestDiagError(t *testing.T) {
	tests := []struct {
		family uint8
		err    error
		want   string
		sent   bool
	}{
		{unix.AF_INET, unix.EPROTONOSUPPORT, "sock_diag unavailable: no NETLINK_SOCK_DIAG in this kernel (protocol not supported)", true},
		{unix.AF_INET6, unix.ENOENT, "sock_diag unavailable: the kernel has no IPv6 TCP diag handler (load tcp_diag and inet_diag: modprobe tcp_diag): no such file or directory", true},
		{unix.AF_INET, unix.ENOBUFS, "sock_diag IPv4 TCP dump: no buffer space available", false},
	}
	for _, tt := range tests {
		got := diagError(tt.family, tt.err)
		if got.Error() != tt.want || errors.Is(got, ErrUnavailable) != tt.sent {
			t.Errorf("diagError(%d, %v) = %q (ErrUnavailable %v), want %q", tt.family, tt.err, got, errors.Is(got, ErrUnavailable), tt.want)
		}
	}
}
