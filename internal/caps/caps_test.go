package caps

import (
	"errors"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"testing"

	"github.com/tcpka/tcpka/internal/testkit"
)

func TestRequire(t *testing.T) {
	restore := Pretend(NetAdmin)
	defer restore()
	if err := Require("apply", NetAdmin); err != nil {
		t.Errorf("Require with the capability: %v", err)
	}
	err := Require("measure", SysAdmin, NetAdmin)
	if err == nil || err.Error() != "measure needs root (CAP_SYS_ADMIN and CAP_NET_ADMIN): run it with sudo" || !errors.Is(err, ErrPrivilege) {
		t.Errorf("Require without CAP_SYS_ADMIN: %v", err)
	}
	err = Need("enforce", "for pidfd_getfd", SysAdmin, NetAdmin, SysPtrace)
	if err == nil || err.Error() != "enforce needs root (CAP_SYS_ADMIN, CAP_NET_ADMIN and CAP_SYS_PTRACE, for pidfd_getfd): run it with sudo" {
		t.Errorf("Need: %v", err)
	}
}

// parseCapEff reads the CapEff line of a /proc/PID/status text: what
// readEffective must agree with.
func parseCapEff(status string) uint64 {
	for _, line := range strings.Split(status, "\n") {
		if hex, ok := strings.CutPrefix(line, "CapEff:"); ok {
			v, err := strconv.ParseUint(strings.TrimSpace(hex), 16, 64)
			if err != nil {
				return 0
			}
			return v
		}
	}
	return 0
}

// TestEffectiveIsCapEff: capget's effective set is the CapEff line of
// /proc/self/status, here and in a process that keeps only CAP_NET_ADMIN.
func TestEffectiveIsCapEff(t *testing.T) {
	b, err := os.ReadFile("/proc/self/status")
	if err != nil {
		t.Fatal(err)
	}
	if got, want := readEffective(), parseCapEff(string(b)); got != want {
		t.Errorf("capget %016x, /proc/self/status CapEff %016x", got, want)
	}
	if os.Getenv("CAPS_TEST_CHILD") == "1" {
		if got := readEffective(); got != 1<<NetAdmin {
			t.Errorf("under setpriv: effective set %016x, want CAP_NET_ADMIN alone", got)
		}
		return
	}
	testkit.NeedRoot(t, "drop capabilities with setpriv")
	if _, err := exec.LookPath("setpriv"); err != nil {
		t.Skip("setpriv not installed")
	}
	cmd := exec.Command("setpriv", "--inh-caps=-all,+net_admin", "--bounding-set=-all,+net_admin", "--",
		os.Args[0], "-test.run=^TestEffectiveIsCapEff$", "-test.count=1")
	cmd.Env = append(os.Environ(), "CAPS_TEST_CHILD=1")
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Errorf("with only CAP_NET_ADMIN: %v\n%s", err, out)
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
	testkit.NeedRoot(t, "checks the real effective set")
	if !Has(NetAdmin) {
		t.Error("root without CAP_NET_ADMIN in /proc/self/status")
	}
}
