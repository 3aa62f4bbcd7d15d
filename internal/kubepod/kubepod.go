package kubepod

import (
	"bufio"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
)

// Pod is a pod as the kubelet lays it out.
type Pod struct {
	Namespace, Name, UID string
}

// String is "namespace/name", as kubectl names a pod.
func (p Pod) String() string { return p.Namespace + "/" + p.Name }

// Finder finds the pods of processes. HostRoot is where the node's root
// file system is seen ("/" on the node; "/host" where a DaemonSet mounts
// it), ProcRoot the node's /proc.
type Finder struct {
	ProcRoot, HostRoot string
	byUID              map[string]Pod // from the pod log directory, read once
}

// podUID matches the UID in a cgroup path, as both drivers write it:
// systemd: kubepods-burstable-pod0d2c8f1e_4a3b_4c5d_8e9f_0a1b2c3d4e5f.slice
// cgroupfs: /kubepods/burstable/pod0d2c8f1e-4a3b-4c5d-8e9f-0a1b2c3d4e5f/...
var podUID = regexp.MustCompile(`kubepods[^\n]*?[/-]pod([0-9a-f]{8}[-_][0-9a-f]{4}[-_][0-9a-f]{4}[-_][0-9a-f]{4}[-_][0-9a-f]{12})`)

// UIDOf returns the pod UID a cgroup path names, with dashes, or "".
func UIDOf(cgroupPath string) string {
	m := podUID.FindStringSubmatch(cgroupPath)
	if m == nil {
		return ""
	}
	return strings.ReplaceAll(m[1], "_", "-")
}

// ParseLogDir reads a pod log directory's name, namespace_name_UID.
// Namespaces and pod names are DNS labels, so they hold no '_'.
func ParseLogDir(name string) (Pod, bool) {
	parts := strings.Split(name, "_")
	if len(parts) != 3 || parts[0] == "" || parts[1] == "" || len(parts[2]) != 36 {
		return Pod{}, false
	}
	return Pod{Namespace: parts[0], Name: parts[1], UID: parts[2]}, true
}

func (f *Finder) pods() map[string]Pod {
	if f.byUID != nil {
		return f.byUID
	}
	f.byUID = map[string]Pod{}
	root := f.HostRoot
	if root == "" {
		root = "/"
	}
	entries, err := os.ReadDir(filepath.Join(root, "var", "log", "pods"))
	if err != nil {
		return f.byUID
	}
	for _, e := range entries {
		if p, ok := ParseLogDir(e.Name()); ok && e.IsDir() {
			f.byUID[p.UID] = p
		}
	}
	return f.byUID
}

// Of returns the pod the first of pids that is in one belongs to.
func (f *Finder) Of(pids []int) (Pod, bool) {
	for _, pid := range pids {
		uid := f.uidOfPID(pid)
		if uid == "" {
			continue
		}
		if p, ok := f.pods()[uid]; ok {
			return p, true
		}
	}
	return Pod{}, false
}

// uidOfPID reads /proc/PID/cgroup for a pod UID.
func (f *Finder) uidOfPID(pid int) string {
	proc := f.ProcRoot
	if proc == "" {
		proc = "/proc"
	}
	fh, err := os.Open(filepath.Join(proc, strconv.Itoa(pid), "cgroup"))
	if err != nil {
		return ""
	}
	defer fh.Close()
	sc := bufio.NewScanner(fh)
	for sc.Scan() {
		if uid := UIDOf(sc.Text()); uid != "" {
			return uid
		}
	}
	return ""
}
