package sockdiag

import (
	"encoding/binary"
	"errors"
	"fmt"
	"net/netip"

	"github.com/vishvananda/netlink/nl"
	"golang.org/x/sys/unix"
)

// Errors of Lookup and Destroy; each wraps the kernel's errno too.
var (
	// ErrNoDestroy: the kernel cannot close sockets on request: it was
	// built without CONFIG_INET_DIAG_DESTROY (EOPNOTSUPP), as ss -K finds.
	ErrNoDestroy = errors.New("the kernel cannot close sockets (built without CONFIG_INET_DIAG_DESTROY)")
	// ErrNotPermitted: closing another process's socket needs
	// CAP_NET_ADMIN over the socket's network namespace (EPERM).
	ErrNotPermitted = errors.New("closing a socket needs CAP_NET_ADMIN")
	// ErrGone: no socket has this 4-tuple any more (ENOENT), or another
	// socket does now (the cookie or the inode differs: ESTALE). Nothing
	// was closed.
	ErrGone = errors.New("socket gone")
)

// ID names one TCP socket to the kernel, as inet_diag_sockid does: its
// family, both ends, the interface it is bound to and its cookie.
type ID struct {
	Family      uint8 // unix.AF_INET or unix.AF_INET6 (v4-mapped ends stay AF_INET6)
	Local, Peer netip.AddrPort
	// Interface is the device the socket is bound to (SO_BINDTODEVICE,
	// a VRF); 0 for the usual unbound socket. The kernel's lookup needs it
	// for a bound one.
	Interface uint32
	// Cookie is the kernel's id of the socket, never reused during a
	// boot: with it the kernel refuses (ESTALE) to act on a newer socket
	// that took over the 4-tuple. 0: not known, match the 4-tuple alone.
	Cookie uint64
}

// IDOf is the ID of a socket from the dump, without its cookie (the
// dump's Socket does not keep it yet): DestroySocket looks it up.
func IDOf(s *Socket) ID {
	return ID{Family: s.Family, Local: s.Local, Peer: s.Peer}
}

// String is "local -> peer" as ss prints the ends.
func (id ID) String() string { return id.Local.String() + " -> " + id.Peer.String() }

// noCookie is INET_DIAG_NOCOOKIE in both halves of idiag_cookie.
const noCookie = ^uint32(0)

// exactReq is struct inet_diag_req_v2 naming one socket.
type exactReq struct{ id ID }

func (r *exactReq) Len() int { return sizeofInetDiagReq }

func (r *exactReq) Serialize() []byte {
	b := make([]byte, sizeofInetDiagReq)
	ne := nl.NativeEndian()
	b[0] = r.id.Family
	b[1] = unix.IPPROTO_TCP
	// b[2] idiag_ext 0: the header is all Lookup reads.
	ne.PutUint32(b[4:8], uint32(StatesAll)) // ignored for exact requests, as ss -K sends it
	// inet_diag_sockid at b[8:56]: ports and addresses in network order.
	binary.BigEndian.PutUint16(b[8:10], r.id.Local.Port())
	binary.BigEndian.PutUint16(b[10:12], r.id.Peer.Port())
	putAddr(b[12:28], r.id.Family, r.id.Local.Addr())
	putAddr(b[28:44], r.id.Family, r.id.Peer.Addr())
	ne.PutUint32(b[44:48], r.id.Interface)
	lo, hi := noCookie, noCookie
	if r.id.Cookie != 0 {
		lo, hi = uint32(r.id.Cookie), uint32(r.id.Cookie>>32)
	}
	ne.PutUint32(b[48:52], lo)
	ne.PutUint32(b[52:56], hi)
	return b
}

// putAddr writes an address as inet_diag_sockid holds it: 4 bytes then
// zeros for AF_INET, 16 bytes (v4-mapped for an IPv4 peer) for AF_INET6.
func putAddr(b []byte, family uint8, a netip.Addr) {
	if family == unix.AF_INET {
		a4 := a.Unmap().As4()
		copy(b, a4[:])
		return
	}
	a16 := a.As16()
	copy(b, a16[:])
}

// Lookup asks the kernel for the one socket id names, in the calling
// thread's network namespace, and returns it with its full ID (cookie and
// interface included). id.Cookie 0 matches the 4-tuple alone. ErrGone when
// there is none.
func Lookup(id ID) (Socket, ID, error) {
	var s Socket
	body, err := exact(nl.SOCK_DIAG_BY_FAMILY, id)
	if err != nil {
		return s, ID{}, fmt.Errorf("sock_diag: look up %s: %w", id, err)
	}
	if err := parse(body, &s); err != nil {
		return s, ID{}, err
	}
	ne := nl.NativeEndian()
	full := ID{Family: s.Family, Local: s.Local, Peer: s.Peer,
		Interface: ne.Uint32(body[40:44]),
		Cookie:    uint64(ne.Uint32(body[44:48])) | uint64(ne.Uint32(body[48:52]))<<32}
	return s, full, nil
}

