package rearm

import (
	"errors"
	"fmt"
	"sync"

	"github.com/cilium/ebpf/btf"
)

// layout is where the BPF program finds what it reads, taken from the
// running kernel's BTF (CO-RE style: nothing is compiled in, so a kernel
// that moves a field still gets the right offset, and one that lacks a
// field is refused before anything is loaded).
type layout struct {
	// Context of the tcp iterator (struct bpf_iter__tcp): one 8-byte slot
	// per argument of the kernel's bpf_iter_tcp(meta, sk_common, uid).
	ctxMeta, ctxSk int16
	metaSeq        int16 // bpf_iter_meta.seq

	// struct sock (tcp_sock starts with it).
	state, family, num, dport int16
	daddr, rcvSaddr           int16 // IPv4
	v6Daddr, v6RcvSaddr       int16
	flags                     int16 // sk_flags (skc_flags)
	net                       int16 // skc_net.net
	timerPprev, timerExpires  int16 // sk_timer: the keepalive timer
	socket                    int16 // sk_socket

	sockFile  int16 // socket.file
	fileInode int16 // file.f_inode
	inodeIno  int16 // inode.i_ino

	keepaliveTime int16 // tcp_sock.keepalive_time: own TCP_KEEPIDLE, 0 if none
	netKeepalive  int16 // net.ipv4.sysctl_tcp_keepalive_time, in jiffies

	sockDead, sockKeepopen uint32 // bits of enum sock_flags
}

var kernelLayout = sync.OnceValues(func() (layout, error) {
	spec, err := btf.LoadKernelSpec()
	if err != nil {
		return layout{}, fmt.Errorf("%w: no kernel BTF (CONFIG_DEBUG_INFO_BTF): %w", ErrUnsupported, err)
	}
	return layoutFrom(spec)
})

