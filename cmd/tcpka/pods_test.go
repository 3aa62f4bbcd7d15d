package main

import (
	"encoding/json"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"testing"

	"github.com/tcpka/tcpka/internal/enforce/enforcetest"
	"github.com/tcpka/tcpka/internal/nstest"
	"golang.org/x/sys/unix"
)

// kubeletShaped makes, inside the test's private namespaces, what a
// kubelet leaves on a node for a pod shop/web-0: a process in its own
// network namespace, in a cgroup named as the kubelet's systemd driver
// names it (below a cgroup of the test's own), and the pod's log
// directory (on a tmpfs over /var/log). It returns the process's pid.
func kubeletShaped(t *testing.T) int {
	t.Helper()
	const uid = "0d2c8f1e-4a3b-4c5d-8e9f-0a1b2c3d4e5f"
	base := enforcetest.Cgroup(t)
	leaf := filepath.Join(base, "kubepods.slice", "kubepods-burstable.slice", "kubepods-burstable-pod0d2c8f1e_4a3b_4c5d_8e9f_0a1b2c3d4e5f.slice")
	if err := os.MkdirAll(leaf, 0o755); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		for d := leaf; d != base; d = filepath.Dir(d) {
			os.Remove(d)
		}
	})
	pid := nstest.HoldUnnamed(t, 300, 30, 3)
	if err := os.WriteFile(filepath.Join(leaf, "cgroup.procs"), []byte(strconv.Itoa(pid)), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := unix.Mount("tcpka-test", "/var/log", "tmpfs", 0, "mode=0755"); err != nil {
		t.Fatal(err)
	}
	if err := os.MkdirAll("/var/log/pods/shop_web-0_"+uid+"/app", 0o755); err != nil {
		t.Fatal(err)
	}
	return pid
}

// TestPodNames: on a kubelet-shaped node, show, check and metrics
// --all-netns name each pod's network namespace by its pod.
func TestPodNames(t *testing.T) {
	if !nstest.Private(t, "ip", "unshare") {
		return
	}
	pid := kubeletShaped(t)

	out, errs, code := tcpkaRun(t, "show", "--all-netns")
	if code != 0 {
		t.Fatalf("show --all-netns: exit %d\n%s%s", code, out, errs)
	}
	mustMatch(t, "show --all-netns", out, `(?m)^NETNS +NAME +POD +PROCESSES +TIME +INTVL +PROBES +DETECTION +NOTE$`)
	mustMatch(t, "show --all-netns", out, `(?m)^net:\[\d+\] +- +shop/web-0 +\S+\[`+strconv.Itoa(pid)+`\] +300 s +30 s +3 `)

	out, _, _ = tcpkaRun(t, "show", "--all-netns", "--json")
	var shown struct {
		Namespaces []struct {
			PodNamespace string `json:"pod_namespace"`
			Pod          string `json:"pod"`
			Time         int    `json:"time_s"`
		} `json:"namespaces"`
	}
	if err := json.Unmarshal([]byte(out), &shown); err != nil {
		t.Fatal(err)
	}
	pods := 0
	for _, n := range shown.Namespaces {
		if n.Pod != "" {
			pods++
			if n.PodNamespace != "shop" || n.Pod != "web-0" || n.Time != 300 {
				t.Errorf("show --all-netns --json: %+v", n)
			}
		}
	}
	if pods != 1 {
		t.Errorf("show --all-netns --json named %d pods, want 1:\n%s", pods, out)
	}

	out, _, _ = tcpkaRun(t, "check", "kernel-default", "--all-netns")
	mustMatch(t, "check --all-netns", out, `(?m)^net:\[\d+\] pod shop/web-0: DRIFT: `)

	out, _, code = tcpkaRun(t, "metrics", "--all-netns")
	if code != 0 {
		t.Fatalf("metrics --all-netns: exit %d", code)
	}
	mustMatch(t, "metrics --all-netns", out, `(?m)^tcpka_keepalive_time_seconds\{netns="net:\[\d+\]",pod="web-0",pod_namespace="shop"\} 300$`)
	// A namespace without a pod is labelled by netns alone.
	if !regexp.MustCompile(`(?m)^tcpka_keepalive_time_seconds\{netns="net:\[\d+\]"\} `).MatchString(out) {
		t.Errorf("metrics --all-netns: no namespace without a pod:\n%s", out)
	}
}
