package enforce

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"

	"github.com/tcpka/tcpka/internal/keepalive"
	"github.com/tcpka/tcpka/internal/lazy"
	"golang.org/x/sys/unix"
)

// ErrNoCgroup2 is wrapped when no cgroup v2 hierarchy is mounted (a pure
// cgroup v1 system) or a directory is not part of one.
var ErrNoCgroup2 = errors.New("no cgroup v2")

// Cgroup2Mount returns the mount point and mount root of the cgroup v2
// hierarchy listed in mountinfo (/proc/self/mountinfo): /sys/fs/cgroup in
// the unified layout, /sys/fs/cgroup/unified in the hybrid one.
func Cgroup2Mount(mountinfo io.Reader) (mountPoint, root string, err error) {
	sc := bufio.NewScanner(mountinfo)
	sc.Buffer(make([]byte, 0, 64<<10), 1<<20)
	for sc.Scan() {
		// 40 30 0:37 / /sys/fs/cgroup/unified rw,relatime - cgroup2 cgroup2 rw
		f := strings.Fields(sc.Text())
		sep := -1
		for i, x := range f {
			if x == "-" {
				sep = i
				break
			}
		}
		if sep < 5 || sep+1 >= len(f) || f[sep+1] != "cgroup2" {
			continue
		}
		return unescapeMount(f[4]), unescapeMount(f[3]), nil
	}
	if err := sc.Err(); err != nil {
		return "", "", err
	}
	return "", "", fmt.Errorf("%w: no cgroup2 file system is mounted (cgroup v1 only): the BPF mode needs cgroup v2; use --pid for live sockets", ErrNoCgroup2)
}

// unescapeMount undoes mountinfo's octal escapes (\040 for a space).
func unescapeMount(s string) string {
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		if s[i] == '\\' && i+3 < len(s) {
			if n, err := strconv.ParseUint(s[i+1:i+4], 8, 8); err == nil {
				b.WriteByte(byte(n))
				i += 3
				continue
			}
		}
		b.WriteByte(s[i])
	}
	return b.String()
}

// Cgroup is a cgroup v2 directory and its id (the inode number the kernel
// reports in bpf_link info).
type Cgroup struct {
	Path string
	ID   uint64
}

// OpenCgroup checks that dir is a cgroup v2 directory and returns it.
func OpenCgroup(dir string) (Cgroup, error) {
	abs, err := filepath.Abs(dir)
	if err != nil {
		return Cgroup{}, err
	}
	var st unix.Stat_t
	if err := unix.Stat(abs, &st); err != nil {
		return Cgroup{}, fmt.Errorf("cgroup %s: %w", dir, err)
	}
	if st.Mode&unix.S_IFMT != unix.S_IFDIR {
		return Cgroup{}, fmt.Errorf("cgroup %s: not a directory", dir)
	}
	var fs unix.Statfs_t
	if err := unix.Statfs(abs, &fs); err != nil {
		return Cgroup{}, fmt.Errorf("cgroup %s: %w", dir, err)
	}
	if fs.Type != unix.CGROUP2_SUPER_MAGIC {
		return Cgroup{}, fmt.Errorf("cgroup %s: %w: not a directory of a cgroup2 file system (see mount -t cgroup2)", dir, ErrNoCgroup2)
	}
	return Cgroup{Path: abs, ID: st.Ino}, nil
}

// cgroupByID finds the directory below mountPoint whose id is id,
// searching every level (a service's cgroup sits deep below the mount).
func cgroupByID(mountPoint string, id uint64) string {
	found := ""
	_ = filepath.WalkDir(mountPoint, func(p string, d os.DirEntry, err error) error {
		switch {
		case err != nil && d != nil && d.IsDir():
			return filepath.SkipDir // unreadable: look elsewhere
		case err != nil || !d.IsDir():
			return nil // cgroup.procs and the other files
		}
		var st unix.Stat_t
		if unix.Stat(p, &st) == nil && st.Ino == id {
			found = p
			return filepath.SkipAll
		}
		return nil
	})
	return found
}

// ErrUnit is wrapped when a systemd unit's cgroup cannot be found.
var ErrUnit = errors.New("unit")

// unitName is compiled on first use, not at init: every tcpka command
// (show included) would pay for it at start-up.
var unitName = lazy.Regexp{Expr: `^[A-Za-z0-9:_.\\@-]+\.(service|scope)$`}

// NormalizeUnit adds ".service" to a bare name and refuses names that are
// not a service or scope (a slice covers many services: use --cgroup).
func NormalizeUnit(name string) (string, error) {
	if !strings.Contains(name, ".") {
		name += ".service"
	}
	if !unitName.Get().MatchString(name) {
		return "", fmt.Errorf("%w %q: not a service or scope name (NAME.service); for a slice or any other cgroup use --cgroup DIR", ErrUnit, name)
	}
	return name, nil
}

