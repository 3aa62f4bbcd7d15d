package probe

import (
	"bytes"
	"encoding/binary"
	"errors"
	"strings"
	"syscall"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/google/nftables"
	"github.com/google/nftables/binaryutil"
	"github.com/google/nftables/expr"
	"github.com/mdlayher/netlink"
	"github.com/tcpka/tcpka/internal/nstest"
	"golang.org/x/sys/unix"
)

// libraryNATRules adds natRules' rules to c with google/nftables, as
// tcpka did before it wrote the batch itself.
func libraryNATRules(c *nftables.Conn) {
	t := c.AddTable(&nftables.Table{Family: nftables.TableFamilyIPv4, Name: "tcpka"})
	pre := c.AddChain(&nftables.Chain{Name: "prerouting", Table: t, Type: nftables.ChainTypeFilter,
		Hooknum: nftables.ChainHookPrerouting, Priority: nftables.ChainPriorityMangle})
	c.AddRule(&nftables.Rule{Table: t, Chain: pre, Exprs: libraryPrerouting()})
	post := c.AddChain(&nftables.Chain{Name: "postrouting", Table: t, Type: nftables.ChainTypeNAT,
		Hooknum: nftables.ChainHookPostrouting, Priority: nftables.ChainPriorityNATSource})
	c.AddRule(&nftables.Rule{Table: t, Chain: post, Exprs: libraryPostrouting()})
}

func libraryPrerouting() []expr.Any {
	return []expr.Any{
		&expr.Ct{Register: 1, Key: expr.CtKeySTATE},
		&expr.Bitwise{SourceRegister: 1, DestRegister: 1, Len: 4,
			Mask: binaryutil.NativeEndian.PutUint32(expr.CtStateBitINVALID), Xor: binaryutil.NativeEndian.PutUint32(0)},
		&expr.Cmp{Op: expr.CmpOpNeq, Register: 1, Data: binaryutil.NativeEndian.PutUint32(0)},
		&expr.Verdict{Kind: expr.VerdictDrop},
	}
}

func libraryPostrouting() []expr.Any {
	ifname := make([]byte, unix.IFNAMSIZ)
	copy(ifname, natOutside)
	return []expr.Any{
		&expr.Meta{Key: expr.MetaKeyOIFNAME, Register: 1},
		&expr.Cmp{Op: expr.CmpOpEq, Register: 1, Data: ifname},
		&expr.Masq{},
	}
}

// libraryDrop adds Pair.Drop's rules to c with google/nftables, as Drop
// did before it wrote the batch itself.
func libraryDrop(c *nftables.Conn, aPort uint16, withTable bool) {
	t := &nftables.Table{Family: nftables.TableFamilyINet, Name: "tcpka"}
	in := &nftables.Chain{Name: "in", Table: t, Type: nftables.ChainTypeFilter, Hooknum: nftables.ChainHookPrerouting, Priority: nftables.ChainPriorityRaw}
	out := &nftables.Chain{Name: "out", Table: t, Type: nftables.ChainTypeFilter, Hooknum: nftables.ChainHookOutput, Priority: nftables.ChainPriorityRaw}
	if withTable {
		c.AddTable(t)
		c.AddChain(in)
		c.AddChain(out)
	}
	port := binary.BigEndian.AppendUint16(nil, aPort)
	for _, r := range []struct {
		ch  *nftables.Chain
		off uint32
	}{{in, 0}, {out, 2}} {
		c.AddRule(&nftables.Rule{Table: t, Chain: r.ch, Exprs: []expr.Any{
			&expr.Meta{Key: expr.MetaKeyL4PROTO, Register: 1},
			&expr.Cmp{Op: expr.CmpOpEq, Register: 1, Data: []byte{unix.IPPROTO_TCP}},
			&expr.Payload{DestRegister: 1, Base: expr.PayloadBaseTransportHeader, Offset: r.off, Len: 2},
			&expr.Cmp{Op: expr.CmpOpEq, Register: 1, Data: port},
			&expr.Verdict{Kind: expr.VerdictDrop},
		}})
	}
}

