package bootcfg

import (
	"errors"
	"strings"
	"testing"

	"github.com/tcpka/tcpka/systemd"
)

// TestUnitBinary: which binary tcpka.service runs, for the binary that runs
// install and the root it installs under, and which ones it refuses.
func TestUnitBinary(t *testing.T) {
	goTmp := []string{"/tmp", "/var/cache/gotmp"}
	cases := []struct {
		name, root, exe string
		bin             string // "" for an error
		fromExe         bool
		err             error  // errors.Is
		msg             string // in the error's text
	}{
		{"package", "/", "/usr/sbin/tcpka", "/usr/sbin/tcpka", true, nil, ""},
		{"make install", "/", "/usr/local/bin/tcpka", "/usr/local/bin/tcpka", true, nil, ""},
		{"opt", "/", "/opt/tcpka-1.2/tcpka", "/opt/tcpka-1.2/tcpka", true, nil, ""},
		{"go run", "/", "/tmp/go-build3349/b001/exe/tcpka", "", false, ErrGoRun,
			"tcpka.service cannot run /tmp/go-build3349/b001/exe/tcpka: it is a `go run` build, which Go deletes when it exits"},
		{"go run in GOTMPDIR", "/", "/var/cache/gotmp/go-build1/b001/exe/tcpka", "", false, ErrGoRun, "`go run` build"},
		{"go test binary", "/", "/tmp/go-build1/b001/tcpka.test", "", false, ErrGoRun, "`go run` build"},
		{"go run, cached", "/", "/var/cache/go-build/c5/c534ff50c96db1ac360f44b1c4c3b78a9a0226884903b77d4cdd47c249508f50-d/tcpka", "", false, ErrGoRun,
			"tcpka.service cannot run /var/cache/go-build/c5/c534ff50c96db1ac360f44b1c4c3b78a9a0226884903b77d4cdd47c249508f50-d/tcpka: it is a `go run` build, which Go deletes when it exits or trims its build cache"},
		{"go run, cached as root", "/", "/root/.cache/go-build/0a/0a34ff50c96db1ac360f44b1c4c3b78a9a0226884903b77d4cdd47c249508f50-d/tcpka", "", false, ErrGoRun, "`go run` build"},
		{"not the cache's layout", "/", "/opt/c5/d534ff50c96db1ac360f44b1c4c3b78a9a0226884903b77d4cdd47c249508f50-d/tcpka",
			"/opt/c5/d534ff50c96db1ac360f44b1c4c3b78a9a0226884903b77d4cdd47c249508f50-d/tcpka", true, nil, ""},
		{"go build in /tmp", "/", "/tmp/tcpka", "", false, ErrHidden,
			"tcpka.service cannot run /tmp/tcpka: the unit's sandbox hides it (PrivateTmp=yes: /tmp is not there for it)"},
		{"go install as root", "/", "/root/go/bin/tcpka", "", false, ErrHidden, "(ProtectHome=yes: /root is not there for it)"},
		{"go install as a user", "/", "/home/ann/go/bin/tcpka", "", false, ErrHidden, "(ProtectHome=yes: /home is not there for it)"},
		{"a go-build name elsewhere", "/", "/opt/go-build1/tcpka", "/opt/go-build1/tcpka", true, nil, ""},
		{"a name systemd refuses", "/", `/opt/a"b/tcpka`, "", false, systemd.ErrExecPath, `tcpka.service cannot run "/opt/a\"b/tcpka": systemd cannot run it from ExecStart=`},
		{"spaces", "/", "/opt/my tools/tcpka", "/opt/my tools/tcpka", true, nil, ""},
		// Under a root: the binary as a path inside it, if it is there.
		{"inside the root", "/mnt/img", "/mnt/img/usr/sbin/tcpka", "/usr/sbin/tcpka", true, nil, ""},
		{"inside the root, elsewhere", "/mnt/img", "/mnt/img/opt/tcpka", "/opt/tcpka", true, nil, ""},
		{"inside the root, hidden", "/mnt/img", "/mnt/img/home/ann/tcpka", "", false, ErrHidden,
			"tcpka.service cannot run /mnt/img/home/ann/tcpka: the unit's sandbox hides it (ProtectHome=yes: /home is not there for it)"},
		{"root in /tmp, binary in it", "/tmp/img", "/tmp/img/usr/sbin/tcpka", "/usr/sbin/tcpka", true, nil, ""},
		{"root in /tmp, go run in it", "/tmp/img", "/tmp/img/go-build5/b001/exe/tcpka", "", false, ErrGoRun, "`go run` build"},
		// ...and where the package puts it when it is not.
		{"outside the root", "/mnt/img", "/usr/local/bin/tcpka", systemd.BinPath, false, nil, ""},
		{"go run outside the root", "/mnt/img", "/tmp/go-build1/b001/exe/tcpka", systemd.BinPath, false, nil, ""},
		{"a sibling of the root", "/mnt/img", "/mnt/img2/tcpka", systemd.BinPath, false, nil, ""},
		{"relative", "/", "tcpka", "", false, nil, "not an absolute path"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			bin, fromExe, err := UnitBinary(c.root, c.exe, systemd.Unit, goTmp)
			if c.bin != "" {
				if err != nil || bin != c.bin || fromExe != c.fromExe {
					t.Fatalf("UnitBinary(%s, %s) = %q, %v, %v; want %q, %v", c.root, c.exe, bin, fromExe, err, c.bin, c.fromExe)
				}
				return
			}
			if err == nil || (c.err != nil && !errors.Is(err, c.err)) || !strings.Contains(err.Error(), c.msg) {
				t.Fatalf("UnitBinary(%s, %s) = %q, %v; want an error %v with %q", c.root, c.exe, bin, err, c.err, c.msg)
			}
		})
	}
}