// UnitCgroup finds the cgroup directory of a running systemd unit: it asks
// systemctl for the unit's ControlGroup and puts it below the cgroup2 mount
// read from mountinfo (unified or hybrid layout).
func UnitCgroup(unit string, mountinfo io.Reader) (string, error) {
	mp, root, err := Cgroup2Mount(mountinfo)
	if err != nil {
		return "", err
	}
	systemctl, err := exec.LookPath("systemctl")
	if err != nil {
		return "", fmt.Errorf("%w %s: systemctl not found: --unit needs systemd; use --cgroup DIR", ErrUnit, unit)
	}
	out, err := exec.Command(systemctl, "show", "--property=ControlGroup", "--value", "--", unit).Output()
	if err != nil {
		msg := ""
		var ee *exec.ExitError
		if errors.As(err, &ee) {
			msg = strings.TrimSpace(string(ee.Stderr))
		}
		if msg == "" {
			msg = err.Error()
		}
		return "", fmt.Errorf("%w %s: systemctl show: %s", ErrUnit, unit, firstLine(msg))
	}
	cg := strings.TrimSpace(string(out))
	if cg == "" {
		return "", fmt.Errorf("%w %s: has no cgroup: it is not running (start it first; the drop-in from tcpka render PROFILE --format unit --unit NAME attaches at every start)", ErrUnit, unit)
	}
	rel := cg
	if root != "/" {
		r, ok := strings.CutPrefix(cg, root)
		if !ok {
			return "", fmt.Errorf("%w %s: cgroup %s is outside the cgroup2 mount's root %s", ErrUnit, unit, cg, root)
		}
		rel = r
	}
	return filepath.Join(mp, rel), nil
}

func firstLine(s string) string {
	if i := strings.IndexByte(s, '\n'); i >= 0 {
		return s[:i]
	}
	return s
}

// DropIn is the systemd drop-in that attaches profile to unit's cgroup
// before every start (systemd makes a new cgroup each time, and a link on
// the old one stops applying) and removes the pin after it stops. bin is
// tcpka's absolute path.
func DropIn(bin, profile, unit string) string {
	return fmt.Sprintf(`# /etc/systemd/system/%[3]s.d/tcpka-enforce.conf
# Written by tcpka: give every TCP connection of %[3]s keepalive with
# profile %[2]s. systemd makes a new cgroup at each start, so the BPF
# program is attached again before the service starts; the '+' runs tcpka
# with full privileges. Put a '-' after '=' to start the service even when
# enforcing fails (old kernel, no cgroup v2).
[Service]
ExecStartPre=+%[1]s enforce %[2]s --unit %%n
ExecStopPost=-+%[1]s enforce --remove --unit %%n
`, bin, profile, unit)
}

// safeArg is a profile argument a command line in a unit holds as it is:
// no space or quote to split or join words, no % (a specifier) or $ (a
// variable), no backslash (an escape). Compiled on first use, like unitName.
var safeArg = lazy.Regexp{Expr: `^[A-Za-z0-9/._+@:,=~-]+$`}

// UnitDropIn is DropIn for a profile with settings s, named profile on the
// command line (a shipped profile's name or an absolute path), checked as
// enforce would check it at every start of the unit: the profile sets
// something a socket carries, unit names a service or scope, and the
// profile's name fits on a command line. It is the one implementation
// behind `tcpka render --format unit --unit NAME` (and enforce's old
// spelling of it, --drop-in).
func UnitDropIn(bin, profile string, s keepalive.Settings, unit string) (string, error) {
	if _, err := Instructions(s.PerSocket()); err != nil {
		return "", err
	}
	u, err := NormalizeUnit(unit)
	if err != nil {
		return "", err
	}
	if !safeArg.Get().MatchString(profile) {
		return "", fmt.Errorf("profile %q: a unit's command line cannot hold this name as it is (a space, quote, backslash, %% or $): rename or move the file", profile)
	}
	return DropIn(bin, profile, u), nil
}

// CgroupDir is the cgroup a command names: dir itself (--cgroup DIR), or
// the cgroup of the running systemd unit (--unit NAME), found through the
// cgroup2 mount in procRoot's mountinfo.
func CgroupDir(procRoot, dir, unit string) (string, error) {
	if dir != "" {
		return dir, nil
	}
	unit, err := NormalizeUnit(unit)
	if err != nil {
		return "", err
	}
	mi, err := os.Open(filepath.Join(procRoot, "self", "mountinfo"))
	if err != nil {
		return "", err
	}
	defer mi.Close()
	return UnitCgroup(unit, mi)
}
