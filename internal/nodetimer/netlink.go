package nodetimer

import (
	"errors"
	"fmt"
	"syscall"

	"github.com/vishvananda/netlink/nl"
	"golang.org/x/sys/unix"
)

// execute sends req over a new netlink socket of protocol proto in the
// calling thread's network namespace and returns the payloads of the
// answers of type resType (every type when 0). It is
// nl.NetlinkRequest.Execute, answer for answer and errno for errno (an
// interrupted dump returns what came with nl.ErrDumpInterrupted), on a
// blocking socket with the same 60 s timeouts, receiving into a buffer on
// the heap: Execute receives into a 64 KiB array on the goroutine's stack,
// and growing the stack for it cost every `tcpka show` (which dumps the
// nftables ct timeouts) about 30 page faults.
func execute(req *nl.NetlinkRequest, proto int, resType uint16) ([][]byte, error) {
	fd, err := unix.Socket(unix.AF_NETLINK, unix.SOCK_RAW|unix.SOCK_CLOEXEC, proto)
	if err != nil {
		return nil, err
	}
	defer unix.Close(fd)
	if err := unix.Bind(fd, &unix.SockaddrNetlink{Family: unix.AF_NETLINK}); err != nil {
		return nil, err
	}
	for _, opt := range []int{unix.SO_SNDTIMEO, unix.SO_RCVTIMEO} {
		if err := unix.SetsockoptTimeval(fd, unix.SOL_SOCKET, opt, &nl.SocketTimeoutTv); err != nil {
			return nil, err
		}
	}
	if err := unix.Sendto(fd, req.Serialize(), 0, &unix.SockaddrNetlink{Family: unix.AF_NETLINK}); err != nil {
		return nil, err
	}
	sa, err := unix.Getsockname(fd)
	if err != nil {
		return nil, err
	}
	nsa, ok := sa.(*unix.SockaddrNetlink)
	if !ok {
		return nil, fmt.Errorf("wrong socket type %T", sa)
	}
	pid := nsa.Pid

	var res [][]byte
	dumpIntr := false
	rb := make([]byte, receiveBufferSize)
	for {
		n, from, err := unix.Recvfrom(fd, rb, unix.MSG_TRUNC)
		if err != nil {
			return nil, err
		}
		if n > len(rb) {
			return nil, fmt.Errorf("netlink: a %d-byte answer does not fit %d bytes", n, len(rb))
		}
		if f, ok := from.(*unix.SockaddrNetlink); !ok {
			return nil, errors.New("netlink: answer from a non-netlink address")
		} else if f.Pid != nl.PidKernel {
			return nil, fmt.Errorf("netlink: answer from port %d, not the kernel", f.Pid)
		}
		if n < unix.NLMSG_HDRLEN {
			return nil, errors.New("netlink: short answer")
		}
		// Copied: the payloads outlive the next receive into rb.
		msgs, err := syscall.ParseNetlinkMessage(append([]byte(nil), rb[:n]...))
		if err != nil {
			return nil, err
		}
		for _, m := range msgs {
			if m.Header.Seq != req.Seq {
				return nil, fmt.Errorf("netlink: answer to request %d, not %d", m.Header.Seq, req.Seq)
			}
			if m.Header.Pid != pid {
				continue
			}
			if m.Header.Flags&unix.NLM_F_DUMP_INTR != 0 {
				dumpIntr = true
			}
			if m.Header.Type == unix.NLMSG_DONE || m.Header.Type == unix.NLMSG_ERROR {
				if m.Header.Type == unix.NLMSG_DONE && len(m.Data) == 0 {
					return done(res, dumpIntr)
				}
				if len(m.Data) < 4 {
					return nil, errors.New("netlink: short answer")
				}
				if errno := int32(nl.NativeEndian().Uint32(m.Data[0:4])); errno != 0 {
					return nil, syscall.Errno(-errno)
				}
				return done(res, dumpIntr)
			}
			if resType != 0 && m.Header.Type != resType {
				continue
			}
			res = append(res, m.Data)
			if m.Header.Flags&unix.NLM_F_MULTI == 0 {
				return done(res, dumpIntr)
			}
		}
	}
}

// receiveBufferSize holds any answer: the kernel fills a dump's datagrams
// up to the reader's buffer size but never past 32 KiB
// (netlink_recvmsg's max_recvmsg_len), and a longer datagram is reported,
// never cut (MSG_TRUNC). It is a variable so that the buffer goes on the
// heap, and 32 KiB so that it comes from the largest size class: a larger
// allocation searches the heap's page summaries, which took 12 page
// faults of a tcpka show.
var receiveBufferSize = 32 << 10

func done(res [][]byte, dumpIntr bool) ([][]byte, error) {
	if dumpIntr {
		return res, nl.ErrDumpInterrupted
	}
	return res, nil
}
