package rearm

import (
	"encoding/binary"
	"fmt"
	"net/netip"

	"github.com/cilium/ebpf/asm"
	"github.com/tcpka/tcpka/internal/sockdiag"
)

// Constants of the kernel ABI the program uses (include/uapi/linux/bpf.h,
// asm-generic/socket.h, linux/socket.h, net/tcp_states.h).
const (
	solSocket   = 1  // SOL_SOCKET
	soKeepalive = 9  // SO_KEEPALIVE
	afInet      = 2  // AF_INET
	afInet6     = 10 // AF_INET6
)

// keepaliveStates are the states in which the kernel runs the keepalive
// timer of a socket that a process still holds: not LISTEN or CLOSE
// (tcp_set_keepalive ignores them), not SYN-SENT (the timer does nothing
// there and connect arms it afresh with the sysctls), not TIME-WAIT or
// NEW-SYN-RECV (no full socket). The BPF program and the pidfd fallback
// use the same set.
var keepaliveStates = []sockdiag.State{
	sockdiag.Established, sockdiag.FinWait1, sockdiag.FinWait2,
	sockdiag.CloseWait, sockdiag.LastAck, sockdiag.Closing,
}

// stateMask is keepaliveStates as a bit set (bit n: state n), the form
// both inet_diag and the program take.
func stateMask() sockdiag.States {
	var m sockdiag.States
	for _, s := range keepaliveStates {
		m |= 1 << s
	}
	return m
}

// Verdicts as the program writes them (record byte 31).
const (
	vOff      = 1 // SO_KEEPALIVE off
	vOwn      = 2 // own TCP_KEEPIDLE
	vCurrent  = 3 // timer due within the sysctl time already
	vRearmed  = 4 // toggled
	vWould    = 5 // dry run: would toggle
	vFailed   = 6 // SO_KEEPALIVE=0 refused: nothing changed
	vLeftOff  = 7 // SO_KEEPALIVE=1 refused after 0 succeeded: keepalive is off
	recordLen = 64
)

// Record layout, as offsets from the record's start on the stack at
// fp-64. All fields are native-endian except the peer port, which the
// kernel keeps in network order (skc_dport).
const (
	rCookie  = 0  // u64 socket cookie (bpf_get_socket_cookie)
	rInode   = 8  // u32 inode of the socket file, 0 without one
	rErr     = 12 // s32 bpf_setsockopt's error
	rDue     = 16 // u32 jiffies until sk_timer fires (dueNone: not pending)
	rLimit   = 20 // u32 the namespace's tcp_keepalive_time in jiffies
	rFamily  = 24 // u16
	rLport   = 26 // u16 host order
	rRport   = 28 // u16 network order
	rState   = 30 // u8
	rVerdict = 31 // u8
	rLocal   = 32 // [16]byte: IPv6 address, or IPv4 in the first 4 bytes
	rPeer    = 48 // [16]byte
	recBase  = -recordLen
	optval   = recBase - 8 // the int that bpf_setsockopt reads

	dueNone = 0xffffffff
	dueMax  = 1<<31 - 1
)