// TestBatchesMatchNftables: the batches natRules and Pair.Drop send are,
// byte for byte (sequence numbers and port IDs aside), the ones
// google/nftables v0.3.0 sends for the same rules, which bench/nat/run
// and the tests of Drop measured.
func TestBatchesMatchNftables(t *testing.T) {
	for _, tc := range []struct {
		name    string
		library func(*nftables.Conn)
		ours    [][]byte
	}{
		{"natRules", libraryNATRules, natBatch()},
		{"Drop, first", func(c *nftables.Conn) { libraryDrop(c, 40123, true) }, dropBatch(40123, true)},
		{"Drop, again", func(c *nftables.Conn) { libraryDrop(c, 443, false) }, dropBatch(443, false)},
	} {
		var sent []netlink.Message
		errCaptured := errors.New("captured")
		c, err := nftables.New(nftables.WithTestDial(func(req []netlink.Message) ([]netlink.Message, error) {
			sent = append(sent, req...)
			return nil, errCaptured
		}))
		if err != nil {
			t.Fatal(err)
		}
		tc.library(c)
		if err := c.Flush(); err == nil {
			t.Fatal("the test dialer answered nothing, yet Flush succeeded")
		}
		if len(sent) != len(tc.ours) {
			t.Fatalf("%s: google/nftables sent %d messages, ours has %d", tc.name, len(sent), len(tc.ours))
		}
		for i, m := range sent {
			m.Header.Sequence, m.Header.PID = 0, 0
			want, err := m.MarshalBinary()
			if err != nil {
				t.Fatal(err)
			}
			if got := tc.ours[i]; !bytes.Equal(got, want) {
				t.Errorf("%s: message %d (type %#x):\n got %x\nwant %x", tc.name, i, binary.NativeEndian.Uint16(want[4:6]), got, want)
			}
		}
	}
}

// TestNATRulesInScratchNetns writes the rules in a private network
// namespace and reads them back with google/nftables; a batch the kernel
// refuses comes back as its errno.
func TestNATRulesInScratchNetns(t *testing.T) {
	if !nstest.Private(t) {
		return
	}
	if err := natRules(); err != nil {
		t.Skipf("nf_tables with masquerade and conntrack not available: %v", err)
	}
	c, err := nftables.New()
	if err != nil {
		t.Fatal(err)
	}
	chains, err := c.ListChains()
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, ch := range chains {
		got = append(got, ch.Table.Name+" "+ch.Name+" "+string(ch.Type))
		if ch.Hooknum == nil || ch.Priority == nil {
			t.Errorf("chain %s: not a base chain", ch.Name)
		}
	}
	if want := []string{"tcpka prerouting filter", "tcpka postrouting nat"}; !cmp.Equal(got, want) {
		t.Errorf("chains: %v, want %v", got, want)
	}
	for _, ch := range chains {
		rules, err := c.GetRules(ch.Table, ch)
		if err != nil {
			t.Fatal(err)
		}
		want := libraryPrerouting()
		if ch.Name == "postrouting" {
			want = libraryPostrouting()
		}
		if len(rules) != 1 {
			t.Errorf("chain %s: %d rules, want 1", ch.Name, len(rules))
			continue
		}
		if diff := cmp.Diff(want, rules[0].Exprs); diff != "" {
			t.Errorf("chain %s: expressions (-want +got):\n%s", ch.Name, diff)
		}
	}

	// A rule for a chain that does not exist: the kernel refuses the
	// batch and nothing of it stays.
	var w nlWriter
	w.rule("nosuchtable", "nochain")
	w.endExpr(w.expr("masq"))
	bad := natBatch()
	bad = append(bad[:1:1], w.endRule(), bad[len(bad)-1])
	err = nftCommit(bad)
	if !errors.Is(err, syscall.ENOENT) || !strings.HasPrefix(err.Error(), "conn.Receive: netlink receive: ") {
		t.Errorf("a rule for a missing table: %v, want conn.Receive: netlink receive: ENOENT", err)
	}
}
