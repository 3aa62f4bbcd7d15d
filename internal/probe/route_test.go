package probe

import (
	"net"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/tcpka/tcpka/internal/nstest"
	"github.com/vishvananda/netlink"
	"golang.org/x/sys/unix"
)

// TestDefaultRouteAsRouteAdd: defaultRoute makes the route netlink's
// RouteAdd makes for the same gateway and link, in a private network
// namespace.
func TestDefaultRouteAsRouteAdd(t *testing.T) {
	if !nstest.Private(t) {
		return
	}
	if err := netlink.LinkAdd(&netlink.Veth{LinkAttrs: netlink.LinkAttrs{Name: "tcpka9"}, PeerName: "tcpka8"}); err != nil {
		t.Fatal(err)
	}
	l, err := netlink.LinkByName("tcpka9")
	if err != nil {
		t.Fatal(err)
	}
	if err := netlink.LinkSetUp(l); err != nil {
		t.Fatal(err)
	}
	if err := netlink.AddrAdd(l, &netlink.Addr{IPNet: natClient}); err != nil {
		t.Fatal(err)
	}
	defaults := func() []netlink.Route {
		rs, err := netlink.RouteListFiltered(netlink.FAMILY_V4, &netlink.Route{Table: unix.RT_TABLE_MAIN}, netlink.RT_FILTER_TABLE)
		if err != nil {
			t.Fatal(err)
		}
		var out []netlink.Route
		for _, r := range rs {
			if r.Dst == nil || r.Dst.IP.Equal(net.IPv4zero) {
				out = append(out, r)
			}
		}
		return out
	}
	if err := defaultRoute(l.Attrs().Index, natRouterIn.IP); err != nil {
		t.Fatal(err)
	}
	ours := defaults()
	for _, r := range ours {
		if err := netlink.RouteDel(&r); err != nil {
			t.Fatal(err)
		}
	}
	if err := netlink.RouteAdd(&netlink.Route{LinkIndex: l.Attrs().Index, Gw: natRouterIn.IP}); err != nil {
		t.Fatal(err)
	}
	theirs := defaults()
	if len(ours) != 1 {
		t.Fatalf("defaultRoute made %d default routes: %v", len(ours), ours)
	}
	if diff := cmp.Diff(theirs, ours); diff != "" {
		t.Errorf("routes (-RouteAdd +defaultRoute):\n%s", diff)
	}
	// A second one is refused, as RouteAdd's is (NLM_F_EXCL).
	if err := defaultRoute(l.Attrs().Index, natRouterIn.IP); err != unix.EEXIST {
		t.Errorf("a second default route: %v, want EEXIST", err)
	}
}