// instructions assembles the iterator program for layout l. Per socket
// of the iterator's namespace it skips what is not a full TCP socket in a
// keepalive state held by a process (orphans' sk_timer is their FIN-WAIT-2
// timer and must not be touched), reads SO_KEEPALIVE from sk_flags and
// the own idle time from tcp_sock.keepalive_time, compares the pending
// keepalive timer with the namespace's sysctl, and only where the timer
// is due later than the sysctl allows (or not pending at all) toggles
// SO_KEEPALIVE off and on: tcp_set_keepalive then re-arms it with
// keepalive_time_when(), the sysctl. It writes one 64-byte record per
// socket it judged to the iterator's output (bpf_seq_write).
//
// The record of a socket it toggles is written before the toggle: when
// the iterator's buffer is full, bpf_seq_write fails, the program returns
// without toggling, and the kernel shows the socket again on the next
// read, so no change ever goes unreported. A refused toggle adds a
// second record for the same cookie that replaces the first.
//
// The iterator locks each full socket before calling the program
// (bpf_iter_tcp_seq_show), so the checks and the toggle are atomic with
// respect to the owning process's own setsockopt calls.
func instructions(l layout, dry bool) asm.Instructions {
	const r int16 = recBase
	insns := asm.Instructions{
		asm.Mov.Reg(asm.R6, asm.R1),
		asm.LoadMem(asm.R7, asm.R6, l.ctxSk, asm.DWord),
		asm.JEq.Imm(asm.R7, 0, "out"),
		asm.LoadMem(asm.R6, asm.R6, l.ctxMeta, asm.DWord),
		asm.LoadMem(asm.R6, asm.R6, l.metaSeq, asm.DWord), // r6 = seq_file
		asm.Mov.Reg(asm.R1, asm.R7),
		asm.FnSkcToTcpSock.Call(), // NULL for TIME-WAIT and request sockets
		asm.JEq.Imm(asm.R0, 0, "out"),
		asm.Mov.Reg(asm.R7, asm.R0), // r7 = tcp_sock

		asm.LoadMem(asm.R2, asm.R7, l.state, asm.Byte),
		asm.Mov.Imm(asm.R3, 1),
		asm.LSh.Reg(asm.R3, asm.R2),
		asm.And.Imm(asm.R3, int32(stateMask())),
		asm.JEq.Imm(asm.R3, 0, "out"),

		asm.LoadMem(asm.R8, asm.R7, l.flags, asm.DWord), // r8 = sk_flags
		asm.Mov.Reg(asm.R3, asm.R8),
		asm.RSh.Imm(asm.R3, int32(l.sockDead)),
		asm.And.Imm(asm.R3, 1),
		asm.JNE.Imm(asm.R3, 0, "out"), // orphan: closed by its process
	}
	// Zero the record (cilium/ebpf has no 8-byte store of an immediate).
	insns = append(insns, asm.Mov.Imm(asm.R1, 0))
	for off := int16(0); off < recordLen; off += 8 {
		insns = append(insns, asm.StoreMem(asm.RFP, r+off, asm.R1, asm.DWord))
	}
	insns = append(insns,
		asm.StoreMem(asm.RFP, r+rState, asm.R2, asm.Byte),
		asm.LoadMem(asm.R9, asm.R7, l.family, asm.Half),
		asm.StoreMem(asm.RFP, r+rFamily, asm.R9, asm.Half),
		asm.LoadMem(asm.R1, asm.R7, l.num, asm.Half),
		asm.StoreMem(asm.RFP, r+rLport, asm.R1, asm.Half),
		asm.LoadMem(asm.R1, asm.R7, l.dport, asm.Half),
		asm.StoreMem(asm.RFP, r+rRport, asm.R1, asm.Half),
		asm.JNE.Imm(asm.R9, afInet6, "v4"),
	)
	for i := int16(0); i < 16; i += 4 {
		insns = append(insns,
			asm.LoadMem(asm.R1, asm.R7, l.v6RcvSaddr+i, asm.Word),
			asm.StoreMem(asm.RFP, r+rLocal+i, asm.R1, asm.Word),
			asm.LoadMem(asm.R1, asm.R7, l.v6Daddr+i, asm.Word),
			asm.StoreMem(asm.RFP, r+rPeer+i, asm.R1, asm.Word),
		)
	}
	insns = append(insns,
		asm.Ja.Label("addr"),
		asm.LoadMem(asm.R1, asm.R7, l.rcvSaddr, asm.Word).WithSymbol("v4"),
		asm.StoreMem(asm.RFP, r+rLocal, asm.R1, asm.Word),
		asm.LoadMem(asm.R1, asm.R7, l.daddr, asm.Word),
		asm.StoreMem(asm.RFP, r+rPeer, asm.R1, asm.Word),

		asm.Mov.Reg(asm.R1, asm.R7).WithSymbol("addr"),
		asm.FnGetSocketCookie.Call(),
		asm.StoreMem(asm.RFP, r+rCookie, asm.R0, asm.DWord),

		// sk_socket->file->f_inode->i_ino: the inode sock_diag and
		// /proc/PID/fd show. Loads through BTF pointers cannot fault
		// (a NULL reads as 0), the checks only save work.
		asm.LoadMem(asm.R1, asm.R7, l.socket, asm.DWord),
		asm.JEq.Imm(asm.R1, 0, "judge"),
		asm.LoadMem(asm.R1, asm.R1, l.sockFile, asm.DWord),
		asm.JEq.Imm(asm.R1, 0, "judge"),
		asm.LoadMem(asm.R1, asm.R1, l.fileInode, asm.DWord),
		asm.JEq.Imm(asm.R1, 0, "judge"),
		asm.LoadMem(asm.R1, asm.R1, l.inodeIno, asm.DWord),
		asm.StoreMem(asm.RFP, r+rInode, asm.R1, asm.Word),

		asm.Mov.Reg(asm.R1, asm.R8).WithSymbol("judge"),
		asm.RSh.Imm(asm.R1, int32(l.sockKeepopen)),
		asm.And.Imm(asm.R1, 1),
		asm.JNE.Imm(asm.R1, 0, "on"),
		asm.Mov.Imm(asm.R1, vOff),
		asm.Ja.Label("emit"),

		asm.LoadMem(asm.R1, asm.R7, l.keepaliveTime, asm.Word).WithSymbol("on"),
		asm.JEq.Imm(asm.R1, 0, "follows"),
		asm.Mov.Imm(asm.R1, vOwn),
		asm.Ja.Label("emit"),

		// r8 = the sysctl in jiffies, as keepalive_time_when() reads it.
		asm.LoadMem(asm.R1, asm.R7, l.net, asm.DWord).WithSymbol("follows"),
		asm.LoadMem(asm.R8, asm.R1, l.netKeepalive, asm.Word),
		asm.StoreMem(asm.RFP, r+rLimit, asm.R8, asm.Word),
		asm.LoadMem(asm.R1, asm.R7, l.timerPprev, asm.DWord),
		asm.JNE.Imm(asm.R1, 0, "pending"),
		asm.StoreImm(asm.RFP, r+rDue, -1, asm.Word), // dueNone
		asm.Ja.Label("stale"),

		asm.LoadMem(asm.R9, asm.R7, l.timerExpires, asm.DWord).WithSymbol("pending"),
		asm.FnJiffies64.Call(),
		asm.Sub.Reg(asm.R9, asm.R0), // r9 = jiffies until it fires
		asm.Mov.Reg(asm.R1, asm.R9),
		asm.JSGE.Imm(asm.R1, 0, "notpast"),
		asm.Mov.Imm(asm.R1, 0),
		asm.JSLE.Imm(asm.R1, dueMax, "store").WithSymbol("notpast"),
		asm.Mov.Imm(asm.R1, dueMax),
		asm.StoreMem(asm.RFP, r+rDue, asm.R1, asm.Word).WithSymbol("store"),
		asm.JSGT.Reg(asm.R9, asm.R8, "stale"),
		asm.Mov.Imm(asm.R1, vCurrent),
		asm.Ja.Label("emit"),
	)
	if dry {
		insns = append(insns, asm.Mov.Imm(asm.R1, vWould).WithSymbol("stale"), asm.Ja.Label("emit"))
	} else {
		setKeepalive := func(v int64) asm.Instructions {
			return asm.Instructions{
				asm.StoreImm(asm.RFP, optval, v, asm.Word),
				asm.Mov.Reg(asm.R1, asm.R7),
				asm.Mov.Imm(asm.R2, solSocket),
				asm.Mov.Imm(asm.R3, soKeepalive),
				asm.Mov.Reg(asm.R4, asm.RFP),
				asm.Add.Imm(asm.R4, optval),
				asm.Mov.Imm(asm.R5, 4),
				asm.FnSetsockopt.Call(),
			}
		}
		insns = append(insns, asm.StoreImm(asm.RFP, r+rVerdict, vRearmed, asm.Byte).WithSymbol("stale"))
		insns = append(insns, seqWrite()...)
		insns = append(insns, asm.JNE.Imm(asm.R0, 0, "out")) // no room: shown again
		insns = append(insns, setKeepalive(0)...)
		insns = append(insns, asm.Mov.Imm(asm.R8, vFailed), asm.JNE.Imm(asm.R0, 0, "fail"))
		insns = append(insns, setKeepalive(1)...)
		insns = append(insns, asm.Mov.Imm(asm.R8, vLeftOff), asm.JNE.Imm(asm.R0, 0, "fail"), asm.Ja.Label("out"))
		insns = append(insns,
			asm.StoreMem(asm.RFP, r+rErr, asm.R0, asm.Word).WithSymbol("fail"),
			asm.Mov.Reg(asm.R1, asm.R8),
		)
	}
	insns = append(insns, asm.StoreMem(asm.RFP, r+rVerdict, asm.R1, asm.Byte).WithSymbol("emit"))
	insns = append(insns, seqWrite()...)
	insns = append(insns,
		asm.Mov.Imm(asm.R0, 0).WithSymbol("out"),
		asm.Return(),
	)
	return insns
}

