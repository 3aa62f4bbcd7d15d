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

// nftables rules in scratch namespaces (the NAT router of measure
// --nat-timeout, Pair.Drop), written over netlink by hand: a batch of a
// few messages each. A library for it (google/nftables) ran its package
// init at every tcpka start, show included, and took about 0.3 MB of the
// binary. nft_test.go holds these bytes to what google/nftables v0.3.0
// sends for the same rules.

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
	const table = "tcpka"
	ifname := make([]byte, unix.IFNAMSIZ)
	copy(ifname, natOutside)
	invalid := binary.NativeEndian.AppendUint32(nil, 1) // NF_CT_STATE_INVALID_BIT, in host order as ct writes it
	zero := binary.NativeEndian.AppendUint32(nil, 0)
	w := nlWriter{family: unix.NFPROTO_IPV4}
	batch := [][]byte{w.batchMsg(unix.NFNL_MSG_BATCH_BEGIN), w.table(table)}

	batch = append(batch, w.chain(table, "prerouting", "filter", unix.NF_INET_PRE_ROUTING, -150)) // priority mangle
	w.rule(table, "prerouting")
	e := w.expr("ct")
	w.u32(unix.NFTA_CT_KEY, unix.NFT_CT_STATE)
	w.u32(unix.NFTA_CT_DREG, reg1)
	w.endExpr(e)
	e = w.expr("bitwise")
	w.u32(unix.NFTA_BITWISE_SREG, reg1)
	w.u32(unix.NFTA_BITWISE_DREG, reg1)
	w.u32(unix.NFTA_BITWISE_LEN, 4)
	w.value(unix.NFTA_BITWISE_MASK, invalid)
	w.value(unix.NFTA_BITWISE_XOR, zero)
	w.endExpr(e)
	w.cmp(reg1, unix.NFT_CMP_NEQ, zero)
	w.drop()
	batch = append(batch, w.endRule())

	batch = append(batch, w.chain(table, "postrouting", "nat", unix.NF_INET_POST_ROUTING, 100)) // priority srcnat
	w.rule(table, "postrouting")
	e = w.expr("meta")
	w.u32(unix.NFTA_META_KEY, unix.NFT_META_OIFNAME)
	w.u32(unix.NFTA_META_DREG, reg1)
	w.endExpr(e)
	w.cmp(reg1, unix.NFT_CMP_EQ, ifname)
	w.endExpr(w.expr("masq"))
	batch = append(batch, w.endRule())

	return append(batch, w.batchMsg(unix.NFNL_MSG_BATCH_END))
}

// dropBatch is Pair.Drop's batch (its rules in nft's words are there):
// the table and its chains when withTable, then a rule in each chain
// dropping TCP with source port aPort coming in and destination port
// aPort going out.
func dropBatch(aPort uint16, withTable bool) [][]byte {
	const table = "tcpka"
	w := nlWriter{family: unix.NFPROTO_INET}
	batch := [][]byte{w.batchMsg(unix.NFNL_MSG_BATCH_BEGIN)}
	if withTable {
		batch = append(batch, w.table(table),
			w.chain(table, "in", "filter", unix.NF_INET_PRE_ROUTING, -300), // priority raw
			w.chain(table, "out", "filter", unix.NF_INET_LOCAL_OUT, -300))  // priority raw
	}
	port := binary.BigEndian.AppendUint16(nil, aPort)
	for _, r := range []struct {
		chain string
		off   uint32 // source port in, destination port out
	}{{"in", 0}, {"out", 2}} {
		w.rule(table, r.chain)
		e := w.expr("meta")
		w.u32(unix.NFTA_META_KEY, unix.NFT_META_L4PROTO)
		w.u32(unix.NFTA_META_DREG, reg1)
		w.endExpr(e)
		w.cmp(reg1, unix.NFT_CMP_EQ, []byte{unix.IPPROTO_TCP})
		e = w.expr("payload")
		w.u32(unix.NFTA_PAYLOAD_DREG, reg1)
		w.u32(unix.NFTA_PAYLOAD_BASE, unix.NFT_PAYLOAD_TRANSPORT_HEADER)
		w.u32(unix.NFTA_PAYLOAD_OFFSET, r.off)
		w.u32(unix.NFTA_PAYLOAD_LEN, 2)
		w.endExpr(e)
		w.cmp(reg1, unix.NFT_CMP_EQ, port)
		w.drop()
		batch = append(batch, w.endRule())
	}
	return append(batch, w.batchMsg(unix.NFNL_MSG_BATCH_END))
}

const (
	reg1   = 1 // NFT_REG_1
	nfDrop = 0 // NF_DROP
)

// nlWriter writes one netlink message at a time: a header, then
// attributes (struct nlattr, host order, each padded to 4 bytes), nested
// ones between nest and end. Numbers are in network order, as nf_tables
// takes them.
type nlWriter struct {
	family uint8 // of the tables, chains and rules: NFPROTO_*
	b      []byte
	exprs  int // where the open rule's expression list starts
}

// msg starts a message (struct nlmsghdr) with an nfnetlink header (struct
// nfgenmsg: family, version, resource id in network order).
func (w *nlWriter) msg(typ, flags uint16, family uint8, resID uint16) {
	w.b = make([]byte, unix.SizeofNlMsghdr, 256)
	binary.NativeEndian.PutUint16(w.b[4:6], typ)
	binary.NativeEndian.PutUint16(w.b[6:8], flags)
	w.b = append(w.b, family, unix.NFNETLINK_V0)
	w.b = binary.BigEndian.AppendUint16(w.b, resID)
}