// Destroy closes the socket id names, as ss -K does: SOCK_DESTROY over
// NETLINK_SOCK_DIAG in the calling thread's network namespace. The kernel
// aborts the connection (tcp_abort): the owner's next or pending read or
// write fails with ECONNABORTED, and a RST goes to the peer (which a dead
// peer never sees). Errors wrap ErrNoDestroy, ErrNotPermitted or ErrGone.
func Destroy(id ID) error {
	if _, err := exact(unix.SOCK_DESTROY, id); err != nil {
		return fmt.Errorf("sock_diag: close %s: %w", id, err)
	}
	return nil
}

// DestroySocket closes a socket seen in the dump: it looks the 4-tuple up
// again, checks that the socket there is still the one the dump saw (same
// inode), then destroys it by its cookie, so a connection that ended and
// whose 4-tuple was reused meanwhile is left alone (ErrGone).
func DestroySocket(s *Socket) error {
	now, id, err := Lookup(IDOf(s))
	if err != nil {
		return err
	}
	if now.Inode != s.Inode {
		return fmt.Errorf("sock_diag: close %s: inode %d, not %d: %w", id, now.Inode, s.Inode, ErrGone)
	}
	return Destroy(id)
}

// exact sends one request for a single socket and returns the body of the
// kernel's answer (an inet_diag_msg for SOCK_DIAG_BY_FAMILY, nil for an
// acknowledged SOCK_DESTROY).
func exact(typ int, id ID) ([]byte, error) {
	if id.Family != unix.AF_INET && id.Family != unix.AF_INET6 {
		return nil, fmt.Errorf("address family %d is not IPv4 or IPv6", id.Family)
	}
	fd, err := unix.Socket(unix.AF_NETLINK, unix.SOCK_RAW|unix.SOCK_CLOEXEC, unix.NETLINK_SOCK_DIAG)
	if err != nil {
		return nil, diagError(id.Family, err)
	}
	defer unix.Close(fd)
	if err := unix.Bind(fd, &unix.SockaddrNetlink{Family: unix.AF_NETLINK}); err != nil {
		return nil, fmt.Errorf("bind: %w", err)
	}
	req := nl.NewNetlinkRequest(typ, unix.NLM_F_ACK)
	req.AddData(&exactReq{id: id})
	if err := unix.Sendto(fd, req.Serialize(), 0, &unix.SockaddrNetlink{Family: unix.AF_NETLINK}); err != nil {
		return nil, exactError(typ, err)
	}
	buf := make([]byte, 8<<10)
	ne := nl.NativeEndian()
	var found []byte
	for {
		n, _, err := unix.Recvfrom(fd, buf, 0)
		if err == unix.EINTR {
			continue
		}
		if err != nil {
			return nil, fmt.Errorf("recv: %w", err)
		}
		b := buf[:n]
		for len(b) >= unix.NLMSG_HDRLEN {
			l := int(ne.Uint32(b[0:4]))
			mtyp := ne.Uint16(b[4:6])
			mseq := ne.Uint32(b[8:12])
			if l < unix.NLMSG_HDRLEN || l > len(b) {
				return nil, fmt.Errorf("malformed netlink message (length %d of %d)", l, len(b))
			}
			body := b[unix.NLMSG_HDRLEN:l]
			b = b[min(len(b), (l+unix.NLMSG_ALIGNTO-1)&^(unix.NLMSG_ALIGNTO-1)):]
			if mseq != req.Seq {
				continue // not ours
			}
			switch mtyp {
			case nl.SOCK_DIAG_BY_FAMILY:
				if len(body) < sizeofInetDiagMsg {
					return nil, fmt.Errorf("short inet_diag_msg (%d bytes)", len(body))
				}
				found = append([]byte(nil), body...)
			case unix.NLMSG_ERROR:
				// The ack (errno 0) ends the exchange; it follows the
				// answer of a lookup.
				if len(body) < 4 {
					return nil, errors.New("short netlink error message")
				}
				if errno := -int32(ne.Uint32(body[0:4])); errno != 0 {
					return nil, exactError(typ, unix.Errno(errno))
				}
				return found, nil
			case unix.NLMSG_DONE:
				return found, nil
			}
		}
	}
}

// exactError sorts the kernel's answer to a request for one socket.
// EOPNOTSUPP to SOCK_DESTROY is a kernel without CONFIG_INET_DIAG_DESTROY;
// to a lookup, a kernel without the TCP diag handler (ErrUnavailable).
func exactError(typ int, err error) error {
	switch {
	case errors.Is(err, unix.EOPNOTSUPP) && typ == unix.SOCK_DESTROY:
		return fmt.Errorf("%w: %w", ErrNoDestroy, err)
	case errors.Is(err, unix.EOPNOTSUPP), errors.Is(err, unix.EPROTONOSUPPORT):
		return fmt.Errorf("%w: %w", ErrUnavailable, err)
	case errors.Is(err, unix.EPERM), errors.Is(err, unix.EACCES):
		return fmt.Errorf("%w: %w", ErrNotPermitted, err)
	case errors.Is(err, unix.ENOENT):
		return fmt.Errorf("%w: no such connection: %w", ErrGone, err)
	case errors.Is(err, unix.ESTALE):
		return fmt.Errorf("%w: another socket holds the 4-tuple now: %w", ErrGone, err)
	}
	return err
}
