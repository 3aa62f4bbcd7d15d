package nodetimer

import (
	"encoding/binary"
	"errors"
	"fmt"
	"sort"
	"strings"

	"github.com/vishvananda/netlink/nl"
	"golang.org/x/sys/unix"
)

// nftables ct timeout objects (include/uapi/linux/netfilter/nf_tables.h,
// nfnetlink_cttimeout.h). google/nftables v0.3.0 decodes these objects
// into one package-level map shared by every object it returns, so a dump
// of two objects reports the last one's values for both (seen here:
// established 111 and 222 both read back as 222); the dump is decoded
// here instead, in a few lines over the netlink package tcpka already
// links.
const (
	nftaCtTimeoutL3Proto = 1 // NFTA_CT_TIMEOUT_L3PROTO, be16
	nftaCtTimeoutL4Proto = 2 // NFTA_CT_TIMEOUT_L4PROTO, u8
	nftaCtTimeoutData    = 3 // NFTA_CT_TIMEOUT_DATA, nested per-state values
	ctaTimeoutTCPEstab   = 3 // CTA_TIMEOUT_TCP_ESTABLISHED, be32 seconds
)

// CtTimeout is one nftables ct timeout object with its TCP established
// timeout.
type CtTimeout struct {
	Family      string // "inet", "ip", "ip6", ...
	Table, Name string
	// EstablishedS is the policy's established value, in seconds (the
	// kernel reports every state, defaults included).
	EstablishedS int
}

// Source is how nft names where it is: "table inet filter".
func (c CtTimeout) Source() string { return "nft table " + c.Family + " " + c.Table }

// nft lists the TCP ct timeout objects.
func (s Sources) nft() ([]Timer, *Unread) {
	objs, err := s.CtTimeouts()
	if err != nil {
		return nil, unreadErr(NftCtTimeout, "nftables ct timeout objects", err)
	}
	if len(objs) == 0 {
		return nil, &Unread{Kind: NftCtTimeout, Why: "no TCP ct timeout object in the nftables ruleset"}
	}
	var ts []Timer
	for _, o := range objs {
		ts = append(ts, Timer{Kind: NftCtTimeout, Name: o.Name, IdleTimeoutS: o.EstablishedS, Source: o.Source(),
			Note: "for flows a rule assigns it to (ct timeout set \"" + o.Name + "\")"})
	}
	return ts, nil
}

// nfgenmsg is struct nfgenmsg: family, version, resource id (big endian).
type nfgenmsg struct{ family uint8 }

func (m *nfgenmsg) Len() int { return 4 }

func (m *nfgenmsg) Serialize() []byte { return []byte{m.family, unix.NFNETLINK_V0, 0, 0} }

// DumpCtTimeouts dumps the ct timeout objects of every nftables table in
// the calling thread's network namespace (NFT_MSG_GETOBJ filtered by
// NFT_OBJECT_CT_TIMEOUT) and keeps the TCP ones, sorted by family, table
// and name. Needs CAP_NET_ADMIN (nfnetlink answers EPERM otherwise).
func DumpCtTimeouts() ([]CtTimeout, error) {
	req := nl.NewNetlinkRequest(unix.NFNL_SUBSYS_NFTABLES<<8|unix.NFT_MSG_GETOBJ, unix.NLM_F_DUMP)
	req.AddData(&nfgenmsg{family: unix.NFPROTO_UNSPEC})
	req.AddData(nl.NewRtAttr(unix.NFTA_OBJ_TYPE, binary.BigEndian.AppendUint32(nil, unix.NFT_OBJECT_CT_TIMEOUT)))
	msgs, err := req.Execute(unix.NETLINK_NETFILTER, unix.NFNL_SUBSYS_NFTABLES<<8|unix.NFT_MSG_NEWOBJ)
	if err != nil && !errors.Is(err, nl.ErrDumpInterrupted) {
		return nil, err
	}
	// An interrupted dump (the ruleset changed meanwhile) is kept: every
	// object it holds was accurate when sent.
	var out []CtTimeout
	for _, m := range msgs {
		o, tcp, err := parseCtTimeoutObj(m)
		if err != nil {
			return nil, err
		}
		if tcp {
			out = append(out, o)
		}
	}
	sort.Slice(out, func(i, j int) bool {
		a, b := out[i], out[j]
		return a.Family+"\x00"+a.Table+"\x00"+a.Name < b.Family+"\x00"+b.Table+"\x00"+b.Name
	})
	return out, nil
}

// parseCtTimeoutObj decodes one NFT_MSG_NEWOBJ; tcp is false for an
// object of another type or protocol.
func parseCtTimeoutObj(m []byte) (o CtTimeout, tcp bool, err error) {
	if len(m) < 4 {
		return o, false, errors.New("nftables object: short message")
	}
	o.Family = familyName(m[0])
	attrs, err := nl.ParseRouteAttr(m[4:])
	if err != nil {
		return o, false, fmt.Errorf("nftables object: %w", err)
	}
	var data []byte
	isTimeout := false
	for _, a := range attrs {
		switch a.Attr.Type & nlaTypeMask {
		case unix.NFTA_OBJ_TABLE:
			o.Table = cString(a.Value)
		case unix.NFTA_OBJ_NAME:
			o.Name = cString(a.Value)
		case unix.NFTA_OBJ_TYPE:
			isTimeout = len(a.Value) >= 4 && binary.BigEndian.Uint32(a.Value) == unix.NFT_OBJECT_CT_TIMEOUT
		case unix.NFTA_OBJ_DATA:
			data = a.Value
		}
	}
	if !isTimeout || data == nil {
		return o, false, nil
	}
	inner, err := nl.ParseRouteAttr(data)
	if err != nil {
		return o, false, fmt.Errorf("nftables ct timeout %s: %w", o.Name, err)
	}
	found := false
	for _, a := range inner {
		switch a.Attr.Type & nlaTypeMask {
		case nftaCtTimeoutL4Proto:
			tcp = len(a.Value) >= 1 && a.Value[0] == unix.IPPROTO_TCP
		case nftaCtTimeoutData:
			states, err := nl.ParseRouteAttr(a.Value)
			if err != nil {
				return o, false, fmt.Errorf("nftables ct timeout %s: %w", o.Name, err)
			}
			for _, st := range states {
				if st.Attr.Type&nlaTypeMask == ctaTimeoutTCPEstab && len(st.Value) >= 4 {
					o.EstablishedS, found = int(binary.BigEndian.Uint32(st.Value)), true
				}
			}
		}
	}
	if tcp && !found {
		return o, false, fmt.Errorf("nftables ct timeout %s: no established value", o.Name)
	}
	return o, tcp, nil
}

// familyName is nft's name for a table family (NFPROTO_*).
func familyName(f uint8) string {
	switch f {
	case unix.NFPROTO_INET:
		return "inet"
	case unix.NFPROTO_IPV4:
		return "ip"
	case unix.NFPROTO_IPV6:
		return "ip6"
	case unix.NFPROTO_ARP:
		return "arp"
	case unix.NFPROTO_BRIDGE:
		return "bridge"
	case unix.NFPROTO_NETDEV:
		return "netdev"
	}
	return fmt.Sprintf("family-%d", f)
}

// cString is a NUL-terminated attribute as a string.
func cString(b []byte) string {
	s, _, _ := strings.Cut(string(b), "\x00")
	return s
}

// nlaTypeMask strips NLA_F_NESTED and NLA_F_NET_BYTEORDER from an
// attribute's type.
const nlaTypeMask = ^uint16(unix.NLA_F_NESTED | unix.NLA_F_NET_BYTEORDER)
