package atomicfile

import (
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"os"
	"path"
	"path/filepath"
	"strings"

	"golang.org/x/sys/unix"
)

// Sentinel errors a caller can decide on with errors.Is.
var (
	// ErrSymlink: a symlink is in the way; tcpka does not follow them when writing.
	ErrSymlink = errors.New("is a symbolic link, which tcpka does not follow")
	// ErrNoDir: a directory tcpka writes into does not exist.
	ErrNoDir = errors.New("no such directory")
	// ErrNotDir: a component of the path is not a directory.
	ErrNotDir = errors.New("not a directory")
	// ErrReadOnly: the directory is on a read-only file system.
	ErrReadOnly = errors.New("read-only file system")
	// ErrPermission: the process may not write there (needs root).
	ErrPermission = errors.New("permission denied")
	// ErrNotRegular: the file is a FIFO, a device or a socket.
	ErrNotRegular = errors.New("not a regular file")
	// ErrIsDir: a file was expected and a directory found.
	ErrIsDir = errors.New("is a directory")
	// ErrTooLarge: the file is larger than the reader's limit.
	ErrTooLarge = errors.New("too large")
	// ErrExist: CreateFile found the name taken (by a file, a directory
	// or a symlink); it was left as it is.
	ErrExist = errors.New("file exists")
)

// tempInfix marks tcpka's temporary files: ".NAME.tcpka-tmp-RANDOM". They
// start with '.' and end in neither .conf nor .prom, so no loader or
// collector reads one left behind by a crash, and the next write of NAME
// removes it.
const tempInfix = ".tcpka-tmp-"

// Hook, when set, runs before each step of a write ("write", "fsync",
// "rename", "fsync-dir") and of a removal ("unlink", "rmdir") with the
// target's path; an error it returns fails
// that step as the system call would. Tests and the fault-injection
// benchmark use it; nothing else sets it.
var Hook func(step, target string) error

func hook(step, target string) error {
	if Hook == nil {
		return nil
	}
	return Hook(step, target)
}

// Dir is an open directory: every write, read and rename of a file in it
// happens relative to it, so it cannot be swapped for another directory
// mid-way.
type Dir struct {
	fd   int
	Path string // inside the root, e.g. /etc/sysctl.d
	Root string // "/" for this machine
}

// Close releases the directory.
func (d *Dir) Close() error { return unix.Close(d.fd) }

// Fd is the directory's descriptor, for *at system calls.
func (d *Dir) Fd() int { return d.fd }

// Classify maps permission and read-only errors onto the package's
// sentinels, keeping the original in the chain.
func Classify(err error) error {
	switch {
	case errors.Is(err, unix.EROFS):
		return Wrap(ErrReadOnly, err)
	case errors.Is(err, unix.EACCES), errors.Is(err, unix.EPERM):
		return Wrap(ErrPermission, err)
	}
	return err
}

// Wrap is an error that is both sentinel and err for errors.Is, and reads
// as the sentinel with err's text in parentheses only where that says
// more: "permission denied", not "permission denied (permission denied)"
// nor "permission denied (operation not permitted)": a bare errno that the
// sentinel stands for says nothing more.
func Wrap(sentinel, err error) error { return wrapped{sentinel, err} }

type wrapped struct{ sentinel, err error }

func (w wrapped) Unwrap() []error { return []error{w.sentinel, w.err} }

func (w wrapped) Error() string {
	s, e := w.sentinel.Error(), w.err.Error()
	if _, bare := w.err.(unix.Errno); bare || strings.Contains(s, e) || strings.Contains(e, s) {
		return s
	}
	return s + " (" + e + ")"
}

// OpenDir opens dir (a path inside root) component by component with
// O_NOFOLLOW, so a symlink anywhere below the root is refused rather than
// followed out of it. With create, missing components are made (mode 0755,
// whatever the umask) and their paths returned, so that an uninstall can
// remove exactly those.
func OpenDir(root, dir string, create bool) (*Dir, []string, error) {
	return openDir(root, dir, create, 0o755)
}

