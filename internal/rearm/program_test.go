package rearm

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"net/netip"
	"strings"
	"testing"

	"github.com/cilium/ebpf"
	"github.com/cilium/ebpf/asm"
	"github.com/cilium/ebpf/btf"
	"github.com/google/go-cmp/cmp"
	"github.com/tcpka/tcpka/internal/enforce"
	"github.com/tcpka/tcpka/internal/sockdiag"
	"golang.org/x/sys/unix"
)

// rec builds a record as the program writes it.
func rec(cookie uint64, verdict uint8, family uint16, local, peer netip.AddrPort, errno int32) []byte {
	b := make([]byte, recordLen)
	ne := binary.NativeEndian
	ne.PutUint64(b[rCookie:], cookie)
	ne.PutUint32(b[rInode:], 4242)
	ne.PutUint32(b[rErr:], uint32(errno))
	ne.PutUint32(b[rDue:], 1800000)
	ne.PutUint32(b[rLimit:], 500)
	ne.PutUint16(b[rFamily:], family)
	ne.PutUint16(b[rLport:], local.Port())
	binary.BigEndian.PutUint16(b[rRport:], peer.Port())
	b[rState] = byte(sockdiag.Established)
	b[rVerdict] = verdict
	if family == afInet {
		a, p := local.Addr().As4(), peer.Addr().As4()
		copy(b[rLocal:], a[:])
		copy(b[rPeer:], p[:])
	} else {
		a, p := local.Addr().As16(), peer.Addr().As16()
		copy(b[rLocal:], a[:])
		copy(b[rPeer:], p[:])
	}
	return b
}

var (
	l4 = netip.MustParseAddrPort("10.9.1.1:40000")
	p4 = netip.MustParseAddrPort("10.9.1.2:8080")
	l6 = netip.MustParseAddrPort("[fd00::1]:40001")
	p6 = netip.MustParseAddrPort("[fd00::2]:443")
	m6 = netip.MustParseAddrPort("[::ffff:10.9.1.1]:40002") // v4-mapped on a dual-stack socket
)

