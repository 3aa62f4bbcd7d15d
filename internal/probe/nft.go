package probe

import (
	"encoding/binary"
	"errors"
	"fmt"
	"os"
	"syscall"
	"time"

	"golang.org/x/sys/unix"
)

// The scratch router's nftables rules, written over netlink by hand: one
// batch of five messages. A library for it (google/nftables) ran its
// package init at every tcpka start, show included, for this one command,
// and took about 0.3 MB of the binary. nat_test.go holds these bytes to
// what google/nftables v0.3.0 sends for the same rules.

// natRules is, in nft's words:
//
//	table ip tcpka {
//		chain prerouting { type filter hook prerouting priority mangle; ct state invalid drop }
//		chain postrouting { type nat hook postrouting priority srcnat; oifname "tcpka2" masquerade }
//	}
//
// Dropping invalid packets in prerouting covers both directions: a
// forgotten flow's packets from the client (forwarded) and from the server
// (addressed to the router itself, which would otherwise answer with a RST).
// It talks to the calling thread's network namespace.
func natRules() error {
	return nftCommit(natBatch())
}

// natBatch is natRules' batch: begin, table, both chains with their rule,
// end. Each message has its header's length and type set; sequence and
// port ID are left 0 for nftCommit to fill.
func natBatch() [][]byte {
	const (
		table  = "tcpka"
		reg1   = 1 // NFT_REG_1
		nfDrop = 0 // NF_DROP
	)
	ifname := make([]byte, unix.IFNAMSIZ)
	copy(ifname, natOutside)
	invalid := binary.NativeEndian.AppendUint32(nil, 1) // NF_CT_STATE_INVALID_BIT, in host order as ct writes it
	zero := binary.NativeEndian.AppendUint32(nil, 0)
	return [][]byte{
		nftBatchMsg(unix.NFNL_MSG_BATCH_BEGIN),
		nftMsg(unix.NFT_MSG_NEWTABLE, unix.NLM_F_CREATE,
			nlAttr(unix.NFTA_TABLE_NAME, cstr(table)),
			nlAttr(unix.NFTA_TABLE_FLAGS, be32(0))),
		nftChain(table, "prerouting", "filter", unix.NF_INET_PRE_ROUTING, -150), // priority mangle
		nftRule(table, "prerouting",
			nftExpr("ct", nlAttr(unix.NFTA_CT_KEY, be32(unix.NFT_CT_STATE)), nlAttr(unix.NFTA_CT_DREG, be32(reg1))),
			nftExpr("bitwise",
				nlAttr(unix.NFTA_BITWISE_SREG, be32(reg1)),
				nlAttr(unix.NFTA_BITWISE_DREG, be32(reg1)),
				nlAttr(unix.NFTA_BITWISE_LEN, be32(4)),
				nlAttr(unix.NLA_F_NESTED|unix.NFTA_BITWISE_MASK, nlAttr(unix.NFTA_DATA_VALUE, invalid)),
				nlAttr(unix.NLA_F_NESTED|unix.NFTA_BITWISE_XOR, nlAttr(unix.NFTA_DATA_VALUE, zero))),
			nftCmp(reg1, unix.NFT_CMP_NEQ, zero),
			nftExpr("immediate",
				nlAttr(unix.NFTA_IMMEDIATE_DREG, be32(unix.NFT_REG_VERDICT)),
				nlAttr(unix.NLA_F_NESTED|unix.NFTA_IMMEDIATE_DATA,
					nlAttr(unix.NLA_F_NESTED|unix.NFTA_DATA_VERDICT, nlAttr(unix.NFTA_VERDICT_CODE, be32(nfDrop)))))),
		nftChain(table, "postrouting", "nat", unix.NF_INET_POST_ROUTING, 100), // priority srcnat
		nftRule(table, "postrouting",
			nftExpr("meta", nlAttr(unix.NFTA_META_KEY, be32(unix.NFT_META_OIFNAME)), nlAttr(unix.NFTA_META_DREG, be32(reg1))),
			nftCmp(reg1, unix.NFT_CMP_EQ, ifname),
			nftExpr("masq")),
		nftBatchMsg(unix.NFNL_MSG_BATCH_END),
	}
}

