package main

import (
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
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