// layoutFrom reads the layout from a kernel's BTF. Every miss wraps
// ErrUnsupported: the BPF method cannot run on that kernel, pidfd can.
func layoutFrom(spec *btf.Spec) (layout, error) {
	var l layout
	var errs []error
	field := func(dst *int16, typ string, wantSize uint32, path ...string) {
		off, size, err := offsetOf(spec, typ, path...)
		switch {
		case err != nil:
			errs = append(errs, err)
		case wantSize != 0 && size != wantSize:
			errs = append(errs, fmt.Errorf("%s.%v is %d bytes, want %d", typ, path, size, wantSize))
		case off > 1<<15-1:
			errs = append(errs, fmt.Errorf("%s.%v at offset %d: out of reach of one instruction", typ, path, off))
		default:
			*dst = int16(off)
		}
	}
	// The iterator's context: the verifier checks loads against the
	// arguments of bpf_iter_tcp, 8 bytes each.
	var fn *btf.Func
	if err := spec.TypeByName("bpf_iter_tcp", &fn); err != nil {
		return l, fmt.Errorf("%w: no tcp iterator in this kernel (Linux 5.9+): %w", ErrUnsupported, err)
	}
	proto, ok := fn.Type.(*btf.FuncProto)
	if !ok {
		return l, fmt.Errorf("%w: bpf_iter_tcp is not a function", ErrUnsupported)
	}
	l.ctxMeta, l.ctxSk = -1, -1
	for i, p := range proto.Params {
		switch p.Name {
		case "meta":
			l.ctxMeta = int16(8 * i)
		case "sk_common":
			l.ctxSk = int16(8 * i)
		}
	}
	if l.ctxMeta < 0 || l.ctxSk < 0 {
		return l, fmt.Errorf("%w: bpf_iter_tcp has no meta or sk_common argument", ErrUnsupported)
	}
	field(&l.metaSeq, "bpf_iter_meta", 8, "seq")

	// tcp_sock, inet_connection_sock and inet_sock each begin with the
	// next, down to struct sock: its offsets hold for a tcp_sock pointer.
	for _, p := range []struct{ typ, member string }{
		{"tcp_sock", "inet_conn"}, {"inet_connection_sock", "icsk_inet"}, {"inet_sock", "sk"}, {"sock", "__sk_common"},
	} {
		if off, _, err := offsetOf(spec, p.typ, p.member); err != nil || off != 0 {
			errs = append(errs, fmt.Errorf("%s does not begin with %s (%d, %v)", p.typ, p.member, off, err))
		}
	}
	field(&l.state, "sock_common", 1, "skc_state")
	field(&l.family, "sock_common", 2, "skc_family")
	field(&l.num, "sock_common", 2, "skc_num")
	field(&l.dport, "sock_common", 2, "skc_dport")
	field(&l.daddr, "sock_common", 4, "skc_daddr")
	field(&l.rcvSaddr, "sock_common", 4, "skc_rcv_saddr")
	field(&l.v6Daddr, "sock_common", 16, "skc_v6_daddr")
	field(&l.v6RcvSaddr, "sock_common", 16, "skc_v6_rcv_saddr")
	field(&l.flags, "sock_common", 8, "skc_flags")
	field(&l.net, "sock_common", 8, "skc_net", "net")
	field(&l.timerPprev, "sock", 8, "sk_timer", "entry", "pprev")
	field(&l.timerExpires, "sock", 8, "sk_timer", "expires")
	field(&l.socket, "sock", 8, "sk_socket")
	field(&l.sockFile, "socket", 8, "file")
	field(&l.fileInode, "file", 8, "f_inode")
	field(&l.inodeIno, "inode", 8, "i_ino")
	field(&l.keepaliveTime, "tcp_sock", 4, "keepalive_time")
	field(&l.netKeepalive, "net", 4, "ipv4", "sysctl_tcp_keepalive_time")

	var flags *btf.Enum
	if err := spec.TypeByName("sock_flags", &flags); err != nil {
		errs = append(errs, err)
	} else {
		dead, keep := false, false
		for _, v := range flags.Values {
			switch v.Name {
			case "SOCK_DEAD":
				l.sockDead, dead = uint32(v.Value), true
			case "SOCK_KEEPOPEN":
				l.sockKeepopen, keep = uint32(v.Value), true
			}
		}
		if !dead || !keep || l.sockDead > 63 || l.sockKeepopen > 63 {
			errs = append(errs, errors.New("enum sock_flags lacks SOCK_DEAD or SOCK_KEEPOPEN"))
		}
	}
	if err := errors.Join(errs...); err != nil {
		return l, fmt.Errorf("%w: the kernel's structures are not as expected: %w", ErrUnsupported, err)
	}
	return l, nil
}

// offsetOf is the byte offset and size of the member at path inside the
// struct named typ, looking through anonymous structs and unions the way
// C does (sk_flags is sock_common's skc_flags, inside an anonymous union).
func offsetOf(spec *btf.Spec, typ string, path ...string) (off, size uint32, err error) {
	var s *btf.Struct
	if err := spec.TypeByName(typ, &s); err != nil {
		return 0, 0, fmt.Errorf("struct %s: %w", typ, err)
	}
	var t btf.Type = s
	for _, name := range path {
		m, moff, ok := member(t, name)
		if !ok {
			return 0, 0, fmt.Errorf("struct %s has no member %v", typ, path)
		}
		if m.BitfieldSize != 0 {
			return 0, 0, fmt.Errorf("%s.%v is a bit field", typ, path)
		}
		off += moff
		t = m.Type
	}
	sz, err := btf.Sizeof(t)
	if err != nil {
		return 0, 0, fmt.Errorf("%s.%v: %w", typ, path, err)
	}
	return off, uint32(sz), nil
}

// member finds a named member of a struct or union t, descending into
// anonymous members; moff is its byte offset in t.
func member(t btf.Type, name string) (m btf.Member, moff uint32, ok bool) {
	var members []btf.Member
	switch c := btf.UnderlyingType(t).(type) {
	case *btf.Struct:
		members = c.Members
	case *btf.Union:
		members = c.Members
	default:
		return m, 0, false
	}
	for _, x := range members {
		if x.Name == name {
			return x, x.Offset.Bytes(), true
		}
		if x.Name == "" {
			if inner, ioff, ok := member(x.Type, name); ok {
				return inner, x.Offset.Bytes() + ioff, true
			}
		}
	}
	return m, 0, false
}
