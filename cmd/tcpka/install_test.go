package main

import (
	"bytes"
	"crypto/sha256"
	"fmt"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"syscall"
	"testing"
)

// TestInstallHostUnit runs `tcpka install` as an admin would on this
// machine (root "/", no --root), in a private mount namespace where /etc,
// /usr/local, /run, /var/tmp and /home are throwaway (testdata/hostroot.sh):
// tcpka.service runs the binary that ran install, found through its
// symlinks, and install refuses binaries the unit could not run at boot
// (a real `go run`, one in a directory the unit's sandbox hides),
// writing nothing then.
func TestInstallHostUnit(t *testing.T) {
	needRoot(t)
	if _, err := exec.LookPath("go"); err != nil {
		t.Skip("needs the go command for the `go run` case")
	}
	bin := tcpkaBinary(t)
	written := []string{"/etc/sysctl.d/60-tcpka.conf", "/etc/systemd/system/tcpka.service", "/etc/tcpka/install.json", "/etc/tcpka/profile.yaml"}
	cases := []struct {
		name   string
		script string // bash; $BIN is a tcpka built from this tree
		rc     string
		stdout string // a regexp stdout matches
		stderr string // the one line on stderr; "" for none
		unit   string // OUT/execstart
		files  []string
	}{
		{
			name: "through a symlink",
			script: `mkdir -p /usr/local/lib/tcpka-1.2 && cp "$BIN" /usr/local/lib/tcpka-1.2/tcpka &&
				ln -sf ../lib/tcpka-1.2/tcpka /usr/local/bin/tcpka && exec /usr/local/bin/tcpka install ssh`,
			rc:     "0",
			stdout: `(?m)^  create    /etc/systemd/system/tcpka.service\n(.*\n)*next: systemctl enable tcpka.service`,
			unit:   "ExecStart=/usr/local/lib/tcpka-1.2/tcpka apply /etc/tcpka/profile.yaml (executable)",
			files:  written,
		},
		{
			name: "a path with a space",
			script: `mkdir -p "/usr/local/my tools" && cp "$BIN" "/usr/local/my tools/tcpka" &&
				exec "/usr/local/my tools/tcpka" install ssh`,
			rc:    "0",
			unit:  `ExecStart="/usr/local/my tools/tcpka" apply /etc/tcpka/profile.yaml (executable)`,
			files: written,
		},
		{
			name: "go run twice",
			// The first may build in $TMPDIR/go-build*, a later one run
			// the binary Go kept in its build cache: both are refused.
			script: `cd ../.. && go run ./cmd/tcpka install ssh 2>/run/err1; echo "first: $?" >&2; cat /run/err1 >&2;
				exec go run ./cmd/tcpka install ssh`,
			rc:     "1", // go run exits 1 when the program fails; the program exits 2
			stderr: "^first: 1\n(tcpka: install: tcpka.service cannot run /\\S+: it is a `go run` build, which Go deletes when it exits or trims its build cache: build tcpka \\(go build -o tcpka ./cmd/tcpka, or go install\\), copy it to /usr/sbin/tcpka and run install with that binary: sudo /usr/sbin/tcpka install ssh\nexit status 2\n){2}$",
			unit:   "no unit",
		},
		{
			name:   "in a home directory",
			script: `mkdir -p /home/ann/go/bin && cp "$BIN" /home/ann/go/bin/tcpka && exec /home/ann/go/bin/tcpka install ssh`,
			rc:     "2",
			stderr: "^tcpka: install: tcpka.service cannot run /home/ann/go/bin/tcpka: the unit's sandbox hides it \\(ProtectHome=yes: /home is not there for it\\): copy it to /usr/sbin/tcpka and run install with that binary: sudo /usr/sbin/tcpka install ssh\n$",
			unit:   "no unit",
		},
		{
			name:   "in var tmp with dry run",
			script: `cp "$BIN" /var/tmp/tcpka && exec /var/tmp/tcpka install ssh --dry-run`,
			rc:     "2",
			stderr: "^tcpka: install: tcpka.service cannot run /var/tmp/tcpka: the unit's sandbox hides it \\(PrivateTmp=yes: /var/tmp is not there for it\\): copy it to /usr/sbin/tcpka and run install with that binary: sudo /usr/sbin/tcpka install ssh\n$",
			unit:   "no unit",
		},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			dir := t.TempDir()
			scratch, out := filepath.Join(dir, "scratch"), filepath.Join(dir, "out")
			os.Mkdir(scratch, 0o755)
			os.Mkdir(out, 0o755)
			cmd := exec.Command("unshare", "-m", "--propagation", "private",
				"testdata/hostroot.sh", scratch, out, "--", "bash", "-c", c.script)
			cmd.Env = append(os.Environ(), "BIN="+bin)
			if b, err := cmd.CombinedOutput(); err != nil {
				t.Fatalf("hostroot.sh: %v\n%s", err, b)
			}
			read := func(name string) string {
				b, err := os.ReadFile(filepath.Join(out, name))
				if err != nil {
					t.Fatal(err)
				}
				return string(b)
			}
			stdout, stderr := read("stdout"), read("stderr")
			if rc := strings.TrimSpace(read("rc")); rc != c.rc {
				t.Errorf("exit code %s, want %s\nstdout:\n%s\nstderr:\n%s", rc, c.rc, stdout, stderr)
			}
			if c.stdout != "" && !regexp.MustCompile(c.stdout).MatchString(stdout) {
				t.Errorf("stdout does not match %s:\n%s", c.stdout, stdout)
			}
			if c.stderr == "" && stderr != "" || c.stderr != "" && !regexp.MustCompile(c.stderr).MatchString(stderr) {
				t.Errorf("stderr does not match %q:\n%s", c.stderr, stderr)
			}
			if got := strings.TrimSpace(read("execstart")); got != c.unit {
				t.Errorf("tcpka.service: %s\nwant %s", got, c.unit)
			}
			if got := strings.Fields(read("files")); strings.Join(got, " ") != strings.Join(c.files, " ") {
				t.Errorf("files written below /etc: %q, want %q", got, c.files)
			}
		})
	}
}