// nftChain is a base chain of table (family ip) on hook at priority.
func nftChain(table, name, typ string, hook uint32, priority int32) []byte {
	return nftMsg(unix.NFT_MSG_NEWCHAIN, unix.NLM_F_CREATE,
		nlAttr(unix.NFTA_CHAIN_TABLE, cstr(table)),
		nlAttr(unix.NFTA_CHAIN_NAME, cstr(name)),
		nlAttr(unix.NLA_F_NESTED|unix.NFTA_CHAIN_HOOK,
			nlAttr(unix.NFTA_HOOK_HOOKNUM, be32(hook)),
			nlAttr(unix.NFTA_HOOK_PRIORITY, be32(uint32(priority)))),
		nlAttr(unix.NFTA_CHAIN_TYPE, cstr(typ)))
}

// nftRule appends a rule of exprs to chain (nft add rule; the kernel
// echoes it back).
func nftRule(table, chain string, exprs ...[]byte) []byte {
	return nftMsg(unix.NFT_MSG_NEWRULE, unix.NLM_F_CREATE|unix.NLM_F_ECHO|unix.NLM_F_APPEND,
		nlAttr(unix.NFTA_RULE_TABLE, cstr(table)),
		nlAttr(unix.NFTA_RULE_CHAIN, cstr(chain)),
		nlAttr(unix.NLA_F_NESTED|unix.NFTA_RULE_EXPRESSIONS, exprs...))
}

// nftExpr is one expression of a rule: its name and its attributes.
func nftExpr(name string, data ...[]byte) []byte {
	return nlAttr(unix.NLA_F_NESTED|unix.NFTA_LIST_ELEM,
		nlAttr(unix.NFTA_EXPR_NAME, cstr(name)),
		nlAttr(unix.NLA_F_NESTED|unix.NFTA_EXPR_DATA, data...))
}

// nftCmp compares register reg with value.
func nftCmp(reg, op uint32, value []byte) []byte {
	return nftExpr("cmp",
		nlAttr(unix.NFTA_CMP_SREG, be32(reg)),
		nlAttr(unix.NFTA_CMP_OP, be32(op)),
		nlAttr(unix.NLA_F_NESTED|unix.NFTA_CMP_DATA, nlAttr(unix.NFTA_DATA_VALUE, value)))
}

// nftMsg is an nf_tables message for family ip that asks for an ack.
func nftMsg(typ, flags uint16, attrs ...[]byte) []byte {
	return nlMsg(unix.NFNL_SUBSYS_NFTABLES<<8|typ, unix.NLM_F_REQUEST|unix.NLM_F_ACK|flags, unix.NFPROTO_IPV4, 0, attrs...)
}

// nftBatchMsg begins or ends a batch for nf_tables.
func nftBatchMsg(typ uint16) []byte {
	return nlMsg(typ, unix.NLM_F_REQUEST, unix.NFPROTO_UNSPEC, unix.NFNL_SUBSYS_NFTABLES)
}

// nlMsg is a netlink message (struct nlmsghdr, host order) with an
// nfnetlink header (struct nfgenmsg: family, version, resource id in
// network order) and attrs.
func nlMsg(typ, flags uint16, family uint8, resID uint16, attrs ...[]byte) []byte {
	b := make([]byte, unix.SizeofNlMsghdr, 64)
	b = append(b, family, unix.NFNETLINK_V0)
	b = binary.BigEndian.AppendUint16(b, resID)
	for _, a := range attrs {
		b = append(b, a...)
	}
	binary.NativeEndian.PutUint32(b[0:4], uint32(len(b)))
	binary.NativeEndian.PutUint16(b[4:6], typ)
	binary.NativeEndian.PutUint16(b[6:8], flags)
	return b
}