func openDir(root, dir string, create bool, mode uint32) (*Dir, []string, error) {
	if root == "" {
		root = "/"
	}
	fd, err := unix.Open(root, unix.O_RDONLY|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
	if err != nil {
		switch {
		case errors.Is(err, unix.ENOENT):
			return nil, nil, fmt.Errorf("root %s: %w", root, ErrNoDir)
		case errors.Is(err, unix.ENOTDIR):
			return nil, nil, fmt.Errorf("root %s: %w", root, ErrNotDir)
		}
		return nil, nil, fmt.Errorf("root %s: %w", root, Classify(err))
	}
	var created []string
	cur := "/"
	for _, c := range strings.Split(strings.Trim(path.Clean("/"+dir), "/"), "/") {
		if c == "" {
			continue
		}
		cur = path.Join(cur, c)
		next, err := unix.Openat(fd, c, unix.O_RDONLY|unix.O_DIRECTORY|unix.O_NOFOLLOW|unix.O_CLOEXEC, 0)
		if errors.Is(err, unix.ENOENT) && create {
			if err = unix.Mkdirat(fd, c, mode); err == nil || errors.Is(err, unix.EEXIST) {
				if err == nil {
					created = append(created, cur)
					_ = unix.Fchmodat(fd, c, mode, 0) // whatever the umask
				}
				next, err = unix.Openat(fd, c, unix.O_RDONLY|unix.O_DIRECTORY|unix.O_NOFOLLOW|unix.O_CLOEXEC, 0)
			}
		}
		if err != nil {
			var st unix.Stat_t
			switch {
			case unix.Fstatat(fd, c, &st, unix.AT_SYMLINK_NOFOLLOW) == nil && st.Mode&unix.S_IFMT == unix.S_IFLNK:
				err = ErrSymlink
			case errors.Is(err, unix.ENOENT):
				err = ErrNoDir
			case errors.Is(err, unix.ENOTDIR):
				err = ErrNotDir
			default:
				err = Classify(err)
			}
			unix.Close(fd)
			return nil, created, fmt.Errorf("%s: %w", Where(root, cur), err)
		}
		unix.Close(fd)
		fd = next
	}
	return &Dir{fd: fd, Path: path.Clean("/" + dir), Root: root}, created, nil
}

// Missing lists the directories OpenDir(root, dir, true) would create,
// outermost first, without creating them: nothing when dir exists. What
// would stop OpenDir (a missing root, a symlink, a file in the way) is
// the same error.
func Missing(root, dir string) ([]string, error) {
	cur := "/"
	for _, c := range append([]string{""}, strings.Split(strings.Trim(path.Clean("/"+dir), "/"), "/")...) {
		cur = path.Join(cur, c)
		d, _, err := OpenDir(root, cur, false)
		if err == nil {
			d.Close()
			continue
		}
		if cur == "/" || !errors.Is(err, ErrNoDir) {
			return nil, err
		}
		out := []string{cur}
		rest := strings.TrimPrefix(path.Clean("/"+dir), cur)
		for _, r := range strings.Split(strings.Trim(rest, "/"), "/") {
			if r != "" {
				out = append(out, path.Join(out[len(out)-1], r))
			}
		}
		return out, nil
	}
	return nil, nil
}

// Where names a path inside root as it is on this machine.
func Where(root, p string) string {
	if root == "/" || root == "" {
		return p
	}
	return strings.TrimSuffix(root, "/") + p
}

// Where is the directory as it is on this machine.
func (d *Dir) Where() string { return Where(d.Root, d.Path) }

func (d *Dir) where(name string) string { return strings.TrimSuffix(d.Where(), "/") + "/" + name }

// Kind is what is at a name in a directory.
type Kind int

const (
	Absent  Kind = iota
	Regular      // a regular file
	Link         // a symlink (never followed)
	Other        // a directory, device, FIFO, socket
)

// Stat says what is at name, without following a symlink.
func (d *Dir) Stat(name string) (Kind, *unix.Stat_t, error) {
	var st unix.Stat_t
	err := unix.Fstatat(d.fd, name, &st, unix.AT_SYMLINK_NOFOLLOW)
	switch {
	case errors.Is(err, unix.ENOENT):
		return Absent, nil, nil
	case err != nil:
		return Other, nil, fmt.Errorf("%s: %w", d.where(name), Classify(err))
	}
	switch st.Mode & unix.S_IFMT {
	case unix.S_IFLNK:
		return Link, &st, nil
	case unix.S_IFREG:
		return Regular, &st, nil
	}
	return Other, &st, nil
}

// ReadFile reads the regular file name, refusing a symlink or anything
// else, and at most limit bytes (a larger file is ErrTooLarge).
func (d *Dir) ReadFile(name string, limit int64) ([]byte, error) {
	fd, err := unix.Openat(d.fd, name, unix.O_RDONLY|unix.O_NOFOLLOW|unix.O_CLOEXEC|unix.O_NONBLOCK|unix.O_NOCTTY, 0)
	if err != nil {
		if errors.Is(err, unix.ELOOP) {
			return nil, fmt.Errorf("%s: %w", d.where(name), ErrSymlink)
		}
		return nil, &os.PathError{Op: "open", Path: d.where(name), Err: Classify(err)}
	}
	return readFD(fd, d.where(name), limit, nil)
}

// readFD reads the opened descriptor, which must be a regular file that
// check (when not nil) accepts, up to limit bytes, and closes it.
func readFD(fd int, name string, limit int64, check func(*unix.Stat_t) error) ([]byte, error) {
	f := os.NewFile(uintptr(fd), name)
	defer f.Close()
	var st unix.Stat_t
	if err := unix.Fstat(fd, &st); err != nil {
		return nil, fmt.Errorf("%s: %w", name, err)
	}
	if st.Mode&unix.S_IFMT == unix.S_IFDIR {
		return nil, fmt.Errorf("%s: %w", name, ErrIsDir)
	}
	if st.Mode&unix.S_IFMT != unix.S_IFREG {
		what := "a special file"
		switch st.Mode & unix.S_IFMT {
		case unix.S_IFIFO:
			what = "a FIFO"
		case unix.S_IFCHR, unix.S_IFBLK:
			what = "a device"
		case unix.S_IFSOCK:
			what = "a socket"
		}
		return nil, fmt.Errorf("%s: %w: it is %s", name, ErrNotRegular, what)
	}
	if check != nil {
		if err := check(&st); err != nil {
			return nil, err
		}
	}
	// The limit is applied while reading: stat's size is not trusted
	// (files under /proc say 0 and go on for ever). Reads go in whole
	// 64 KiB chunks: some /proc files refuse odd sizes.
	var data []byte
	buf := make([]byte, 64<<10)
	for {
		n, err := f.Read(buf)
		data = append(data, buf[:n]...)
		if int64(len(data)) > limit {
			return nil, fmt.Errorf("%s: %w: more than %d bytes", name, ErrTooLarge, limit)
		}
		if err == io.EOF {
			return data, nil
		}
		if err != nil {
			return nil, fmt.Errorf("%s: %w", name, err)
		}
	}
}

// ReadFile reads a regular file at path (symlinks in its directories are
// followed, as for any path a user gives; the file itself may be one),
// judged on the opened descriptor: a FIFO does not block the open, a
// directory or a device is refused, check (when not nil) sees the file's
// stat, and at most limit bytes are read.
func ReadFile(path string, limit int64, check func(*unix.Stat_t) error) ([]byte, error) {
	fd, err := unix.Open(path, unix.O_RDONLY|unix.O_CLOEXEC|unix.O_NONBLOCK|unix.O_NOCTTY, 0)
	if err != nil {
		return nil, &os.PathError{Op: "open", Path: path, Err: err}
	}
	return readFD(fd, path, limit, check)
}

// WriteFile replaces name atomically with data and mode (see the package
// comment). rename replaces a symlink at name, never its target.
func (d *Dir) WriteFile(name string, data []byte, mode os.FileMode) error {
	return d.write(name, data, mode, true)
}

// CreateFile is WriteFile for a name that must not exist yet: the file
// appears whole or not at all, and whatever holds the name, even if it
// appeared during the write, stays as it is (ErrExist). The last step
// is renameat2(RENAME_NOREPLACE), or link and unlink where the file
// system lacks it, so no check-then-write race is left.
func (d *Dir) CreateFile(name string, data []byte, mode os.FileMode) error {
	return d.write(name, data, mode, false)
}

func (d *Dir) write(name string, data []byte, mode os.FileMode, replace bool) error {
	d.CleanTemps(name)
	var rnd [8]byte
	if _, err := rand.Read(rnd[:]); err != nil {
		return err
	}
	tmp := "." + name + tempInfix + hex.EncodeToString(rnd[:])
	target := d.where(name)
	fail := func(err error) error {
		_ = unix.Unlinkat(d.fd, tmp, 0)
		return fmt.Errorf("write %s: %w", target, Classify(err))
	}
	fd, err := unix.Openat(d.fd, tmp, unix.O_WRONLY|unix.O_CREAT|unix.O_EXCL|unix.O_NOFOLLOW|unix.O_CLOEXEC, 0o600)
	if err != nil {
		return fmt.Errorf("write %s: %w", target, Classify(err))
	}
	f := os.NewFile(uintptr(fd), tmp)
	if err := hook("write", target); err != nil {
		f.Close()
		return fail(err)
	}
	if _, err := f.Write(data); err != nil {
		f.Close()
		return fail(err)
	}
	if err := f.Chmod(mode.Perm()); err != nil {
		f.Close()
		return fail(err)
	}
	if err := hook("fsync", target); err != nil {
		f.Close()
		return fail(err)
	}
	if err := f.Sync(); err != nil {
		f.Close()
		return fail(err)
	}
	if err := f.Close(); err != nil {
		return fail(err)
	}
	if err := hook("rename", target); err != nil {
		return fail(err)
	}
	if replace {
		err = unix.Renameat(d.fd, tmp, d.fd, name)
	} else {
		err = d.renameNoReplace(tmp, name)
	}
	if errors.Is(err, unix.EEXIST) {
		_ = unix.Unlinkat(d.fd, tmp, 0)
		return fmt.Errorf("write %s: %w", target, Wrap(ErrExist, err))
	}
	if err != nil {
		return fail(err)
	}
	if err := hook("fsync-dir", target); err != nil {
		return fmt.Errorf("write %s: %w", target, err)
	}
	return d.Sync()
}

// renameat2 is unix.Renameat2; a variable so a test can take
// RENAME_NOREPLACE away, as some file systems do.
var renameat2 = unix.Renameat2

// renameNoReplace moves tmp to name unless name exists (EEXIST). A file
// system without RENAME_NOREPLACE gets a hard link, which fails the same
// way, and the temporary name is removed.
func (d *Dir) renameNoReplace(tmp, name string) error {
	err := renameat2(d.fd, tmp, d.fd, name, unix.RENAME_NOREPLACE)
	if !errors.Is(err, unix.EINVAL) && !errors.Is(err, unix.ENOSYS) {
		return err
	}
	if err := unix.Linkat(d.fd, tmp, d.fd, name, 0); err != nil {
		return err
	}
	return unix.Unlinkat(d.fd, tmp, 0)
}

// Remove unlinks name (never following a symlink) and fsyncs the
// directory; a name that is already gone is not an error.
func (d *Dir) Remove(name string) error {
	if err := hook("unlink", d.where(name)); err != nil {
		return fmt.Errorf("remove %s: %w", d.where(name), Classify(err))
	}
	if err := unix.Unlinkat(d.fd, name, 0); err != nil {
		if errors.Is(err, unix.ENOENT) {
			return nil
		}
		return fmt.Errorf("remove %s: %w", d.where(name), Classify(err))
	}
	return d.Sync()
}

// RemoveDir removes the empty directory name; one that is not empty stays
// (it holds something tcpka did not write) and gone is false.
func (d *Dir) RemoveDir(name string) (gone bool, err error) {
	if err := hook("rmdir", d.where(name)); err != nil {
		return false, fmt.Errorf("remove %s: %w", d.where(name), Classify(err))
	}
	err = unix.Unlinkat(d.fd, name, unix.AT_REMOVEDIR)
	switch {
	case err == nil:
		return true, d.Sync()
	case errors.Is(err, unix.ENOENT):
		return true, nil
	case errors.Is(err, unix.ENOTEMPTY), errors.Is(err, unix.EEXIST):
		return false, nil
	}
	return false, fmt.Errorf("remove %s: %w", d.where(name), Classify(err))
}

// Sync fsyncs the directory, making renames and unlinks in it durable.
func (d *Dir) Sync() error {
	if err := unix.Fsync(d.fd); err != nil {
		return fmt.Errorf("fsync %s: %w", d.Where(), err)
	}
	return nil
}

// Names lists the directory.
func (d *Dir) Names() ([]string, error) {
	fd, err := unix.Openat(d.fd, ".", unix.O_RDONLY|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
	if err != nil {
		return nil, fmt.Errorf("list %s: %w", d.Where(), err)
	}
	f := os.NewFile(uintptr(fd), d.Path)
	defer f.Close()
	return f.Readdirnames(-1)
}

// CleanTemps removes temporary files a crashed write of name left behind.
func (d *Dir) CleanTemps(name string) {
	for _, n := range d.Temps(name) {
		_ = unix.Unlinkat(d.fd, n, 0)
	}
}

// Temps lists leftover temporary files of name ("" for every name).
func (d *Dir) Temps(name string) []string {
	names, _ := d.Names()
	var out []string
	for _, n := range names {
		if name == "" && strings.HasPrefix(n, ".") && strings.Contains(n, tempInfix) ||
			name != "" && strings.HasPrefix(n, "."+name+tempInfix) {
			out = append(out, n)
		}
	}
	return out
}

// WriteFile writes data to path atomically with mode: the one-shot form
// for a path a user gave (plan -o --force, the textfile directory), whose
// directories may be symlinks.
func WriteFile(path string, data []byte, mode os.FileMode) error {
	return writePath(path, data, mode, true)
}

// CreateFile is WriteFile for a path that must not exist yet (plan -o):
// see Dir.CreateFile.
func CreateFile(path string, data []byte, mode os.FileMode) error {
	return writePath(path, data, mode, false)
}

func writePath(path string, data []byte, mode os.FileMode, replace bool) error {
	dir, name := filepath.Split(path)
	if dir == "" {
		dir = "."
	}
	abs, err := filepath.Abs(dir)
	if err != nil {
		return err
	}
	if name == "" {
		return fmt.Errorf("write %s: no file name", path)
	}
	fd, err := unix.Open(abs, unix.O_RDONLY|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
	switch {
	case errors.Is(err, unix.ENOENT):
		return fmt.Errorf("%s: %w", abs, ErrNoDir)
	case errors.Is(err, unix.ENOTDIR):
		return fmt.Errorf("%s: %w", abs, ErrNotDir)
	case err != nil:
		return &os.PathError{Op: "open", Path: filepath.Join(abs, name), Err: err}
	}
	d := &Dir{fd: fd, Path: abs, Root: "/"}
	defer d.Close()
	return d.write(name, data, mode, replace)
}