func TestParseRecord(t *testing.T) {
	for _, tt := range []struct {
		name        string
		b           []byte
		local, peer netip.AddrPort
		err         string
	}{
		{"IPv4", rec(1, vRearmed, afInet, l4, p4, 0), l4, p4, ""},
		{"IPv6", rec(2, vOwn, afInet6, l6, p6, 0), l6, p6, ""},
		{"v4-mapped reads as IPv4", rec(3, vOff, afInet6, m6, p4, 0), netip.AddrPortFrom(m6.Addr().Unmap(), m6.Port()), p4, ""},
		{"short", rec(1, vRearmed, afInet, l4, p4, 0)[:63], l4, p4, "63 bytes"},
		{"unknown family", rec(1, vRearmed, 1, l4, p4, 0), l4, p4, "address family 1"},
		{"unknown verdict", rec(1, 9, afInet, l4, p4, 0), l4, p4, "verdict 9"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			r, err := parseRecord(tt.b)
			if tt.err != "" {
				if err == nil || !strings.Contains(err.Error(), tt.err) {
					t.Fatalf("err %v, want %q", err, tt.err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if r.local != tt.local || r.peer != tt.peer || r.inode != 4242 || r.due != 1800000 || r.limit != 500 || r.state != sockdiag.Established {
				t.Errorf("got %+v", r)
			}
		})
	}
}

// TestCollector: records split across reads are joined, a socket shown
// twice keeps its first record, and a refused toggle's second record
// replaces the first.
func TestCollector(t *testing.T) {
	var out bytes.Buffer
	out.Write(rec(1, vRearmed, afInet, l4, p4, 0))
	out.Write(rec(2, vRearmed, afInet, l4, p4, 0))
	out.Write(rec(2, vFailed, afInet, l4, p4, -int32(unix.EINVAL))) // correction of 2
	out.Write(rec(3, vOff, afInet6, l6, p6, 0))
	out.Write(rec(1, vCurrent, afInet, l4, p4, 0))  // shown again after a resume: ignored
	out.Write(rec(3, vFailed, afInet6, l6, p6, -1)) // not right after 3's record: ignored
	var c collector
	b := out.Bytes()
	for len(b) > 0 { // odd read sizes
		n := min(len(b), 100)
		if err := c.write(b[:n]); err != nil {
			t.Fatal(err)
		}
		b = b[n:]
	}
	if len(c.carry) != 0 {
		t.Fatalf("%d bytes left over", len(c.carry))
	}
	var got []uint8
	for _, r := range c.recs {
		got = append(got, r.verdict)
	}
	if diff := cmp.Diff([]uint8{vRearmed, vFailed, vOff}, got); diff != "" {
		t.Errorf("verdicts (-want +got):\n%s", diff)
	}
	if c.recs[1].err != -int32(unix.EINVAL) {
		t.Errorf("refused toggle's errno: %d", c.recs[1].err)
	}
}

func TestTally(t *testing.T) {
	var c collector
	for _, b := range [][]byte{
		rec(1, vRearmed, afInet, l4, p4, 0),
		rec(2, vWould, afInet, l4, p4, 0),
		rec(3, vCurrent, afInet, l4, p4, 0),
		rec(4, vOwn, afInet, l4, p4, 0),
		rec(5, vOff, afInet, l4, p4, 0),
		rec(6, vFailed, afInet, l4, p4, -int32(unix.EPERM)),
	} {
		if err := c.write(b); err != nil {
			t.Fatal(err)
		}
	}
	var socks []Socket
	res := tally(Result{Limit: 2e9}, c.recs, Options{Each: func(s Socket) { socks = append(socks, s) }})
	want := Result{Limit: 2e9, Rearmed: 2, Current: 1, Own: 1, Off: 1, Failed: 1}
	if res != want {
		t.Errorf("tally = %+v, want %+v", res, want)
	}
	// limit 500 jiffies for 2 s: HZ 250, so 1 800 000 jiffies are 2 h.
	if socks[0].DueIn.Hours() != 2 || socks[3].DueIn != -1 {
		t.Errorf("due times %v %v", socks[0].DueIn, socks[3].DueIn)
	}
	if !errors.Is(socks[5].Err, unix.EPERM) || socks[5].Verdict != Failed {
		t.Errorf("failed socket: %+v", socks[5])
	}
}

// fakeLayout has distinct offsets, to check the program assembles.
func fakeLayout() layout {
	return layout{ctxSk: 8, metaSeq: 0, state: 18, family: 16, num: 14, dport: 12, daddr: 0, rcvSaddr: 4,
		v6Daddr: 56, v6RcvSaddr: 72, flags: 96, net: 48, timerPprev: 456, timerExpires: 464, socket: 288,
		sockFile: 16, fileInode: 32, inodeIno: 64, keepaliveTime: 2220, netKeepalive: 1332, sockDead: 0, sockKeepopen: 3}
}

// TestInstructions: both programs assemble (every label resolves), the
// dry one never calls bpf_setsockopt, the live one calls it twice (off,
// then on) and writes a socket's record before toggling it.
func TestInstructions(t *testing.T) {
	for _, dry := range []bool{true, false} {
		insns := instructions(fakeLayout(), dry)
		var buf bytes.Buffer
		if err := insns.Marshal(&buf, binary.LittleEndian); err != nil {
			t.Fatalf("dry %v: %v", dry, err)
		}
		var calls []asm.BuiltinFunc
		for _, ins := range insns {
			if ins.IsBuiltinCall() {
				calls = append(calls, asm.BuiltinFunc(ins.Constant))
			}
		}
		want := []asm.BuiltinFunc{asm.FnSkcToTcpSock, asm.FnGetSocketCookie, asm.FnJiffies64, asm.FnSeqWrite}
		if !dry {
			want = []asm.BuiltinFunc{asm.FnSkcToTcpSock, asm.FnGetSocketCookie, asm.FnJiffies64,
				asm.FnSeqWrite, asm.FnSetsockopt, asm.FnSetsockopt, asm.FnSeqWrite}
		}
		if diff := cmp.Diff(want, calls); diff != "" {
			t.Errorf("dry %v: helper calls (-want +got):\n%s", dry, diff)
		}
		if n := len(insns); n > 140 {
			t.Errorf("dry %v: %d instructions", dry, n)
		}
	}
}

// TestLayoutRefusesOtherKernels: a kernel without the tcp iterator, or
// whose iterator lacks the arguments the program reads, is ErrUnsupported
// (the caller falls back), not a load failure.
func TestLayoutRefusesOtherKernels(t *testing.T) {
	ptr := &btf.Pointer{Target: &btf.Struct{Name: "sock_common", Size: 8}}
	for _, tt := range []struct {
		name  string
		types []btf.Type
		want  string
	}{
		{"no iterator", []btf.Type{&btf.Int{Name: "int", Size: 4}}, "no tcp iterator"},
		{"no sk_common", []btf.Type{&btf.Func{Name: "bpf_iter_tcp", Type: &btf.FuncProto{
			Return: &btf.Int{Name: "int", Size: 4}, Params: []btf.FuncParam{{Name: "meta", Type: ptr}, {Name: "sk", Type: ptr}}}}}, "no meta or sk_common"},
		{"no structs", []btf.Type{&btf.Func{Name: "bpf_iter_tcp", Type: &btf.FuncProto{
			Return: &btf.Int{Name: "int", Size: 4}, Params: []btf.FuncParam{{Name: "meta", Type: ptr}, {Name: "sk_common", Type: ptr}}}}}, "not as expected"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			b, err := btf.NewBuilder(tt.types, nil)
			if err != nil {
				t.Fatal(err)
			}
			spec, err := b.Spec()
			if err != nil {
				t.Fatal(err)
			}
			_, err = layoutFrom(spec)
			if !errors.Is(err, ErrUnsupported) || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("layoutFrom = %v, want ErrUnsupported with %q", err, tt.want)
			}
		})
	}
}

