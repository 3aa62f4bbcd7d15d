package profile

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strings"

	"github.com/tcpka/tcpka/internal/atomicfile"
	"github.com/tcpka/tcpka/internal/human"
	"github.com/tcpka/tcpka/profiles"
	"golang.org/x/sys/unix"
)

// Sentinel errors a caller can decide on with errors.Is. With ErrInvalid
// (profile.go) they sort every failure of Load: the argument names no
// profile (ErrUnknown, ErrNotFound) or a file that is no profile tcpka
// uses (ErrInvalid, ErrUnsafe too), or the file could not be read
// (ErrUnreadable).
var (
	// ErrUnknown: a name (no '/', no .yaml) that is not a shipped profile.
	ErrUnknown = errors.New("unknown profile")
	// ErrNotFound: a path that names no file. Whether that is an error is
	// the caller's to say: tcpka metrics reads the installed profile only
	// where there is one.
	ErrNotFound = errors.New("no such file")
	// ErrUnreadable: the file is there but could not be read (permission,
	// an I/O error): what it says could not be determined.
	ErrUnreadable = errors.New("cannot read")
)

// marked is err, its text unchanged, that also wraps a sentinel.
type marked struct{ sentinel, err error }

func (m marked) Error() string   { return m.err.Error() }
func (m marked) Unwrap() []error { return []error{m.sentinel, m.err} }

// IsPath says whether arg names a file rather than a shipped profile:
// anything containing '/' or ending in .yaml or .yml.
func IsPath(arg string) bool {
	return strings.Contains(arg, "/") || strings.HasSuffix(arg, ".yaml") || strings.HasSuffix(arg, ".yml")
}

// Load resolves arg to a shipped profile or a file and decodes it: a path
// is anything containing '/' or ending in .yaml or .yml (IsPath).
func Load(arg string) (*Profile, error) {
	if arg == "" {
		return nil, fmt.Errorf("%w: empty name", ErrUnknown)
	}
	if IsPath(arg) {
		return LoadFile(arg)
	}
	return Shipped(arg)
}

// MaxSize is the largest profile file tcpka reads; a profile is a few
// hundred bytes. The limit holds while reading, whatever stat says.
const MaxSize = 1 << 20

// LoadFile reads and decodes a profile file. The file is judged on the
// opened descriptor (a FIFO or a device is refused, never waited on), read
// through a hard byte limit, and, when tcpka runs as root, refused if group
// or others may write it or a directory above it, as sshd's StrictModes
// does: root would apply what anyone wrote.
func LoadFile(path string) (*Profile, error) {
	data, err := atomicfile.ReadFile(path, MaxSize, func(st *unix.Stat_t) error { return checkWriters(path, st) })
	shown := human.Safe(path)
	switch {
	case err == nil:
		return Decode(path, NameFromFile(path), data)
	case errors.Is(err, fs.ErrNotExist):
		return nil, fmt.Errorf("%s: %w", shown, ErrNotFound)
	case errors.Is(err, atomicfile.ErrIsDir):
		return nil, &Error{File: path, Msg: "is a directory, not a profile file"}
	case errors.Is(err, atomicfile.ErrTooLarge):
		return nil, &Error{File: path, Msg: fmt.Sprintf("larger than %d KiB: not a profile", MaxSize>>10)}
	case errors.Is(err, atomicfile.ErrNotRegular), errors.Is(err, ErrUnsafe):
		return nil, marked{ErrInvalid, err}
	case errors.Is(err, fs.ErrPermission):
		return nil, marked{ErrUnreadable, fmt.Errorf("%s: permission denied", shown)}
	}
	return nil, marked{ErrUnreadable, err}
}

// ErrUnsafe is wrapped, with ErrInvalid, when root is asked to apply a
// profile others may have written.
var ErrUnsafe = errors.New("writable by others")

// checkWriters refuses, when tcpka runs as root, a profile file that group
// or others may write, or that lies in a directory they may write without
// the sticky bit (sshd's StrictModes).
func checkWriters(path string, st *unix.Stat_t) error {
	if os.Geteuid() != 0 {
		return nil
	}
	if st.Mode&0o022 != 0 {
		return fmt.Errorf("%s: %w: mode %#o lets group or others change what root applies (chmod go-w %s)", path, ErrUnsafe, st.Mode&0o777, path)
	}
	abs, err := filepath.Abs(path)
	if err != nil {
		return err
	}
	dir, err := filepath.EvalSymlinks(filepath.Dir(abs))
	if err != nil {
		return err
	}
	for {
		var ds unix.Stat_t
		if err := unix.Stat(dir, &ds); err != nil {
			return err
		}
		if ds.Mode&0o022 != 0 && ds.Mode&unix.S_ISVTX == 0 {
			return fmt.Errorf("%s: %w: it lies in %s, which group or others may write (mode %#o): move it, or chmod go-w %s", path, ErrUnsafe, dir, ds.Mode&0o777, dir)
		}
		if dir == "/" {
			return nil
		}
		dir = filepath.Dir(dir)
	}
}

// Shipped returns the shipped profile called name.
func Shipped(name string) (*Profile, error) {
	data, err := profiles.FS.ReadFile(name + ".yaml")
	if err != nil {
		return nil, fmt.Errorf("%s: %w: shipped profiles are %s; a file path needs a '/' or a .yaml suffix",
			human.Safe(name), ErrUnknown, strings.Join(ShippedNames(), ", "))
	}
	p, err := Decode("profiles/"+name+".yaml", name, data)
	if err != nil {
		return nil, err
	}
	p.Origin = "shipped"
	return p, nil
}

// ShippedNames lists the shipped profiles, sorted.
func ShippedNames() []string {
	entries, _ := profiles.FS.ReadDir(".")
	var names []string
	for _, e := range entries {
		if n, ok := strings.CutSuffix(e.Name(), ".yaml"); ok {
			names = append(names, n)
		}
	}
	sort.Strings(names)
	return names
}

// All decodes every shipped profile.
func All() ([]*Profile, error) {
	var out []*Profile
	for _, n := range ShippedNames() {
		p, err := Shipped(n)
		if err != nil {
			return nil, err
		}
		out = append(out, p)
	}
	return out, nil
}
