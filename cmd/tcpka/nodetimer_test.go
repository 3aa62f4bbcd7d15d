package main

import (
	"encoding/json"
	"os"
	"testing"

	"github.com/tcpka/tcpka/internal/nstest"
)

// TestNodeIdleTimers: in a scratch network namespace whose conntrack
// forgets established flows after 600 s, show says idle connections at
// the kernel defaults lose theirs, metrics exports the timer, and plan
// --path node plans against it.
func TestNodeIdleTimers(t *testing.T) {
	if !nstest.Private(t, "ip") {
		return
	}
	const f = "/proc/sys/net/netfilter/nf_conntrack_tcp_timeout_established"
	if _, err := os.Stat(f); err != nil {
		t.Skip("no conntrack in this kernel")
	}
	if err := os.WriteFile(f, []byte("600\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	out, _, code := tcpkaRun(t, "show")
	if code != 0 {
		t.Fatalf("show: exit %d", code)
	}
	mustMatch(t, "show", out, `(?m)^node idle timers \(an idle connection here sends a packet every 2h\):\n  conntrack +600 s \(10m\): LOST: forgets idle flows first \(tcpka plan --path node\)$`)
	out, _, _ = tcpkaRun(t, "show", "--json")
	var shown struct {
		Timers []struct {
			Kind     string `json:"kind"`
			Timeout  int    `json:"idle_timeout_s"`
			Survives bool   `json:"survives"`
		} `json:"node_idle_timers"`
	}
	if err := json.Unmarshal([]byte(out), &shown); err != nil || len(shown.Timers) != 1 || shown.Timers[0].Kind != "conntrack" || shown.Timers[0].Timeout != 600 || shown.Timers[0].Survives {
		t.Errorf("show --json node_idle_timers: %+v %v", shown, err)
	}
	out, _, _ = tcpkaRun(t, "metrics")
	mustMatch(t, "metrics", out, `(?m)^tcpka_node_idle_timeout_seconds\{kind="conntrack",name="net.netfilter.nf_conntrack_tcp_timeout_established"\} 600$`)
	out, errs, code := tcpkaRun(t, "plan", "--path", "node", "--json")
	var planned struct {
		Path struct {
			Name         string `json:"name"`
			IdleTimeoutS int    `json:"idle_timeout_s"`
		} `json:"path"`
		Time int `json:"time_s"`
	}
	if err := json.Unmarshal([]byte(out), &planned); err != nil || code != 0 || planned.Path.Name != "node" || planned.Path.IdleTimeoutS != 600 || planned.Time >= 600 {
		t.Errorf("plan --path node: exit %d, %+v %v %s", code, planned, err, errs)
	}
	// Once the values keep the flow, show says so.
	if _, errs, code := tcpkaRun(t, "apply", "aws-nlb"); code != 0 {
		t.Fatalf("apply: %s", errs)
	}
	out, _, _ = tcpkaRun(t, "show")
	mustMatch(t, "show after apply", out, `(?m)^  conntrack +600 s \(10m\): kept open$`)
}
