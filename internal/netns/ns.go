package netns

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"

	vns "github.com/vishvananda/netns"
	"golang.org/x/sys/unix"
)

// DefaultRunDir is where `ip netns add` bind-mounts named namespaces.
const DefaultRunDir = "/run/netns"

// Sentinel errors a caller can decide on with errors.Is.
var (
	// ErrNotExist: no namespace by that name, no such file.
	ErrNotExist = errors.New("no such network namespace")
	// ErrNotNetns: the file exists but is not a network namespace.
	ErrNotNetns = errors.New("not a network namespace")
	// ErrExited: the process named by pid:N is gone.
	ErrExited = errors.New("process has exited")
	// ErrBadSpec: the target is not a name, a path or pid:N.
	ErrBadSpec = errors.New("bad network namespace")
)

// NS is an open handle to one network namespace; it keeps the namespace
// alive until Close.
type NS struct {
	Path string // the file that was opened
	Dev  uint64 // device and inode of the namespace (nsfs)
	Ino  uint64
	h    vns.NsHandle
}

// ID names the namespace as ls -l /proc/PID/ns/net prints it: "net:[4026531840]".
func (n *NS) ID() string { return FormatID(n.Ino) }

// FormatID prints an inode the way /proc/PID/ns/net links do.
func FormatID(ino uint64) string { return "net:[" + strconv.FormatUint(ino, 10) + "]" }

// Close releases the handle.
func (n *NS) Close() error {
	if n == nil || !n.h.IsOpen() {
		return nil
	}
	return n.h.Close()
}

func (n *NS) String() string { return n.ID() }

// Open opens path and checks that it is a network namespace: a file on nsfs
// (/proc/PID/ns/net, or a bind mount of one such as /run/netns/NAME) whose
// namespace type is CLONE_NEWNET.
func Open(path string) (*NS, error) {
	// O_NONBLOCK: a FIFO given by mistake must not hang the open.
	fd, err := unix.Open(path, unix.O_RDONLY|unix.O_CLOEXEC|unix.O_NONBLOCK|unix.O_NOCTTY, 0)
	if err != nil {
		if errors.Is(err, unix.ENOENT) {
			return nil, fmt.Errorf("%s: %w", path, fmt.Errorf("%w: no such file", ErrNotExist))
		}
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	n := &NS{Path: path, h: vns.NsHandle(fd)}
	if err := n.check(); err != nil {
		n.Close()
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return n, nil
}

func (n *NS) check() error {
	fd := int(n.h)
	var sfs unix.Statfs_t
	if err := unix.Fstatfs(fd, &sfs); err != nil {
		return err
	}
	if sfs.Type != unix.NSFS_MAGIC {
		var st unix.Stat_t
		what := "a plain file"
		if unix.Fstat(fd, &st) == nil && st.Mode&unix.S_IFMT == unix.S_IFDIR {
			what = "a directory"
		}
		return fmt.Errorf("%w: %s (want /run/netns/NAME, /proc/PID/ns/net or a bind mount of one)", ErrNotNetns, what)
	}
	typ, err := unix.IoctlRetInt(fd, unix.NS_GET_NSTYPE)
	if err != nil {
		return fmt.Errorf("namespace type: %w", err)
	}
	if typ != unix.CLONE_NEWNET {
		return fmt.Errorf("%w: it is a %s namespace", ErrNotNetns, typeName(typ))
	}
	var st unix.Stat_t
	if err := unix.Fstat(fd, &st); err != nil {
		return err
	}
	n.Dev, n.Ino = st.Dev, st.Ino
	return nil
}

func typeName(t int) string {
	switch t {
	case unix.CLONE_NEWNS:
		return "mnt"
	case unix.CLONE_NEWUTS:
		return "uts"
	case unix.CLONE_NEWIPC:
		return "ipc"
	case unix.CLONE_NEWPID:
		return "pid"
	case unix.CLONE_NEWUSER:
		return "user"
	case unix.CLONE_NEWCGROUP:
		return "cgroup"
	case unix.CLONE_NEWTIME:
		return "time"
	}
	return fmt.Sprintf("type %#x", t)
}

// Resolve opens the network namespace spec names:
//   - pid:N, the namespace of process N (procRoot/N/ns/net);
//   - a path (anything with a '/'), a namespace file or a bind mount of one;
//   - otherwise a name under runDir, as `ip netns add NAME` makes.
//
// Every error says which of the three it took spec for and why it failed.
func Resolve(spec, runDir, procRoot string) (*NS, error) {
	switch {
	case spec == "":
		return nil, fmt.Errorf("%w: empty (want NAME, PATH or pid:N)", ErrBadSpec)
	case strings.HasPrefix(spec, "pid:"):
		return resolvePid(spec, procRoot)
	case strings.Contains(spec, "/"):
		n, err := Open(spec)
		if err != nil {
			return nil, errors.Unwrap(err) // the caller names spec
		}
		return n, nil
	case spec == "." || spec == "..":
		return nil, fmt.Errorf("%q: %w (want NAME, PATH or pid:N)", spec, ErrBadSpec)
	}
	path := filepath.Join(runDir, spec)
	n, err := Open(path)
	if errors.Is(err, ErrNotExist) {
		return nil, fmt.Errorf("%w named %q in %s (ip netns list shows the names; give a path or pid:N for others)", ErrNotExist, spec, runDir)
	}
	return n, err
}

func resolvePid(spec, procRoot string) (*NS, error) {
	pid, err := strconv.Atoi(strings.TrimPrefix(spec, "pid:"))
	if err != nil || pid < 1 {
		return nil, fmt.Errorf("%q: %w: pid must be a positive integer", spec, ErrBadSpec)
	}
	dir := filepath.Join(procRoot, strconv.Itoa(pid))
	n, err := Open(filepath.Join(dir, "ns", "net"))
	if err == nil {
		return n, nil
	}
	if errors.Is(err, ErrNotExist) {
		if _, serr := os.Stat(dir); serr == nil {
			// A zombie keeps its /proc entry but has left its namespaces.
			return nil, fmt.Errorf("%w (pid %d is a zombie: it left its namespaces)", ErrExited, pid)
		}
		return nil, fmt.Errorf("%w (no process %d)", ErrExited, pid)
	}
	if errors.Is(err, unix.EACCES) || errors.Is(err, unix.EPERM) {
		return nil, fmt.Errorf("cannot open the network namespace of pid %d (needs root or the same user): %w", pid, errors.Unwrap(err))
	}
	return nil, errors.Unwrap(err)
}

// IsGone says whether err means the namespace no longer exists: its names
// were removed and its processes exited since it was listed.
func IsGone(err error) bool { return errors.Is(err, ErrNotExist) || errors.Is(err, ErrExited) }

// FromFD checks that fd (which the caller keeps and closes) is a network
// namespace and returns a handle to a duplicate of it, e.g. for the
// namespace SIOCGSKNS gives for a socket.
func FromFD(fd int, name string) (*NS, error) {
	dup, err := unix.FcntlInt(uintptr(fd), unix.F_DUPFD_CLOEXEC, 0)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", name, err)
	}
	n := &NS{Path: name, h: vns.NsHandle(dup)}
	if err := n.check(); err != nil {
		n.Close()
		return nil, fmt.Errorf("%s: %w", name, err)
	}
	return n, nil
}

// Handle is the open namespace file, for libraries that take one
// (netlink.NewHandleAt, netlink.NsFd); it stays owned by n.
func (n *NS) Handle() vns.NsHandle { return n.h }