// TestInstallNotRoot: as an unprivileged user, install and uninstall under
// a root-owned tree say once that they need root and write nothing; a dry
// run needs no privileges.
func TestInstallNotRoot(t *testing.T) {
	needRoot(t) // to switch to nobody
	bin := tcpkaBinary(t)
	dir, err := os.MkdirTemp("", "tcpka-install-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	os.Chmod(dir, 0o755)
	installed := filepath.Join(dir, "installed")
	empty := filepath.Join(dir, "empty")
	for _, d := range []string{"etc/sysctl.d", "etc/systemd/system"} {
		os.MkdirAll(filepath.Join(installed, d), 0o755)
	}
	os.Mkdir(empty, 0o755)
	if out, err := exec.Command(bin, "install", "ssh", "--root", installed).CombinedOutput(); err != nil {
		t.Fatalf("install as root: %v\n%s", err, out)
	}
	cases := []struct {
		name   string
		args   []string
		code   int
		stdout string // regexp
		stderr string // the one line, a regexp
	}{
		{"install", []string{"install", "aws-nlb", "--root", installed}, 1, "",
			`^tcpka: install needs root to write below /etc: run it with sudo: backup \S+/installed/etc/sysctl.d/60-tcpka.conf: permission denied\n$`},
		{"install into an empty tree", []string{"install", "aws-nlb", "--root", empty}, 1, "",
			`^tcpka: install needs root to write below /etc: run it with sudo: \S+/empty/etc: permission denied\n$`},
		{"uninstall", []string{"uninstall", "--root", installed}, 1, "",
			`^tcpka: uninstall needs root to remove files below /etc: run it with sudo: write \S+/installed/etc/tcpka/install.json: permission denied\n$`}, // its journal, before any file goes
		{"install --dry-run", []string{"install", "aws-nlb", "--root", installed, "--dry-run"}, 0,
			`(?m)^  update    /etc/sysctl.d/60-tcpka.conf\n(.*\n)*  update    /etc/tcpka/install.json  \(what uninstall removes\)\ndry run: nothing written`, ""},
		{"install the same again", []string{"install", "ssh", "--root", installed}, 0,
			`(?m)^  unchanged /etc/tcpka/install.json  \(what uninstall removes\)$`, ""},
	}
	before := treeOf(t, dir)
	for _, c := range cases {
		cmd := exec.Command(bin, c.args...)
		cmd.SysProcAttr = &syscall.SysProcAttr{Credential: &syscall.Credential{Uid: 65534, Gid: 65534}}
		cmd.Dir = "/"
		var o, e bytes.Buffer
		cmd.Stdout, cmd.Stderr = &o, &e
		code := 0
		if err := cmd.Run(); err != nil {
			ee, ok := err.(*exec.ExitError)
			if !ok {
				t.Fatal(err)
			}
			code = ee.ExitCode()
		}
		if code != c.code || !regexp.MustCompile(c.stdout).MatchString(o.String()) || c.stdout == "" && o.Len() > 0 ||
			c.stderr == "" && e.Len() > 0 || c.stderr != "" && !regexp.MustCompile(c.stderr).MatchString(e.String()) {
			t.Errorf("%s as nobody: exit %d\nstdout:\n%s\nstderr:\n%s\nwant exit %d, stdout %q, stderr %q", c.name, code, o.String(), e.String(), c.code, c.stdout, c.stderr)
		}
	}
	if after := treeOf(t, dir); strings.Join(after, "\n") != strings.Join(before, "\n") {
		t.Errorf("the tree changed:\nbefore:\n%s\nafter:\n%s", strings.Join(before, "\n"), strings.Join(after, "\n"))
	}
}

// treeOf lists every path below dir with its mode, size and content hash.
func treeOf(t *testing.T, dir string) []string {
	t.Helper()
	var out []string
	err := filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		info, err := d.Info()
		if err != nil {
			return err
		}
		line := p + " " + info.Mode().String()
		if info.Mode().IsRegular() {
			b, _ := os.ReadFile(p)
			line += fmt.Sprintf(" %x", sha256.Sum256(b))
		}
		out = append(out, line)
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return out
}
