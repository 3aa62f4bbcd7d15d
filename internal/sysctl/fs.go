package sysctl

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"

	"github.com/tcpka/tcpka/internal/atomicfile"
	"github.com/tcpka/tcpka/internal/keepalive"
	"golang.org/x/sys/unix"
)

// DefaultProcRoot is where procfs is mounted.
const DefaultProcRoot = "/proc"

// Sentinel errors a caller can decide on with errors.Is.
var (
	// ErrPermission: the process may not write the sysctls (needs root,
	// CAP_NET_ADMIN over the netns).
	ErrPermission = errors.New("permission denied")
	// ErrReadOnly: /proc/sys is mounted read-only, as in most containers.
	ErrReadOnly = errors.New("/proc/sys is read-only")
	// ErrNotExist: the key is missing (no IPv4, or a wrong --proc-root).
	ErrNotExist = errors.New("no such sysctl")
	// ErrMalformed: the file held something that is not an integer.
	ErrMalformed = errors.New("malformed value")
	// ErrRead is wrapped by every error of reading a key (missing, not
	// permitted, malformed), alongside the sentinel that says why: the
	// values could not be determined, as opposed to a write that failed.
	ErrRead = errors.New("cannot read the sysctls")
)

// readError marks err as a failed read (ErrRead) without changing its
// text, which already says "read PATH: why".
type readError struct{ err error }

func (e readError) Error() string   { return e.err.Error() }
func (e readError) Unwrap() []error { return []error{ErrRead, e.err} }

func readFailed(format string, args ...any) error { return readError{fmt.Errorf(format, args...)} }

// FS reads and writes the keepalive sysctls below a proc root. The netns is
// the one of the calling thread: /proc/sys/net shows the netns of whoever
// opens it.
type FS struct {
	root string
}

// NewFS returns an FS rooted at procRoot ("" means /proc).
func NewFS(procRoot string) FS {
	if procRoot == "" {
		procRoot = DefaultProcRoot
	}
	return FS{root: procRoot}
}

// Root is the proc root the FS reads.
func (fs FS) Root() string { return fs.root }

// Path is the file that holds k.
func (fs FS) Path(k Key) string {
	return filepath.Join(fs.root, "sys", k.RelPath())
}

// ReadKey reads one key.
func (fs FS) ReadKey(k Key) (int, error) {
	b, err := readSmall(fs.Path(k))
	if err != nil {
		return 0, readFailed("read %s: %w", fs.Path(k), classify(err))
	}
	n, err := strconv.Atoi(strings.TrimSpace(string(b)))
	if err != nil {
		return 0, readFailed("read %s: %w: %q", fs.Path(k), ErrMalformed, strings.TrimSpace(string(b)))
	}
	return n, nil
}

// Read reads the managed keys (Keys). It walks to /proc/sys/net/ipv4 once and opens
// the keys relative to it: with many network namespaces each walk through
// /proc/sys/net is slow (the kernel compares the name against one "net"
// entry per namespace), so one walk instead of three matters for
// --all-netns.
func (fs FS) Read() (keepalive.Settings, error) {
	dir := filepath.Dir(fs.Path(keepalive.Time))
	dfd, err := unix.Open(dir, unix.O_PATH|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
	if err != nil {
		// Let ReadKey name the key and classify the error.
		_, kerr := fs.ReadKey(keepalive.Time)
		if kerr == nil {
			kerr = readFailed("open %s: %w", dir, err)
		}
		return keepalive.Settings{}, kerr
	}
	defer unix.Close(dfd)
	var v keepalive.Settings
	for _, k := range Keys() {
		b, err := readSmallAt(dfd, k.Sysctl, fs.Path(k))
		if err != nil && k.Optional && errors.Is(err, os.ErrNotExist) {
			continue
		}
		if err != nil {
			return keepalive.Settings{}, readFailed("read %s: %w", fs.Path(k), classify(err))
		}
		n, err := strconv.Atoi(strings.TrimSpace(string(b)))
		if err != nil {
			return keepalive.Settings{}, readFailed("read %s: %w: %q", fs.Path(k), ErrMalformed, strings.TrimSpace(string(b)))
		}
		k.Set(&v, n)
	}
	return v, nil
}

// WriteKey writes one key as given: callers validate first (Apply does), so
// that a rollback can restore whatever was there, valid or not. It does not
// create the file: a sysctl that does not exist is an error, not a new file.
func (fs FS) WriteKey(k Key, v int) error {
	f, err := os.OpenFile(fs.Path(k), os.O_WRONLY|os.O_TRUNC, 0)
	if err != nil {
		return fmt.Errorf("write %s: %w", fs.Path(k), classify(err))
	}
	_, werr := f.WriteString(strconv.Itoa(v) + "\n")
	cerr := f.Close()
	if werr == nil {
		werr = cerr
	}
	if werr != nil {
		return fmt.Errorf("write %s: %w", fs.Path(k), classify(werr))
	}
	return nil
}

// classify maps errno values onto the package's sentinels, keeping the
// original error in the chain.
func classify(err error) error {
	switch {
	case errors.Is(err, syscall.EROFS):
		return atomicfile.Wrap(ErrReadOnly, err)
	case errors.Is(err, syscall.EACCES), errors.Is(err, syscall.EPERM):
		return atomicfile.Wrap(ErrPermission, err)
	case errors.Is(err, os.ErrNotExist):
		return atomicfile.Wrap(ErrNotExist, err)
	}
	return err
}

// readSmall reads a short file with plain system calls. os.ReadFile would
// register a /proc/sys file (which supports poll) with Go's netpoller, which
// costs several system calls and scheduler wake-ups per read; that adds up
// when tcpka reads every network namespace on a locked thread.
func readSmall(path string) ([]byte, error) {
	return readSmallAt(unix.AT_FDCWD, path, path)
}

// readSmallAt is readSmall of name relative to the directory dfd; path is
// for errors.
func readSmallAt(dfd int, name, path string) ([]byte, error) {
	fd, err := unix.Openat(dfd, name, unix.O_RDONLY|unix.O_CLOEXEC, 0)
	if err != nil {
		return nil, &os.PathError{Op: "open", Path: path, Err: err}
	}
	defer unix.Close(fd)
	buf := make([]byte, 64)
	n := 0
	for n < len(buf) {
		m, err := unix.Read(fd, buf[n:])
		if err == unix.EINTR {
			continue
		}
		if err != nil {
			return nil, &os.PathError{Op: "read", Path: path, Err: err}
		}
		if m == 0 {
			break
		}
		n += m
	}
	return buf[:n], nil
}
