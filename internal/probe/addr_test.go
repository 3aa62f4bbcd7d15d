package probe

import (
	"net"
	"reflect"
	"testing"
)

// TestAddresses: the written-out addresses are what net.IPv4 and
// net.CIDRMask make.
func TestAddresses(t *testing.T) {
	for _, tc := range []struct {
		got        *net.IPNet
		a, b, c, d byte
	}{
		{addrA, 192, 0, 2, 1}, {addrB, 192, 0, 2, 2},
		{natClient, 192, 0, 2, 1}, {natRouterIn, 192, 0, 2, 254},
		{natRouterOut, 198, 51, 100, 254}, {natServer, 198, 51, 100, 1},
	} {
		want := &net.IPNet{IP: net.IPv4(tc.a, tc.b, tc.c, tc.d), Mask: net.CIDRMask(24, 32)}
		if !reflect.DeepEqual(tc.got, want) {
			t.Errorf("%v, want %v", tc.got, want)
		}
	}
}