// TestKernelLayout checks the running kernel's layout against what the
// program assumes of every kernel: the iterator's context is (meta,
// sk_common, uid), 8 bytes each, and struct sock begins a tcp_sock.
func TestKernelLayout(t *testing.T) {
	l, err := kernelLayout()
	if errors.Is(err, ErrUnsupported) {
		t.Skipf("this kernel cannot run the BPF method: %v", err)
	}
	if err != nil {
		t.Fatal(err)
	}
	if l.ctxMeta != 0 || l.ctxSk != 8 {
		t.Errorf("bpf_iter__tcp: meta at %d, sk_common at %d; want 0 and 8", l.ctxMeta, l.ctxSk)
	}
	if l.sockDead != 0 || l.sockKeepopen != 3 {
		t.Errorf("sock_flags: SOCK_DEAD %d SOCK_KEEPOPEN %d", l.sockDead, l.sockKeepopen)
	}
	if l.keepaliveTime < 784 || l.timerExpires != l.timerPprev+8 {
		t.Errorf("layout %+v", l)
	}
	t.Logf("layout %+v", l)
}

// TestRearmerLoads: a Rearmer loads each program once, a dry run loads
// the live one too (so it says what a real pass would use), and a kernel
// that refused BPF is not asked again.
func TestRearmerLoads(t *testing.T) {
	var loads []bool
	var fail error
	loadIterFunc = func(dry bool) (*bpfIter, error) {
		loads = append(loads, dry)
		if fail != nil {
			return nil, fail
		}
		return &bpfIter{}, nil
	}
	t.Cleanup(func() { loadIterFunc = loadIter })

	r := New(Options{})
	for _, dry := range []bool{false, false, true, true} {
		if _, err := r.iter(dry); err != nil {
			t.Fatal(err)
		}
	}
	if diff := cmp.Diff([]bool{false, true}, loads); diff != "" {
		t.Errorf("loads (-want +got):\n%s", diff)
	}
	if err := r.Close(); err != nil {
		t.Fatal(err)
	}

	loads = nil
	r = New(Options{})
	if _, err := r.iter(true); err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff([]bool{false, true}, loads); diff != "" {
		t.Errorf("dry run first: loads (-want +got):\n%s", diff)
	}

	loads, fail = nil, fmt.Errorf("%w: test", ErrUnsupported)
	r = New(Options{})
	for range 3 {
		if _, err := r.iter(false); !errors.Is(err, ErrUnsupported) {
			t.Fatalf("iter = %v, want ErrUnsupported", err)
		}
	}
	if len(loads) != 1 {
		t.Errorf("loaded %d times after the kernel refused", len(loads))
	}
}

// TestExplainLoad: what Auto falls back on. A missing privilege is
// enforce.ErrPermission; a verifier's refusal or any other failure before
// the program ran is ErrUnsupported.
func TestExplainLoad(t *testing.T) {
	for _, tt := range []struct {
		name string
		err  error
		want error
	}{
		{"EPERM", fmt.Errorf("load program: %w", unix.EPERM), enforce.ErrPermission},
		{"verifier", &ebpf.VerifierError{Cause: unix.EINVAL, Log: []string{"unknown func bpf_setsockopt#49"}}, ErrUnsupported},
		{"verifier refusing with EACCES", &ebpf.VerifierError{Cause: unix.EACCES, Log: []string{"R1 invalid mem access 'scalar'"}}, ErrUnsupported},
		{"EACCES without a log", fmt.Errorf("load program: %w", unix.EACCES), enforce.ErrPermission},
		{"other", fmt.Errorf("find target for tcp iterator: %w", ebpf.ErrNotSupported), ErrUnsupported},
	} {
		t.Run(tt.name, func(t *testing.T) {
			err := explainLoad(tt.err)
			if !errors.Is(err, tt.want) || !fallback(err) {
				t.Errorf("explainLoad(%v) = %v, want %v and a fallback", tt.err, err, tt.want)
			}
		})
	}
	if err := explainIter("create the tcp iterator", unix.ENOMEM); !errors.Is(err, ErrUnsupported) || !errors.Is(err, unix.ENOMEM) {
		t.Errorf("explainIter = %v", err)
	}
}