// seqWrite writes the record to the iterator's output; r0 is 0 or
// -EOVERFLOW.
func seqWrite() asm.Instructions {
	return asm.Instructions{
		asm.Mov.Reg(asm.R1, asm.R6),
		asm.Mov.Reg(asm.R2, asm.RFP),
		asm.Add.Imm(asm.R2, recBase),
		asm.Mov.Imm(asm.R3, recordLen),
		asm.FnSeqWrite.Call(),
	}
}

// record is one socket as the program reported it.
type record struct {
	cookie  uint64
	inode   uint32
	err     int32
	due     uint32 // jiffies, dueNone when no timer was pending
	limit   uint32 // jiffies
	family  uint16
	state   sockdiag.State
	verdict uint8
	local   netip.AddrPort
	peer    netip.AddrPort
}

// parseRecord decodes one record.
func parseRecord(b []byte) (record, error) {
	if len(b) != recordLen {
		return record{}, fmt.Errorf("record of %d bytes, want %d", len(b), recordLen)
	}
	ne := binary.NativeEndian
	rec := record{
		cookie:  ne.Uint64(b[rCookie:]),
		inode:   ne.Uint32(b[rInode:]),
		err:     int32(ne.Uint32(b[rErr:])),
		due:     ne.Uint32(b[rDue:]),
		limit:   ne.Uint32(b[rLimit:]),
		family:  ne.Uint16(b[rFamily:]),
		state:   sockdiag.State(b[rState]),
		verdict: b[rVerdict],
	}
	lport, rport := ne.Uint16(b[rLport:]), binary.BigEndian.Uint16(b[rRport:])
	switch rec.family {
	case afInet:
		rec.local = netip.AddrPortFrom(netip.AddrFrom4([4]byte(b[rLocal:rLocal+4])), lport)
		rec.peer = netip.AddrPortFrom(netip.AddrFrom4([4]byte(b[rPeer:rPeer+4])), rport)
	case afInet6:
		rec.local = netip.AddrPortFrom(netip.AddrFrom16([16]byte(b[rLocal:rLocal+16])).Unmap(), lport)
		rec.peer = netip.AddrPortFrom(netip.AddrFrom16([16]byte(b[rPeer:rPeer+16])).Unmap(), rport)
	default:
		return rec, fmt.Errorf("record with address family %d", rec.family)
	}
	if rec.verdict < vOff || rec.verdict > vLeftOff {
		return rec, fmt.Errorf("record with verdict %d", rec.verdict)
	}
	return rec, nil
}
