package systemd

import (
	"bytes"
	"io/fs"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
)

// TestOneBinPath: the units, the .deb, the Ansible role and the container
// image put or run tcpka at one path, BinPath. Each place that names it is
// read from the file that ships it, so a change in one of them fails here
// until the others follow.
func TestOneBinPath(t *testing.T) {
	cases := []struct {
		files string         // glob, relative to the repository's top
		re    *regexp.Regexp // its first group is a tcpka path
		min   int            // matches expected in each file, at least
	}{
		// Every command line of every shipped unit.
		{"systemd/*.service", regexp.MustCompile(`(?m)^Exec[A-Za-z]*=[-+@:!]*(\S+)`), 1},
		// The .deb's destination for the binary.
		{"packaging/nfpm.yaml", regexp.MustCompile(`(?m)^  - src: pkgroot/tcpka\n    dst: (\S+)$`), 1},
		// The Ansible role's default, which `tcpka install` then writes
		// into tcpka.service (it runs the binary that ran it).
		{"deploy/ansible/roles/tcpka/defaults/main.yml", regexp.MustCompile(`(?m)^tcpka_bin_path: (\S+)$`), 1},
		// The container image.
		{"deploy/container/Containerfile", regexp.MustCompile(`(?m)^(?:COPY tcpka (\S+)|ENTRYPOINT \["([^"]+)"\])$`), 2},
	}
	for _, c := range cases {
		files, err := filepath.Glob(filepath.Join("..", c.files))
		if err != nil || len(files) == 0 {
			t.Fatalf("%s: no such file (%v)", c.files, err)
		}
		for _, f := range files {
			data, err := os.ReadFile(f)
			if err != nil {
				t.Fatal(err)
			}
			m := c.re.FindAllSubmatch(data, -1)
			if len(m) < c.min {
				t.Errorf("%s: %d lines that name tcpka's path, want %d or more (%s)", f, len(m), c.min, c.re)
			}
			for _, x := range m {
				got := string(bytes.Join(x[1:], nil))
				if got != BinPath {
					t.Errorf("%s: %q names %s, want %s", f, x[0], got, BinPath)
				}
			}
		}
	}
	if !bytes.Contains(Unit, []byte("\nExecStart="+BinPath+" ")) {
		t.Errorf("the embedded tcpka.service does not run %s", BinPath)
	}
}

// binPathRE finds a tcpka binary in one of the usual directories
// (/usr/sbin, /usr/local/bin, /bin, ...), absolute or relative to a root;
// not below a variable or a command's output ($GOBIN/..., "$(go env
// GOPATH)"/bin/...: where a build puts it, not where it runs).
// (Spelt in two pieces so that this line does not name one.)
var binPathRE = regexp.MustCompile(`(?:^|[^A-Za-z0-9._$})/-])(/?(?:usr/)?(?:local/)?s?bin/` + `tcpka)(?:$|[^A-Za-z0-9._-])`)

// TestNoOtherBinPath: no file the repository ships names tcpka in another
// usual binary directory: scripts, units, packaging, deploy files, help
// texts, README.md and docs/ all say BinPath. Tests and their testdata are
// left out: they install from other paths on purpose; so is CHANGELOG.md,
// which tells what earlier versions did.
func TestNoOtherBinPath(t *testing.T) {
	skip := map[string]bool{".git": true, "dist": true, "testdata": true, "CHANGELOG.md": true}
	n := 0
	err := filepath.WalkDir("..", func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel("..", p)
		if skip[rel] || skip[d.Name()] || strings.HasSuffix(rel, "_test.go") {
			if d.IsDir() {
				return filepath.SkipDir
			}
			return nil
		}
		if d.IsDir() || !d.Type().IsRegular() {
			return nil
		}
		if info, err := d.Info(); err != nil || info.Size() > 1<<20 {
			return err
		}
		data, err := os.ReadFile(p)
		if err != nil || bytes.IndexByte(data, 0) >= 0 {
			return err // binary files name nothing
		}
		n++
		for i, line := range strings.Split(string(data), "\n") {
			for _, m := range binPathRE.FindAllStringSubmatch(line, -1) {
				if got := "/" + strings.TrimPrefix(m[1], "/"); got != BinPath {
					t.Errorf("%s:%d: names %s, want %s: %s", rel, i+1, m[1], BinPath, strings.TrimSpace(line))
				}
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if n < 100 {
		t.Fatalf("read %d files: not the repository's top?", n)
	}
}
