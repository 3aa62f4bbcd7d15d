package nodetimer

import (
	"encoding/binary"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/google/nftables"
	"github.com/google/nftables/expr"
	"github.com/tcpka/tcpka/internal/keepalive"
	"github.com/tcpka/tcpka/internal/nstest"
	"github.com/vishvananda/netlink/nl"
	"golang.org/x/sys/unix"
)

// fakeProc writes files under a temporary proc root.
func fakeProc(t *testing.T, files map[string]string) string {
	t.Helper()
	root := t.TempDir()
	for p, v := range files {
		p = filepath.Join(root, p)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(v), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return root
}

const (
	ctFile    = "sys/net/netfilter/nf_conntrack_tcp_timeout_established"
	countFile = "sys/net/netfilter/nf_conntrack_count"
	ipvsFile  = "thread-self/net/ip_vs"
	ipvsTable = `IP Virtual Server version 1.2.1 (size=4096)
Prot LocalAddress:Port Scheduler Flags
  -> RemoteAddress:Port Forward Weight ActiveConn InActConn
TCP  0A600001:01BB rr
  -> 0A000002:01BB      Masq    1      0          0
UDP  0A60000A:0035 rr
FWM  00000001 rr
`
)

func TestRead(t *testing.T) {
	noIPVS := func() (IPVSTimeouts, error) { t.Error("IPVS asked although not loaded"); return IPVSTimeouts{}, nil }
	ipvs900 := func() (IPVSTimeouts, error) { return IPVSTimeouts{TCP: 900, TCPFin: 120, UDP: 300}, nil }
	noNft := func() ([]CtTimeout, error) { return nil, nil }
	eperm := func() ([]CtTimeout, error) { return nil, unix.EPERM }
	tests := []struct {
		name   string
		files  map[string]string
		ipvs   func() (IPVSTimeouts, error)
		nft    func() ([]CtTimeout, error)
		timers []Timer
		unread []Kind
		perm   []Kind // unread with ErrNotPermitted
	}{
		{"kube-proxy node: conntrack 86400 tracking, IPVS with services, one nft policy",
			map[string]string{ctFile: "86400\n", countFile: "42\n", ipvsFile: ipvsTable}, ipvs900,
			func() ([]CtTimeout, error) {
				return []CtTimeout{{Family: "inet", Table: "filter", Name: "idle", EstablishedS: 300}}, nil
			},
			[]Timer{
				{Conntrack, "net.netfilter.nf_conntrack_tcp_timeout_established", 86400, "", "tracking 42 flows"},
				{IPVS, "tcp", 900, ipvsSource, "for flows through 2 TCP virtual services"},
				{NftCtTimeout, "idle", 300, "nft table inet filter", `for flows a rule assigns it to (ct timeout set "idle")`},
			}, nil, nil},
		{"fresh namespace: conntrack idle, nothing else",
			map[string]string{ctFile: "432000\n", countFile: "0\n"}, noIPVS, noNft,
			[]Timer{{Conntrack, "net.netfilter.nf_conntrack_tcp_timeout_established", 432000, "", "tracks no flow in this namespace now: it applies only where a rule uses conntrack (NAT, ct state)"}},
			[]Kind{IPVS, NftCtTimeout}, nil},
		{"IPVS loaded, no services; not root",
			map[string]string{ipvsFile: ipvsTable[:strings.Index(ipvsTable, "TCP ")]},
			func() (IPVSTimeouts, error) { return IPVSTimeouts{}, unix.EPERM }, eperm,
			[]Timer{}, []Kind{Conntrack, IPVS, NftCtTimeout}, []Kind{IPVS, NftCtTimeout}},
		{"IPVS loaded, no services",
			map[string]string{ipvsFile: ipvsTable[:strings.Index(ipvsTable, "TCP ")]}, ipvs900, noNft,
			[]Timer{{IPVS, "tcp", 900, ipvsSource, "no TCP virtual service: no flow goes through IPVS here"}},
			[]Kind{Conntrack, NftCtTimeout}, nil},
	}
	for _, tt := range tests {
		root := fakeProc(t, tt.files)
		for i := range tt.timers {
			if tt.timers[i].Kind == Conntrack {
				tt.timers[i].Source = filepath.Join(root, ctFile)
			}
		}
		r := Sources{ProcRoot: root, IPVSConfig: tt.ipvs, CtTimeouts: tt.nft}.Read()
		if diff := cmp.Diff(tt.timers, r.Timers); diff != "" {
			t.Errorf("%s: timers (-want +got):\n%s", tt.name, diff)
		}
		var unread, perm []Kind
		for _, u := range r.Unread {
			unread = append(unread, u.Kind)
			if errors.Is(u.Err, ErrNotPermitted) {
				perm = append(perm, u.Kind)
				if !strings.Contains(u.Why, "needs root") {
					t.Errorf("%s: %s: why %q does not say it needs root", tt.name, u.Kind, u.Why)
				}
			}
		}
		if diff := cmp.Diff(tt.unread, unread); diff != "" {
			t.Errorf("%s: unread kinds (-want +got):\n%s", tt.name, diff)
		}
		if diff := cmp.Diff(tt.perm, perm); diff != "" {
			t.Errorf("%s: not permitted (-want +got):\n%s", tt.name, diff)
		}
	}
}

func TestConntrackUnreadable(t *testing.T) {
	root := fakeProc(t, map[string]string{ctFile: "soon\x1b[2J\n"})
	r := Sources{ProcRoot: root, CtTimeouts: func() ([]CtTimeout, error) { return nil, nil }}.Read()
	if len(r.Timers) != 0 || len(r.Unread) == 0 || r.Unread[0].Kind != Conntrack || !errors.Is(r.Unread[0].Err, ErrUnreadable) {
		t.Fatalf("garbage sysctl: %+v", r)
	}
	if strings.Contains(r.Unread[0].Why, "soon") || strings.Contains(r.Unread[0].Why, "\x1b") {
		t.Errorf("the error echoes the file's content: %q", r.Unread[0].Why)
	}
}

func TestShortestAndKeepsOpen(t *testing.T) {
	r := Report{Timers: []Timer{{Kind: Conntrack, IdleTimeoutS: 86400}, {Kind: NftCtTimeout, Name: "idle", IdleTimeoutS: 300}, {Kind: IPVS, IdleTimeoutS: 900}}}
	s, ok := r.Shortest()
	if !ok || s.Name != "idle" {
		t.Fatalf("Shortest = %+v, %v", s, ok)
	}
	if _, ok := (Report{}).Shortest(); ok {
		t.Error("Shortest of nothing is ok")
	}
	tests := []struct {
		s    keepalive.Settings
		want bool
	}{
		{keepalive.Settings{Time: 7200, Intvl: 75, Probes: 9}, false}, // the defaults lose a 300 s flow
		{keepalive.Settings{Time: 240, Intvl: 30, Probes: 4}, true},
		{keepalive.Settings{Time: 60, Intvl: 290, Probes: 4}, false}, // answered probes come every max(time, intvl)
		{keepalive.Settings{Time: 295, Intvl: 10, Probes: 4}, false}, // inside the timer-lateness margin
	}
	for _, tt := range tests {
		if got := s.KeepsOpen(tt.s); got != tt.want {
			t.Errorf("KeepsOpen(%s) through %d s = %v, want %v", tt.s.Triple(), s.IdleTimeoutS, got, tt.want)
		}
	}
}

func TestParseIPVSConfig(t *testing.T) {
	attr := func(typ uint16, v uint32) []byte {
		b := make([]byte, 8)
		binary.NativeEndian.PutUint16(b[0:2], 8)
		binary.NativeEndian.PutUint16(b[2:4], typ)
		binary.NativeEndian.PutUint32(b[4:8], v)
		return b
	}
	msg := append([]byte{ipvsCmdGetConfig, ipvsVersion, 0, 0}, attr(ipvsAttrTimeoutTCP, 900)...)
	msg = append(msg, attr(ipvsAttrTCPFin, 120)...)
	msg = append(msg, attr(ipvsAttrUDP, 300)...)
	got, err := parseIPVSConfig(msg)
	if err != nil || got != (IPVSTimeouts{TCP: 900, TCPFin: 120, UDP: 300}) {
		t.Errorf("parseIPVSConfig = %+v, %v", got, err)
	}
	if _, err := parseIPVSConfig(append([]byte{ipvsCmdGetConfig, ipvsVersion, 0, 0}, attr(ipvsAttrUDP, 300)...)); err == nil {
		t.Error("an answer without the TCP timeout was accepted")
	}
	if _, err := parseIPVSConfig([]byte{1}); err == nil {
		t.Error("a short answer was accepted")
	}
}

// TestReadScratch sets every timer it can in a scratch network namespace
// and reads them back: conntrack's established timeout (per namespace),
// nftables ct timeout objects (two TCP ones, whose values a shared map in
// google/nftables would mix up, and a UDP one to ignore), and IPVS where
// the kernel has it. Without CAP_NET_ADMIN nftables and IPVS are unread.
func TestReadScratch(t *testing.T) {
	if testing.Short() {
		t.Skip("-short: needs a scratch network namespace")
	}
	if !nstest.Private(t) {
		return
	}
	if err := os.WriteFile("/proc/sys/net/netfilter/"+ConntrackKey, []byte("1234\n"), 0o644); err != nil {
		t.Skipf("no per-namespace conntrack here: %v", err)
	}
	c := &nftables.Conn{}
	tb := c.AddTable(&nftables.Table{Name: "tcpka-test", Family: nftables.TableFamilyINet})
	for _, o := range []struct {
		name  string
		proto uint8
		v     uint32
	}{{"short", unix.IPPROTO_TCP, 111}, {"long", unix.IPPROTO_TCP, 222}, {"dns", unix.IPPROTO_UDP, 33}} {
		pol := expr.CtStatePolicyTimeout{expr.CtStateTCPESTABLISHED: o.v}
		if o.proto == unix.IPPROTO_UDP {
			pol = expr.CtStatePolicyTimeout{expr.CtStateUDPREPLIED: o.v}
		}
		c.AddObj(&nftables.NamedObj{Table: tb, Name: o.name, Type: nftables.ObjTypeCtTimeout,
			Obj: &expr.CtTimeout{L3Proto: unix.NFPROTO_IPV4, L4Proto: o.proto, Policy: pol}})
	}
	if err := c.Flush(); err != nil {
		t.Fatalf("add nft ct timeout objects: %v", err)
	}
	_, ipvsErr := os.Stat("/proc/thread-self/net/ip_vs")
	r := Read("/proc")
	got := map[string]int{}
	for _, tm := range r.Timers {
		got[string(tm.Kind)+"/"+tm.Name] = tm.IdleTimeoutS
	}
	want := map[string]int{"conntrack/net.netfilter.nf_conntrack_tcp_timeout_established": 1234, "nft-ct-timeout/long": 222, "nft-ct-timeout/short": 111}
	if ipvsErr == nil {
		want["ipvs/tcp"] = 900 // the kernel's default in a new namespace
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("timers read (-want +got):\n%s\nreport: %+v", diff, r)
	}
	for _, tm := range r.Timers {
		if tm.Kind == NftCtTimeout && tm.Source != "nft table inet tcpka-test" {
			t.Errorf("%s: source %q", tm.Name, tm.Source)
		}
	}
	if ipvsErr != nil {
		if len(r.Unread) != 1 || r.Unread[0].Kind != IPVS || r.Unread[0].Err != nil || !strings.HasPrefix(r.Unread[0].Why, "not loaded") {
			t.Errorf("unread %+v, want IPVS not loaded", r.Unread)
		}
		if _, err := os.Stat("/proc/thread-self/net/ip_vs"); err == nil {
			t.Error("reading the timers loaded ip_vs")
		}
	}

	t.Run("ipvs", func(t *testing.T) {
		if ipvsErr != nil {
			t.Skipf("this kernel has no ip_vs loaded (%v), and tcpka's tests do not load modules", ipvsErr)
		}
		if err := setIPVSTCPTimeout(333); err != nil {
			t.Fatalf("IPVS_CMD_SET_CONFIG: %v", err)
		}
		for _, tm := range Read("/proc").Timers {
			if tm.Kind == IPVS && tm.IdleTimeoutS != 333 {
				t.Errorf("IPVS timer %+v, want 333 s as set", tm)
			}
		}
	})

	// Without CAP_NET_ADMIN, on a thread of its own that is thrown away.
	done := make(chan Report, 1)
	go func() {
		runtime.LockOSThread() // never unlocked: the thread exits with the goroutine
		var d [2]unix.CapUserData
		h := unix.CapUserHeader{Version: unix.LINUX_CAPABILITY_VERSION_3}
		if unix.Capget(&h, &d[0]) == nil {
			d[0].Effective &^= 1 << unix.CAP_NET_ADMIN
			unix.Capset(&h, &d[0])
		}
		done <- Read("/proc")
	}()
	r = <-done
	if len(r.Timers) != 1 || r.Timers[0].Kind != Conntrack || r.Timers[0].IdleTimeoutS != 1234 {
		t.Errorf("without CAP_NET_ADMIN: timers %+v, want conntrack alone", r.Timers)
	}
	var nftUnread *Unread
	for i := range r.Unread {
		if r.Unread[i].Kind == NftCtTimeout {
			nftUnread = &r.Unread[i]
		}
	}
	if nftUnread == nil || !errors.Is(nftUnread.Err, ErrNotPermitted) {
		t.Errorf("without CAP_NET_ADMIN: unread %+v, want nft-ct-timeout not permitted", r.Unread)
	}
}

// setIPVSTCPTimeout is ipvsadm --set TCP 0 0, for the scratch namespace.
func setIPVSTCPTimeout(s uint32) error {
	id, err := genlFamily(ipvsFamily)
	if err != nil {
		return err
	}
	req := nl.NewNetlinkRequest(int(id), unix.NLM_F_ACK)
	req.AddData(&nl.Genlmsg{Command: 12 /* IPVS_CMD_SET_CONFIG */, Version: ipvsVersion})
	req.AddData(nl.NewRtAttr(ipvsAttrTimeoutTCP, nl.Uint32Attr(s)))
	if _, err := req.Execute(unix.NETLINK_GENERIC, 0); err != nil {
		return fmt.Errorf("set IPVS TCP timeout: %w", err)
	}
	return nil
}
