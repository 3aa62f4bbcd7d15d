package netscope

import (
	"errors"
	"os"
	"path/filepath"

	"github.com/tcpka/tcpka/internal/detect"
	"github.com/tcpka/tcpka/internal/keepalive"
	"github.com/tcpka/tcpka/internal/netns"
	"github.com/tcpka/tcpka/internal/sysctl"
	"golang.org/x/sys/unix"
)

// NS is one network namespace seen through one proc root.
type NS struct {
	procRoot string
	target   *netns.NS // nil: the namespace tcpka runs in
}

// Own is tcpka's own network namespace under procRoot ("" is /proc).
func Own(procRoot string) *NS {
	if procRoot == "" {
		procRoot = sysctl.DefaultProcRoot
	}
	return &NS{procRoot: procRoot}
}

// ErrNamespace is wrapped when the network namespace a command is bound
// to could not be opened or entered (it is gone, or tcpka may not): what
// the kernel holds there could not be determined. A spec that names no
// namespace at all (netns.ErrBadSpec, netns.ErrNotNetns) is bad input
// instead and does not wrap it.
var ErrNamespace = errors.New("network namespace unavailable")

// nsError marks err with ErrNamespace, its text unchanged.
type nsError struct{ err error }

func (e nsError) Error() string   { return e.err.Error() }
func (e nsError) Unwrap() []error { return []error{ErrNamespace, e.err} }

// open binds procRoot and the namespace spec names: "" for tcpka's own, a
// name under runDir, a path, or pid:N (see netns.Resolve, whose errors it
// returns: ErrBadSpec and ErrNotNetns as they are, the others wrapping
// ErrNamespace too).
func open(procRoot, spec, runDir string) (*NS, error) {
	n := Own(procRoot)
	if spec == "" {
		return n, nil
	}
	t, err := netns.Resolve(spec, runDir, n.procRoot)
	if errors.Is(err, netns.ErrBadSpec) || errors.Is(err, netns.ErrNotNetns) {
		return nil, err
	}
	if err != nil {
		return nil, nsError{err}
	}
	n.target = t
	return n, nil
}

// Bind is a handle on the already open namespace target (nil: tcpka's
// own) under procRoot. Closing it closes target.
func Bind(procRoot string, target *netns.NS) *NS {
	n := Own(procRoot)
	n.target = target
	return n
}

// Close releases the namespace.
func (n *NS) Close() error { return n.target.Close() }

// ProcRoot is where procfs is read.
func (n *NS) ProcRoot() string { return n.procRoot }

// RealProc says whether the proc root is this machine's /proc: only then
// do pids, pidfds, BPF links and sockets mean what they say. A fake tree
// (tests) or a bind mount of /proc/sys/net alone (a container) is not.
func (n *NS) RealProc() bool { return filepath.Clean(n.procRoot) == sysctl.DefaultProcRoot }

// Target is the other namespace the handle is bound to, nil for tcpka's own.
func (n *NS) Target() *netns.NS { return n.target }

// In runs fn on a thread inside the namespace with the namespace's sysctl
// file system; fn must not hand work to other goroutines (they would not
// be inside). When the thread cannot enter the namespace, fn does not run
// and the error wraps ErrNamespace.
func (n *NS) In(fn func(fs sysctl.FS) error) error {
	fs := sysctl.NewFS(n.procRoot)
	if n.target == nil {
		return fn(fs)
	}
	ran := false
	err := netns.Do(n.target, func() error { ran = true; return fn(fs) })
	if err != nil && !ran {
		return nsError{err}
	}
	return err
}

// Read reads the sysctls tcpka manages (sysctl.Keys()).
func (n *NS) Read() (keepalive.Settings, error) {
	var v keepalive.Settings
	err := n.In(func(fs sysctl.FS) error {
		var err error
		v, err = fs.Read()
		return err
	})
	return v, err
}

// ReadNet reads the namespace's retransmission parameters (RTO bounds,
// tail loss probe) and the kernel's tick rate.
func (n *NS) ReadNet() detect.Net {
	var out detect.Net
	_ = n.In(func(sysctl.FS) error {
		out.Retrans = detect.ReadRetrans(n.procRoot)
		return nil
	})
	out.HZ, _ = detect.ReadHZ(n.procRoot)
	return out
}

// ID names the namespace as ls -l /proc/PID/ns prints it
// ("net:[4026531840]"), or "" where the proc tree names none (a fake tree).
func (n *NS) ID() string {
	if n.target != nil {
		return n.target.ID()
	}
	id, err := os.Readlink(n.procRoot + "/self/ns/net")
	if err != nil {
		return ""
	}
	return id
}

// Identity identifies the namespace for its records and journal: its
// cookie and inode, read on a thread inside it. A proc tree that is not
// this machine's /proc names no namespace (the zero NSID, "default").
func (n *NS) Identity() sysctl.NSID {
	var id sysctl.NSID
	if !n.RealProc() {
		return id
	}
	_ = n.In(func(sysctl.FS) error { id = IdentityHere(); return nil })
	return id
}

// IdentityHere is Identity of the calling thread's namespace (inside In or
// Every). The cookie comes from SO_NETNS_COOKIE (Linux 5.14+) on a socket
// made here; where that fails (an older kernel, a unit that forbids
// sockets) the inode stands alone.
func IdentityHere() sysctl.NSID {
	var id sysctl.NSID
	var st unix.Stat_t
	if unix.Stat("/proc/thread-self/ns/net", &st) == nil {
		id.Inode = st.Ino
	}
	if fd, err := unix.Socket(unix.AF_UNIX, unix.SOCK_DGRAM|unix.SOCK_CLOEXEC, 0); err == nil {
		if c, err := unix.GetsockoptUint64(fd, unix.SOL_SOCKET, unix.SO_NETNS_COOKIE); err == nil {
			id.Cookie = c
		}
		unix.Close(fd)
	}
	return id
}

// Alive reports whether the namespace a record names still exists: one
// with its inode is on the machine and, when the record has a cookie, has
// that cookie (an inode is reused within a few namespaces; a cookie never
// during a boot). When the machine's namespaces cannot be listed, every
// record is kept.
func Alive(procRoot, runDir string) func(sysctl.NSID) bool {
	l, err := netns.List(runDir, procRoot)
	if err != nil || l.Unreadable > 0 {
		return func(sysctl.NSID) bool { return true }
	}
	byInode := map[uint64]netns.Namespace{}
	for _, ns := range l.Namespaces {
		byInode[ns.Ino] = ns
	}
	return func(id sysctl.NSID) bool {
		ns, ok := byInode[id.Inode]
		if !ok {
			return false
		}
		if id.Cookie == 0 {
			return true
		}
		h, err := ns.Open()
		if err != nil {
			return !netns.IsGone(err)
		}
		defer h.Close()
		var live sysctl.NSID
		if err := netns.Do(h, func() error { live = IdentityHere(); return nil }); err != nil || live.Cookie == 0 {
			return true
		}
		return live.Cookie == id.Cookie
	}
}