// nlAttr is one netlink attribute (struct nlattr, host order) holding
// data, padded to 4 bytes.
func nlAttr(typ uint16, data ...[]byte) []byte {
	n := unix.SizeofNlAttr
	for _, d := range data {
		n += len(d)
	}
	b := make([]byte, unix.SizeofNlAttr, (n+3)&^3)
	binary.NativeEndian.PutUint16(b[0:2], uint16(n))
	binary.NativeEndian.PutUint16(b[2:4], typ)
	for _, d := range data {
		b = append(b, d...)
	}
	return append(b, make([]byte, cap(b)-len(b))...)
}

// be32 is v in network order, as nf_tables takes its numbers.
func be32(v uint32) []byte { return binary.BigEndian.AppendUint32(nil, v) }

// cstr is s NUL-terminated.
func cstr(s string) []byte { return append([]byte(s), 0) }

// nftCommit sends batch over a netlink socket of the calling thread's
// network namespace and waits for the kernel's answer to each message that
// asked for one. The kernel applies the whole batch or none of it. Errors
// read as google/nftables' did: "netlink receive: ERRNO", after
// "conn.Receive: " but for EPERM and ENOBUFS.
func nftCommit(batch [][]byte) error {
	fd, err := unix.Socket(unix.AF_NETLINK, unix.SOCK_RAW|unix.SOCK_CLOEXEC, unix.NETLINK_NETFILTER)
	if err != nil {
		return os.NewSyscallError("socket", err)
	}
	defer unix.Close(fd)
	if err := unix.Bind(fd, &unix.SockaddrNetlink{Family: unix.AF_NETLINK}); err != nil {
		return os.NewSyscallError("bind", err)
	}
	// The kernel answers before sendto returns; the timeout only bounds a
	// wait for an answer that will never come.
	tv := unix.NsecToTimeval(int64(5 * time.Second))
	if err := unix.SetsockoptTimeval(fd, unix.SOL_SOCKET, unix.SO_RCVTIMEO, &tv); err != nil {
		return os.NewSyscallError("setsockopt", err)
	}
	var buf []byte
	acks := 0
	for i, m := range batch {
		binary.NativeEndian.PutUint32(m[8:12], uint32(i+1)) // sequence
		if binary.NativeEndian.Uint16(m[6:8])&unix.NLM_F_ACK != 0 {
			acks++
		}
		buf = append(buf, m...)
	}
	if err := unix.Sendto(fd, buf, 0, &unix.SockaddrNetlink{Family: unix.AF_NETLINK}); err != nil {
		return fmt.Errorf("SendMessages: %w", os.NewSyscallError("sendto", err))
	}
	// One answer (NLMSG_ERROR, errno 0 for success) per message that asked;
	// the rules' echoes come before them and are skipped.
	var errs error
	rb := make([]byte, 1<<16)
	for acks > 0 {
		n, _, err := unix.Recvfrom(fd, rb, 0)
		if err != nil {
			return os.NewSyscallError("recvfrom", err)
		}
		msgs, err := syscall.ParseNetlinkMessage(rb[:n])
		if err != nil {
			return fmt.Errorf("netlink receive: %w", err)
		}
		for _, m := range msgs {
			if m.Header.Type != unix.NLMSG_ERROR {
				continue
			}
			acks--
			if len(m.Data) < 4 {
				return errors.New("netlink receive: short error message")
			}
			errno := int32(binary.NativeEndian.Uint32(m.Data[:4]))
			if errno == 0 {
				continue
			}
			err := fmt.Errorf("netlink receive: %w", syscall.Errno(-errno))
			if errors.Is(err, os.ErrPermission) || errors.Is(err, syscall.ENOBUFS) {
				return err
			}
			errs = errors.Join(errs, err)
			if len(m.Data) >= 4+unix.SizeofNlMsghdr && binary.NativeEndian.Uint32(m.Data[4+8:4+12]) == 1 {
				// The answer to the batch's begin: the kernel refused
				// the batch as a whole and answers nothing else.
				acks = 0
			}
		}
	}
	if errs != nil {
		return fmt.Errorf("conn.Receive: %w", errs)
	}
	return nil
}