// done ends the message: its length goes in its header.
func (w *nlWriter) done() []byte {
	b := w.b
	binary.NativeEndian.PutUint32(b[0:4], uint32(len(b)))
	w.b = nil
	return b
}

// nftMsg starts an nf_tables message for w's family that asks for an ack.
func (w *nlWriter) nftMsg(typ, flags uint16) {
	w.msg(unix.NFNL_SUBSYS_NFTABLES<<8|typ, unix.NLM_F_REQUEST|unix.NLM_F_ACK|flags, w.family, 0)
}

// batchMsg is the message that begins or ends a batch for nf_tables.
func (w *nlWriter) batchMsg(typ uint16) []byte {
	w.msg(typ, unix.NLM_F_REQUEST, unix.NFPROTO_UNSPEC, unix.NFNL_SUBSYS_NFTABLES)
	return w.done()
}

// attr appends an attribute holding data. Not inlined: the batch is
// written once per measurement, and inlining attr into its forty-odd
// callers doubled the writer's code (10 KB more of the binary).
//
//go:noinline
func (w *nlWriter) attr(typ uint16, data []byte) {
	w.b = binary.NativeEndian.AppendUint16(w.b, uint16(unix.SizeofNlAttr+len(data)))
	w.b = binary.NativeEndian.AppendUint16(w.b, typ)
	w.b = append(w.b, data...)
	w.pad()
}

func (w *nlWriter) pad() {
	for len(w.b)%4 != 0 {
		w.b = append(w.b, 0)
	}
}

// u32 appends a number attribute.
func (w *nlWriter) u32(typ uint16, v uint32) { w.attr(typ, binary.BigEndian.AppendUint32(nil, v)) }

// str appends a NUL-terminated string attribute.
func (w *nlWriter) str(typ uint16, s string) { w.attr(typ, append([]byte(s), 0)) }

// nest opens a nested attribute; end closes it.
func (w *nlWriter) nest(typ uint16) int {
	at := len(w.b)
	w.attr(typ|unix.NLA_F_NESTED, nil)
	return at
}

func (w *nlWriter) end(at int) {
	binary.NativeEndian.PutUint16(w.b[at:at+2], uint16(len(w.b)-at))
}

// value appends a nested NFTA_DATA_VALUE holding v.
func (w *nlWriter) value(typ uint16, v []byte) {
	at := w.nest(typ)
	w.attr(unix.NFTA_DATA_VALUE, v)
	w.end(at)
}

// table is a table (nft add table: kept if it exists).
func (w *nlWriter) table(name string) []byte {
	w.nftMsg(unix.NFT_MSG_NEWTABLE, unix.NLM_F_CREATE)
	w.str(unix.NFTA_TABLE_NAME, name)
	w.u32(unix.NFTA_TABLE_FLAGS, 0)
	return w.done()
}

// chain is a base chain of table on hook at priority.
func (w *nlWriter) chain(table, name, typ string, hook uint32, priority int32) []byte {
	w.nftMsg(unix.NFT_MSG_NEWCHAIN, unix.NLM_F_CREATE)
	w.str(unix.NFTA_CHAIN_TABLE, table)
	w.str(unix.NFTA_CHAIN_NAME, name)
	at := w.nest(unix.NFTA_CHAIN_HOOK)
	w.u32(unix.NFTA_HOOK_HOOKNUM, hook)
	w.u32(unix.NFTA_HOOK_PRIORITY, uint32(priority))
	w.end(at)
	w.str(unix.NFTA_CHAIN_TYPE, typ)
	return w.done()
}

// rule starts a rule appended to chain (nft add rule; the kernel echoes
// it back); its expressions follow, and endRule ends it.
func (w *nlWriter) rule(table, chain string) {
	w.nftMsg(unix.NFT_MSG_NEWRULE, unix.NLM_F_CREATE|unix.NLM_F_ECHO|unix.NLM_F_APPEND)
	w.str(unix.NFTA_RULE_TABLE, table)
	w.str(unix.NFTA_RULE_CHAIN, chain)
	w.exprs = w.nest(unix.NFTA_RULE_EXPRESSIONS)
}

func (w *nlWriter) endRule() []byte {
	w.end(w.exprs)
	return w.done()
}

// expr opens one expression of a rule, named name: its attributes follow,
// then endExpr.
func (w *nlWriter) expr(name string) (at [2]int) {
	at[0] = w.nest(unix.NFTA_LIST_ELEM)
	w.str(unix.NFTA_EXPR_NAME, name)
	at[1] = w.nest(unix.NFTA_EXPR_DATA)
	return at
}

func (w *nlWriter) endExpr(at [2]int) {
	w.end(at[1])
	w.end(at[0])
}

// cmp compares register reg with value.
func (w *nlWriter) cmp(reg, op uint32, value []byte) {
	e := w.expr("cmp")
	w.u32(unix.NFTA_CMP_SREG, reg)
	w.u32(unix.NFTA_CMP_OP, op)
	w.value(unix.NFTA_CMP_DATA, value)
	w.endExpr(e)
}

// drop ends a rule with the verdict drop.
func (w *nlWriter) drop() {
	e := w.expr("immediate")
	w.u32(unix.NFTA_IMMEDIATE_DREG, unix.NFT_REG_VERDICT)
	data := w.nest(unix.NFTA_IMMEDIATE_DATA)
	verdict := w.nest(unix.NFTA_DATA_VERDICT)
	w.u32(unix.NFTA_VERDICT_CODE, nfDrop)
	w.end(verdict)
	w.end(data)
	w.endExpr(e)
}

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
