package kubepod

import (
	"os"
	"path/filepath"
	"strconv"
	"testing"
)

func TestUIDOf(t *testing.T) {
	const uid = "0d2c8f1e-4a3b-4c5d-8e9f-0a1b2c3d4e5f"
	tests := map[string]string{
		// systemd driver, cgroup v2 and v1
		"0::/kubepods.slice/kubepods-burstable.slice/kubepods-burstable-pod0d2c8f1e_4a3b_4c5d_8e9f_0a1b2c3d4e5f.slice/cri-containerd-ab12.scope": uid,
		"0::/kubepods.slice/kubepods-pod0d2c8f1e_4a3b_4c5d_8e9f_0a1b2c3d4e5f.slice/crio-ab12.scope":                                              uid,
		"11:memory:/kubepods.slice/kubepods-besteffort.slice/kubepods-besteffort-pod0d2c8f1e_4a3b_4c5d_8e9f_0a1b2c3d4e5f.slice/x":                uid,
		// cgroupfs driver
		"0::/kubepods/burstable/pod0d2c8f1e-4a3b-4c5d-8e9f-0a1b2c3d4e5f/ab12": uid,
		"0::/kubepods/pod0d2c8f1e-4a3b-4c5d-8e9f-0a1b2c3d4e5f/ab12":           uid,
		// kind / nested: anywhere in the path
		"0::/system.slice/docker-1.scope/kubelet.slice/kubelet-kubepods.slice/kubelet-kubepods-burstable.slice/kubelet-kubepods-burstable-pod0d2c8f1e_4a3b_4c5d_8e9f_0a1b2c3d4e5f.slice/x": uid,
		// not a pod
		"0::/system.slice/sshd.service":                          "",
		"0::/user.slice/pod0d2c8f1e-4a3b-4c5d-8e9f-0a1b2c3d4e5f": "",
		"0::/kubepods.slice/kubepods-burstable.slice":            "",
	}
	for in, want := range tests {
		if got := UIDOf(in); got != want {
			t.Errorf("UIDOf(%q) = %q, want %q", in, got, want)
		}
	}
}

func TestParseLogDir(t *testing.T) {
	if p, ok := ParseLogDir("shop_web-0_0d2c8f1e-4a3b-4c5d-8e9f-0a1b2c3d4e5f"); !ok || p.String() != "shop/web-0" || p.UID != "0d2c8f1e-4a3b-4c5d-8e9f-0a1b2c3d4e5f" {
		t.Errorf("ParseLogDir = %+v, %v", p, ok)
	}
	for _, bad := range []string{"shop_web-0", "a_b_c_d", "_web_0d2c8f1e-4a3b-4c5d-8e9f-0a1b2c3d4e5f", "shop_web_short"} {
		if _, ok := ParseLogDir(bad); ok {
			t.Errorf("ParseLogDir(%q) accepted", bad)
		}
	}
}

// kubeletTree writes a node's tree as the kubelet and a container runtime
// leave it: a pod log directory, and a process in the pod's cgroup.
func kubeletTree(t *testing.T) (host string, pid int) {
	t.Helper()
	host = t.TempDir()
	uid := "0d2c8f1e-4a3b-4c5d-8e9f-0a1b2c3d4e5f"
	os.MkdirAll(filepath.Join(host, "var/log/pods", "shop_web-0_"+uid, "app"), 0o755)
	os.MkdirAll(filepath.Join(host, "var/log/pods", "kube-system_coredns-1_11111111-2222-3333-4444-555555555555"), 0o755)
	pid = 4242
	dir := filepath.Join(host, "proc", strconv.Itoa(pid))
	os.MkdirAll(dir, 0o755)
	os.WriteFile(filepath.Join(dir, "cgroup"), []byte("0::/kubepods.slice/kubepods-burstable.slice/kubepods-burstable-pod0d2c8f1e_4a3b_4c5d_8e9f_0a1b2c3d4e5f.slice/cri-containerd-ab.scope\n"), 0o644)
	other := filepath.Join(host, "proc", "7")
	os.MkdirAll(other, 0o755)
	os.WriteFile(filepath.Join(other, "cgroup"), []byte("0::/system.slice/sshd.service\n"), 0o644)
	return host, pid
}

func TestFinder(t *testing.T) {
	host, pid := kubeletTree(t)
	f := Finder{ProcRoot: filepath.Join(host, "proc"), HostRoot: host}
	if p, ok := f.Of([]int{7, pid}); !ok || p.String() != "shop/web-0" {
		t.Errorf("Of = %+v, %v; want shop/web-0", p, ok)
	}
	if p, ok := f.Of([]int{7}); ok {
		t.Errorf("a process outside any pod: %+v", p)
	}
	// No kubelet here: nothing, quietly.
	empty := Finder{ProcRoot: filepath.Join(host, "proc"), HostRoot: t.TempDir()}
	if _, ok := empty.Of([]int{pid}); ok {
		t.Error("found a pod without its log directory")
	}
}
