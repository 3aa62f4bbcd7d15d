package atomicfile

import (
	"errors"
	"fmt"
	"os"
	"path"
	"strings"

	"golang.org/x/sys/unix"
)

// ErrUnsafe is wrapped when a state directory (or a file in it) belongs to
// someone other than root, or others may write it: tcpka, running as
// root, would otherwise act on records anyone could forge.
var ErrUnsafe = errors.New("unsafe state")

// PrivateDir opens the state directory rel below base (e.g. "/run" and
// "tcpka/revert"), creating what is missing with mode 0700, and refuses it
// unless it and every directory between base and it are owned by the
// process's user (root) and writable by no one else. base itself (a system
// directory) must not be writable by others unless it has the sticky bit,
// as /tmp does.
func PrivateDir(base, rel string) (*Dir, error) { return privateDir(base, rel, true) }

// OpenPrivateDir is PrivateDir for a reader: nothing is created, and a
// directory that does not exist yet is an error wrapping os.ErrNotExist.
func OpenPrivateDir(base, rel string) (*Dir, error) { return privateDir(base, rel, false) }

func privateDir(base, rel string, create bool) (*Dir, error) {
	uid := os.Geteuid()
	b, _, err := OpenDir("/", base, false)
	if errors.Is(err, ErrNoDir) && !create {
		return nil, fmt.Errorf("%w: %w", err, os.ErrNotExist)
	}
	if err != nil {
		return nil, err
	}
	var st unix.Stat_t
	if err := unix.Fstat(b.fd, &st); err != nil {
		b.Close()
		return nil, err
	}
	b.Close()
	if st.Mode&0o002 != 0 && st.Mode&unix.S_ISVTX == 0 {
		return nil, fmt.Errorf("%s: %w: writable by everyone, without the sticky bit", base, ErrUnsafe)
	}
	rel = path.Clean("/" + rel)
	d, _, err := openDir(path.Clean(base), rel, create, 0o700)
	if errors.Is(err, ErrNoDir) && !create {
		return nil, fmt.Errorf("%w: %w", err, os.ErrNotExist)
	}
	if err != nil {
		return nil, err
	}
	// Check every directory from base down: any of them handed to another
	// user would let that user swap what lies below.
	cur := path.Clean(base)
	for _, c := range strings.Split(strings.Trim(rel, "/"), "/") {
		cur = path.Join(cur, c)
		if err := unix.Lstat(cur, &st); err != nil {
			d.Close()
			return nil, fmt.Errorf("%s: %w", cur, err)
		}
		if err := checkOwned(cur, &st, uid); err != nil {
			d.Close()
			return nil, err
		}
	}
	return d, nil
}

// checkOwned refuses a state path not owned by uid or writable by group
// or others.
func checkOwned(p string, st *unix.Stat_t, uid int) error {
	if int(st.Uid) != uid {
		return fmt.Errorf("%s: %w: owned by uid %d, not %d (remove it; tcpka makes it again, owned by root, mode 0700)", p, ErrUnsafe, st.Uid, uid)
	}
	if st.Mode&0o022 != 0 {
		return fmt.Errorf("%s: %w: mode %#o lets others write it (remove it, or chmod go-w)", p, ErrUnsafe, st.Mode&0o7777)
	}
	return nil
}

// ReadPrivate reads name in a private directory: a regular file, owned by
// the process's user, not writable by others, at most limit bytes; a
// missing file is os.ErrNotExist.
func (d *Dir) ReadPrivate(name string, limit int64) ([]byte, error) {
	kind, st, err := d.Stat(name)
	switch {
	case err != nil:
		return nil, err
	case kind == Absent:
		return nil, fmt.Errorf("%s: %w", d.where(name), os.ErrNotExist)
	case kind == Link:
		return nil, fmt.Errorf("%s: %w: %w", d.where(name), ErrUnsafe, ErrSymlink)
	}
	if err := checkOwned(d.where(name), st, os.Geteuid()); err != nil {
		return nil, err
	}
	return d.ReadFile(name, limit)
}
