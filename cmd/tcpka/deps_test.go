package main

import (
	"os/exec"
	"strings"
	"testing"
)

// startupCostly are packages whose init does work at every tcpka start
// (show included) for features that do not need it: client_golang
// registers the Go and process collectors, cilium/ebpf/rlimit creates a
// probe BPF map. bench/show measures what they cost.
var startupCostly = []string{
	"github.com/prometheus/client_golang/",
	"github.com/cilium/ebpf/rlimit",
}

func TestNoStartupCostlyDeps(t *testing.T) {
	out, err := exec.Command("go", "list", "-deps", ".").Output()
	if err != nil {
		t.Skipf("go list not available: %v", err)
	}
	for _, pkg := range strings.Fields(string(out)) {
		for _, bad := range startupCostly {
			if pkg == bad || strings.HasPrefix(pkg, bad) {
				t.Errorf("tcpka links %s: its init runs at every start", pkg)
			}
		}
	}
}
