package systemd

import (
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/tcpka/tcpka/internal/testkit"
)

// TestWithBinary: the unit install writes runs the given binary, spelt so
// that systemd reads back the same path (systemd-analyze verify finds the
// executable there), or the path is refused as systemd would refuse it.
func TestWithBinary(t *testing.T) {
	testkit.Slow(t, "builds the tcpka binary")
	cases := []struct {
		bin, want string // want: the ExecStart= line; "" for an error
	}{
		{BinPath, "ExecStart=/usr/sbin/tcpka apply /etc/tcpka/profile.yaml"},
		{"/usr/local/bin/tcpka", "ExecStart=/usr/local/bin/tcpka apply /etc/tcpka/profile.yaml"},
		{"/opt/tcpka-1.2/bin/tcpka", "ExecStart=/opt/tcpka-1.2/bin/tcpka apply /etc/tcpka/profile.yaml"},
		{"/opt/my tools/tcpka", `ExecStart="/opt/my tools/tcpka" apply /etc/tcpka/profile.yaml`},
		{"/opt/100%/tcpka", "ExecStart=/opt/100%%/tcpka apply /etc/tcpka/profile.yaml"},
		{"/opt/$HOME/tcpka", "ExecStart=/opt/$HOME/tcpka apply /etc/tcpka/profile.yaml"},
		{"/opt/é/tcpka", "ExecStart=/opt/é/tcpka apply /etc/tcpka/profile.yaml"},
		{`/opt/a"b/tcpka`, ""},
		{"/opt/a'b/tcpka", ""},
		{`/opt/a\b/tcpka`, ""},
		{"/opt/a\nb/tcpka", ""},
		{"/opt/a\tb/tcpka", ""},
		{"/opt/\xff/tcpka", ""},
		{"tcpka", ""},
		{"/opt/../tcpka", ""},
	}
	execRE := regexp.MustCompile(`(?m)^ExecStart=.*$`)
	for _, c := range cases {
		t.Run(c.bin, func(t *testing.T) {
			unit, err := WithBinary(Unit, c.bin)
			if c.want == "" {
				if !errors.Is(err, ErrExecPath) {
					t.Fatalf("WithBinary(%q) = %v, want ErrExecPath", c.bin, err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if got := execRE.FindAllString(string(unit), -1); len(got) != 1 || got[0] != c.want {
				t.Fatalf("ExecStart lines %q, want %q", got, c.want)
			}
			if rest := strings.Replace(string(unit), c.want, "ExecStart="+BinPath+" apply /etc/tcpka/profile.yaml", 1); rest != string(Unit) {
				t.Error("WithBinary changed more than the ExecStart= line")
			}
			if _, err := exec.LookPath("systemd-analyze"); err != nil {
				return // TestUnitVerifies says so
			}
			// systemd reads the path back: verify finds the binary there.
			root := t.TempDir()
			bin := filepath.Join(root, c.bin)
			os.MkdirAll(filepath.Dir(bin), 0o755)
			os.WriteFile(bin, []byte("#!/bin/sh\n"), 0o755)
			if out, err := verifyAt(t, root, unit); err != nil || out != "" {
				t.Errorf("systemd-analyze verify: %v\n%s", err, out)
			}
		})
	}
	if _, err := WithBinary([]byte("[Service]\nExecStart=/bin/true\n"), "/opt/tcpka"); err == nil {
		t.Error("a unit that does not run BinPath: no error")
	}
}

// TestHides: the paths tcpka.service's sandbox hides from it, so that a
// binary there would not run at boot.
func TestHides(t *testing.T) {
	cases := []struct {
		path, dir, setting string // dir "": not hidden
	}{
		{BinPath, "", ""},
		{"/usr/local/bin/tcpka", "", ""},
		{"/opt/tcpka", "", ""},
		{"/run/tcpka/tcpka", "", ""},
		{"/tmp/go-build1/b001/exe/tcpka", "/tmp", "PrivateTmp=yes"},
		{"/var/tmp/tcpka", "/var/tmp", "PrivateTmp=yes"},
		{"/tmpfoo/tcpka", "", ""},
		{"/root/go/bin/tcpka", "/root", "ProtectHome=yes"},
		{"/home/ann/go/bin/tcpka", "/home", "ProtectHome=yes"},
		{"/run/user/1000/tcpka", "/run/user", "ProtectHome=yes"},
	}
	for _, c := range cases {
		dir, setting, hidden := Hides(Unit, c.path)
		if dir != c.dir || setting != c.setting || hidden != (c.dir != "") {
			t.Errorf("Hides(%s) = %q, %q, %v; want %q, %q", c.path, dir, setting, hidden, c.dir, c.setting)
		}
	}
	other := []byte("[Service]\n# PrivateTmp=yes\nProtectHome=read-only\nInaccessiblePaths=-/srv /data:ro\nTemporaryFileSystem=/var/lib:ro\n")
	for p, want := range map[string]string{"/tmp/x": "", "/home/x": "", "/srv/x": "/srv", "/data/x": "/data", "/var/lib/x": "/var/lib"} {
		if dir, _, _ := Hides(other, p); dir != want {
			t.Errorf("Hides(other, %s) = %q, want %q", p, dir, want)
		}
	}
}
