package bootcfg

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"github.com/tcpka/tcpka/internal/lazy"
	"github.com/tcpka/tcpka/systemd"
)

// ErrGoRun: the binary that runs install is a `go run` build.
var ErrGoRun = errors.New("it is a `go run` build, which Go deletes when it exits or trims its build cache")

// ErrHidden: the unit's sandbox hides the binary from the unit.
var ErrHidden = errors.New("the unit's sandbox hides it")

// goBuildDir is the directory `go run` and `go test` build in: go-build
// and a number, below os.TempDir() or $GOTMPDIR. Compiled on first use
// (install), not at init: every command would pay for it at start-up.
var goBuildDir = lazy.Regexp{Expr: `^go-build[0-9]+$`}

// goCacheExe is where `go run` keeps a binary it has built before (Go
// 1.24 and later): XX/XX...-d/NAME in the build cache, wherever $GOCACHE is.
var goCacheExe = lazy.Regexp{Expr: `/([0-9a-f]{2})/([0-9a-f]{64})-d/[^/]+$`}

// UnitBinary is the path tcpka.service runs, for an install under root by
// the binary exe (os.Executable with symlinks resolved; root resolved too).
// It is exe itself, as a path inside root. Under a root that does not hold
// exe (an image written by a tcpka from outside it) it is systemd.BinPath,
// where the package puts tcpka, and fromExe is false.
//
// It refuses a binary the unit could not run at boot: a `go run` build
// (exe below one of goTmp, os.TempDir() and $GOTMPDIR, in a go-build
// directory, or in the build cache, where Go 1.24 and later keep the
// binaries of `go run`), a path the unit's sandbox hides (unit's
// PrivateTmp=, ProtectHome=...), a name systemd cannot take
// (systemd.ErrExecPath).
func UnitBinary(root, exe string, unit []byte, goTmp []string) (bin string, fromExe bool, err error) {
	if root == "" {
		root = "/"
	}
	if !filepath.IsAbs(exe) {
		return "", false, fmt.Errorf("tcpka.service cannot run %s: not an absolute path", exe)
	}
	rel, err := filepath.Rel(root, exe)
	if err != nil || rel == ".." || strings.HasPrefix(rel, "../") {
		return systemd.BinPath, false, nil
	}
	bin = "/" + rel
	if m := goCacheExe.Get().FindStringSubmatch(exe); m != nil && strings.HasPrefix(m[2], m[1]) {
		return "", false, fmt.Errorf("tcpka.service cannot run %s: %w", exe, ErrGoRun)
	}
	for _, tmp := range goTmp {
		r, err := filepath.Rel(tmp, exe)
		if tmp == "" || err != nil || r == ".." || strings.HasPrefix(r, "../") {
			continue
		}
		for _, c := range strings.Split(filepath.Dir(r), "/") {
			if goBuildDir.Get().MatchString(c) {
				return "", false, fmt.Errorf("tcpka.service cannot run %s: %w", exe, ErrGoRun)
			}
		}
	}
	if dir, setting, ok := systemd.Hides(unit, bin); ok {
		return "", false, fmt.Errorf("tcpka.service cannot run %s: %w (%s: %s is not there for it)", where(root, bin), ErrHidden, setting, dir)
	}
	if _, err := systemd.WithBinary(unit, bin); err != nil {
		return "", false, fmt.Errorf("tcpka.service cannot run %q: %w", where(root, bin), err)
	}
	return bin, true, nil
}

// SystemdBooted is sd_booted(3): PID 1 is systemd.
func SystemdBooted() bool {
	st, err := os.Lstat("/run/systemd/system")
	return err == nil && st.IsDir()
}

// RunningUnit is tcpka.service as install writes it under root: running
// the binary that runs now (UnitBinary says which path that is inside
// root, or why no unit may run it).
func RunningUnit(root string) (bin string, unit []byte, err error) {
	exe, err := os.Executable()
	if err == nil {
		exe, err = filepath.EvalSymlinks(exe)
	}
	if err != nil {
		return "", nil, fmt.Errorf("tcpka.service runs the binary that runs install, and it cannot be found: %w", err)
	}
	realRoot, err := filepath.EvalSymlinks(root)
	if err != nil {
		realRoot = root // Install names what is wrong with it
	}
	var goTmp []string
	for _, d := range []string{os.TempDir(), os.Getenv("GOTMPDIR")} {
		if d == "" {
			continue
		}
		if r, err := filepath.EvalSymlinks(d); err == nil {
			d = r
		}
		goTmp = append(goTmp, d)
	}
	bin, _, err = UnitBinary(realRoot, exe, systemd.Unit, goTmp)
	if err != nil {
		return "", nil, err
	}
	unit, err = systemd.WithBinary(systemd.Unit, bin)
	return bin, unit, err
}
