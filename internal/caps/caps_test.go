package caps

import (
	"os"
	"testing"
)

func TestRequire(t *testing.T) {
	restore := Pretend(NetAdmin)
	defer restore()
	if err := Require("apply", NetAdmin); err != nil {
		t.Errorf("Require with the capability: %v", err)
	}
	err := Require("measure", SysAdmin, NetAdmin)
	if err == nil || err.Error() != "measure needs root (CAP_SYS_ADMIN, CAP_NET_ADMIN): run it with sudo" {
		t.Errorf("Require without CAP_SYS_ADMIN: %v", err)
	}
}

func TestParseCapEff(t *testing.T) {
	tests := []struct {
		status string
		has    []Cap
		hasnt  []Cap
	}{
		// root: every capability
		{"Name:\ttcpka\nCapInh:\t0000000000000000\nCapEff:\t000001ffffffffff\n", []Cap{NetAdmin, SysAdmin, SysPtrace, BPF}, nil},
		// a systemd unit with CapabilityBoundingSet=CAP_NET_ADMIN
		{"CapPrm:\t0000000000001000\nCapEff:\t0000000000001000\n", []Cap{NetAdmin}, []Cap{SysAdmin, BPF}},
		// an ordinary user
		{"CapEff:\t0000000000000000\n", nil, []Cap{NetAdmin}},
		{"garbage", nil, []Cap{NetAdmin}},
	}
	for _, tt := range tests {
		v := parseCapEff(tt.status)
		for _, c := range tt.has {
			if v&(1<<uint(c)) == 0 {
				t.Errorf("%q: %s missing", tt.status, c)
			}
		}
		for _, c := range tt.hasnt {
			if v&(1<<uint(c)) != 0 {
				t.Errorf("%q: %s present", tt.status, c)
			}
		}
	}
}

func TestRootHasNetAdmin(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("needs root: checks the real effective set")
	}
	if !Has(NetAdmin) {
		t.Error("root without CAP_NET_ADMIN in /proc/self/status")
	}
}
