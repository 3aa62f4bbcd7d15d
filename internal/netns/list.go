package netns

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"

	"github.com/tcpka/tcpka/internal/procname"
	"golang.org/x/sys/unix"
)

// Namespace is one distinct network namespace found by List.
type Namespace struct {
	Dev, Ino uint64
	Names    []string // under the run dir, sorted
	Pids     []int    // processes in it, ascending
	Host     bool     // the namespace of pid 1 under the proc root (Listing.HostErr when unknown)
	Err      error    // a name under the run dir that is not a network namespace

	runDir, procRoot string
}

// ID names the namespace: "net:[4026531840]", or the path of a broken entry.
func (n Namespace) ID() string {
	if n.Ino == 0 && len(n.Names) > 0 {
		return filepath.Join(n.runDir, n.Names[0])
	}
	return FormatID(n.Ino)
}

// Open opens the namespace through one of its names or processes, checking
// that the file still leads to the same namespace (a pid may be reused, a
// name deleted and re-added).
func (n Namespace) Open() (*NS, error) {
	if n.Err != nil {
		return nil, n.Err
	}
	var paths []string
	for _, name := range n.Names {
		paths = append(paths, filepath.Join(n.runDir, name))
	}
	for _, pid := range n.Pids {
		paths = append(paths, filepath.Join(n.procRoot, strconv.Itoa(pid), "ns", "net"))
	}
	for _, p := range paths {
		ns, err := Open(p)
		if err != nil {
			continue
		}
		if ns.Dev == n.Dev && ns.Ino == n.Ino {
			return ns, nil
		}
		ns.Close()
	}
	return nil, fmt.Errorf("%s: %w: its names were removed and its processes exited since it was listed", n.ID(), ErrNotExist)
}

// Process is a pid and its command (/proc/PID/comm; a kernel thread's
// followed by " (kernel thread)", see internal/procname), as the kernel
// holds it: a printer escapes it (human.Safe).
type Process struct {
	Pid     int
	Command string
}

// Processes returns up to max of the namespace's processes with their
// commands; processes that exited meanwhile are left out.
func (n Namespace) Processes(max int) []Process {
	var out []Process
	for _, pid := range n.Pids {
		if len(out) == max {
			break
		}
		comm, err := procname.Read(n.procRoot, pid)
		if err != nil {
			continue
		}
		out = append(out, Process{Pid: pid, Command: comm})
	}
	return out
}

// Listing is every network namespace List could find.
type Listing struct {
	// Namespaces: the host's (pid 1's) first, then the named ones by
	// name, then the unnamed ones by inode; broken names last.
	Namespaces []Namespace
	// Unreadable counts processes whose namespace could not be read
	// (permission: run as root to see them all).
	Unreadable int
	// HostErr says why no namespace is marked Host: pid 1's could not be
	// read ("cannot read PID 1's network namespace: ..."). Another
	// namespace, tcpka's own say, is never taken for the host's: in a
	// container or a scratch namespace it is not.
	HostErr error
}

// List finds every distinct network namespace: the names under runDir
// (`ip netns add`) and the namespace of every process under procRoot,
// deduplicated by device and inode. A name whose file is not a network
// namespace (a stale file left by a failed `ip netns add`, a bind mount of
// another namespace type) becomes an entry with Err set.
func List(runDir, procRoot string) (Listing, error) {
	type key struct{ dev, ino uint64 }
	byKey := map[key]*Namespace{}
	var order []key
	get := func(k key) *Namespace {
		if n, ok := byKey[k]; ok {
			return n
		}
		n := &Namespace{Dev: k.dev, Ino: k.ino, runDir: runDir, procRoot: procRoot}
		byKey[k] = n
		order = append(order, k)
		return n
	}
	var listing Listing
	var broken []Namespace

	names, err := os.ReadDir(runDir)
	if err != nil && !errors.Is(err, os.ErrNotExist) {
		return Listing{}, fmt.Errorf("list %s: %w", runDir, err)
	}
	for _, e := range names {
		path := filepath.Join(runDir, e.Name())
		ns, err := Open(path)
		if err != nil {
			if errors.Is(err, ErrNotNetns) && !strings.Contains(err.Error(), "it is a") {
				err = fmt.Errorf("%w (left by a failed ip netns add? ip netns delete %s removes it)", err, e.Name())
			}
			broken = append(broken, Namespace{Names: []string{e.Name()}, Err: err, runDir: runDir, procRoot: procRoot})
			continue
		}
		st := unix.Stat_t{Dev: ns.Dev, Ino: ns.Ino}
		ns.Close()
		n := get(key{st.Dev, st.Ino})
		n.Names = append(n.Names, e.Name())
	}

	procs, err := os.ReadDir(procRoot)
	if err != nil {
		return Listing{}, fmt.Errorf("list %s: %w", procRoot, err)
	}
	var pids []int
	for _, e := range procs {
		if pid, err := strconv.Atoi(e.Name()); err == nil {
			pids = append(pids, pid)
		}
	}
	sort.Ints(pids)
	hostPath := filepath.Join(procRoot, "1", "ns", "net")
	listing.HostErr = fmt.Errorf("cannot read PID 1's network namespace: %s: %w", hostPath, ErrNotExist)
	for _, pid := range pids {
		path := filepath.Join(procRoot, strconv.Itoa(pid), "ns", "net")
		var st unix.Stat_t
		err := unix.Stat(path, &st)
		if err != nil {
			// ENOENT: exited (or a zombie) since ReadDir; EACCES: not ours.
			if errors.Is(err, unix.EACCES) || errors.Is(err, unix.EPERM) {
				listing.Unreadable++
			}
			if pid == 1 {
				listing.HostErr = fmt.Errorf("cannot read PID 1's network namespace: %s: %w", path, err)
			}
			continue
		}
		k := key{st.Dev, st.Ino}
		n := get(k)
		n.Pids = append(n.Pids, pid)
		if pid == 1 {
			n.Host = true
			listing.HostErr = nil
		}
	}
	for _, k := range order {
		sort.Strings(byKey[k].Names)
	}
	sort.Slice(order, func(i, j int) bool {
		a, b := byKey[order[i]], byKey[order[j]]
		switch {
		case a.Host != b.Host:
			return a.Host
		case (len(a.Names) > 0) != (len(b.Names) > 0):
			return len(a.Names) > 0
		case len(a.Names) > 0 && a.Names[0] != b.Names[0]:
			return a.Names[0] < b.Names[0]
		case a.Ino != b.Ino:
			return a.Ino < b.Ino
		}
		return a.Dev < b.Dev
	})
	for _, k := range order {
		listing.Namespaces = append(listing.Namespaces, *byKey[k])
	}
	listing.Namespaces = append(listing.Namespaces, broken...)
	return listing, nil
}
