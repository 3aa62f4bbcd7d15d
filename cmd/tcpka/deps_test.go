package main

import (
	"os/exec"
	"strings"
	"testing"
)

// startupCostly are packages whose init does work at every tcpka start
// (show included) for features that do not need it, or that bring such
// packages with them. The tests may import them; the tcpka binary must
// not. bench/show/run measures what they cost.
//
//   - client_golang registers the Go and process collectors.
//   - client_model's types are protobuf messages: google.golang.org/protobuf
//     builds descriptors and hashes the executable (8 reads of it) at init.
//   - prometheus/common (expfmt, model) needs client_model, and expfmt
//     brings go-abnf, which links the testing package and its flags, and
//     goautoneg; internal/metrics writes the text format itself.
//   - VictoriaMetrics/metrics reads /proc/self/cgroup, the cgroup PSI files
//     and runtime/metrics descriptions at init, and its HELP lines carry no
//     text.
//   - cilium/ebpf/rlimit creates a probe BPF map at init.
//   - google/nftables (with mdlayher/netlink) builds its tables at init
//     (45 allocations, 33k instructions) and took 0.3 MB of the binary for
//     the one batch measure --nat-timeout writes: internal/probe/nft.go
//     writes it, and a test holds it to the library's bytes.
var startupCostly = []string{
	"github.com/prometheus/client_golang/",
	"github.com/prometheus/client_model/",
	"github.com/prometheus/common/",
	"google.golang.org/protobuf/",
	"github.com/pandatix/go-abnf",
	"github.com/munnerz/goautoneg",
	"github.com/VictoriaMetrics/metrics",
	"testing",
	"github.com/cilium/ebpf/rlimit",
	"github.com/google/nftables",
	"github.com/mdlayher/netlink",
}

func TestNoStartupCostlyDeps(t *testing.T) {
	out, err := exec.Command("go", "list", "-deps", ".").Output()
	if err != nil {
		t.Skipf("go list not available: %v", err)
	}
	linked := map[string][]string{}
	for _, pkg := range strings.Fields(string(out)) {
		for _, bad := range startupCostly {
			bad = strings.TrimSuffix(bad, "/")
			if pkg == bad || strings.HasPrefix(pkg, bad+"/") {
				linked[bad] = append(linked[bad], pkg)
			}
		}
	}
	for _, bad := range startupCostly {
		if pkgs := linked[strings.TrimSuffix(bad, "/")]; len(pkgs) > 0 {
			t.Errorf("tcpka links %s (%d packages: %s): its init runs at every start", bad, len(pkgs), strings.Join(pkgs, " "))
		}
	}
}
