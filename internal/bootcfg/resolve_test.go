package bootcfg

import (
	"bufio"
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/tcpka/tcpka/internal/keepalive"
	"github.com/tcpka/tcpka/internal/nstest"
	"github.com/tcpka/tcpka/internal/sysctl"
)

// at is an expected assignment: file:line = value ("" file: none).
type at struct {
	File  string
	Line  int
	Value string
}

func atOf(a *Assignment) at {
	if a == nil {
		return at{}
	}
	return at{a.File, a.Line, a.Value}
}

type keyWant struct {
	Systemd, Procps, Tcpka at
	Overridden             bool
}

func TestResolveFixtureTrees(t *testing.T) {
	for _, tc := range []struct {
		tree   string
		files  []string
		masked []Masked
		keys   map[sysctl.Key]keyWant
	}{{
		// Masking by name (incl. a /dev/null link), name order across
		// directories, '/' and '.' separators, a '-' prefix, comments, a
		// glob that loses to explicit lines, a non-.conf file and a crash's
		// temp file that nobody reads, /etc/sysctl.conf for procps only, and
		// a file (70-override.conf) that overrides tcpka's drop-in.
		tree: "testdata/override",
		files: []string{"/etc/sysctl.d/10-early.conf", "/run/sysctl.d/40-run.conf", "/etc/sysctl.d/50-vendor.conf",
			"/etc/sysctl.d/60-tcpka.conf", "/etc/sysctl.d/70-override.conf", "/usr/local/lib/sysctl.d/90-glob.conf"},
		masked: []Masked{
			{Path: "/usr/lib/sysctl.d/50-vendor.conf", By: "/etc/sysctl.d/50-vendor.conf"},
			{Path: "/usr/lib/sysctl.d/70-override.conf", By: "/etc/sysctl.d/70-override.conf"},
		},
		keys: map[sysctl.Key]keyWant{
			keepalive.Time: {
				Systemd:    at{"/etc/sysctl.d/70-override.conf", 3, "7200"},
				Procps:     at{"/etc/sysctl.d/70-override.conf", 3, "7200"},
				Tcpka:      at{"/etc/sysctl.d/60-tcpka.conf", 3, "60"},
				Overridden: true,
			},
			keepalive.Intvl: {
				Systemd: at{"/etc/sysctl.d/60-tcpka.conf", 4, "15"},
				Procps:  at{"/etc/sysctl.conf", 2, "20"},
				Tcpka:   at{"/etc/sysctl.d/60-tcpka.conf", 4, "15"},
			},
			keepalive.Probes: {
				Systemd:    at{"/etc/sysctl.d/70-override.conf", 4, "6"},
				Procps:     at{"/etc/sysctl.d/70-override.conf", 4, "6"},
				Tcpka:      at{"/etc/sysctl.d/60-tcpka.conf", 5, "4"},
				Overridden: true,
			},
		},
	}, {
		// Debian: /etc/sysctl.d/99-sysctl.conf -> ../sysctl.conf, so both
		// loaders read /etc/sysctl.conf and it beats the drop-in; a glob
		// sets the one key no explicit line names.
		tree:  "testdata/debian",
		files: []string{"/usr/local/lib/sysctl.d/30-glob.conf", "/etc/sysctl.d/60-tcpka.conf", "/etc/sysctl.d/99-sysctl.conf"},
		keys: map[sysctl.Key]keyWant{
			keepalive.Time: {
				Systemd:    at{"/etc/sysctl.d/99-sysctl.conf", 3, "120"},
				Procps:     at{"/etc/sysctl.conf", 3, "120"},
				Tcpka:      at{"/etc/sysctl.d/60-tcpka.conf", 2, "60"},
				Overridden: true,
			},
			keepalive.Intvl: {
				Systemd: at{"/etc/sysctl.d/60-tcpka.conf", 3, "15"},
				Procps:  at{"/etc/sysctl.d/60-tcpka.conf", 3, "15"},
				Tcpka:   at{"/etc/sysctl.d/60-tcpka.conf", 3, "15"},
			},
			keepalive.Probes: {
				Systemd: at{"/usr/local/lib/sysctl.d/30-glob.conf", 1, "3"},
				Procps:  at{"/usr/local/lib/sysctl.d/30-glob.conf", 1, "3"},
			},
		},
	}, {
		tree: "testdata/empty",
		keys: map[sysctl.Key]keyWant{keepalive.Time: {}, keepalive.Intvl: {}, keepalive.Probes: {}},
	}} {
		t.Run(tc.tree, func(t *testing.T) {
			r, err := Resolve(tc.tree)
			if err != nil {
				t.Fatal(err)
			}
			var files []string
			for _, f := range r.Files {
				files = append(files, f.Path)
			}
			if diff := cmp.Diff(tc.files, files); diff != "" {
				t.Errorf("files in load order (-want +got):\n%s", diff)
			}
			if diff := cmp.Diff(tc.masked, r.Masked); diff != "" {
				t.Errorf("masked (-want +got):\n%s", diff)
			}
			for k, want := range tc.keys {
				v := r.Lookup(k)
				got := keyWant{Systemd: atOf(v.Systemd), Procps: atOf(v.Procps), Tcpka: atOf(v.Tcpka), Overridden: v.Overridden()}
				if diff := cmp.Diff(want, got); diff != "" {
					t.Errorf("%s (-want +got):\n%s", k.Sysctl, diff)
				}
			}
		})
	}
}

func TestResolveSymlinkTarget(t *testing.T) {
	r, err := Resolve("testdata/debian")
	if err != nil {
		t.Fatal(err)
	}
	f := r.Files[2]
	if f.Path != "/etc/sysctl.d/99-sysctl.conf" || f.Target != "/etc/sysctl.conf" {
		t.Fatalf("got %s -> %s, want /etc/sysctl.d/99-sysctl.conf -> /etc/sysctl.conf", f.Path, f.Target)
	}
	v := r.Lookup(keepalive.Time)
	if got, want := r.Fix(*v.Systemd), "delete or comment out line 3 of /etc/sysctl.conf (read through the link /etc/sysctl.d/99-sysctl.conf)"; got != want {
		t.Errorf("fix:\n got %s\nwant %s", got, want)
	}
	if v.ProcpsDiffers() {
		t.Errorf("procps reads the same line twice: no difference expected")
	}
	ro, _ := Resolve("testdata/override")
	vo := ro.Lookup(keepalive.Intvl)
	if !vo.ProcpsDiffers() {
		t.Errorf("override tree: /etc/sysctl.conf sets intvl 20 for procps only: want a difference")
	}
}

func TestFix(t *testing.T) {
	r := &Resolution{}
	for _, tc := range []struct {
		a    Assignment
		want string
	}{
		{Assignment{File: "/etc/sysctl.d/70-x.conf", Line: 3}, "delete or comment out line 3 of /etc/sysctl.d/70-x.conf"},
		{Assignment{File: "/usr/lib/sysctl.d/99-vendor.conf", Line: 2}, "/usr/lib/sysctl.d/99-vendor.conf belongs to a package and comes back on upgrades: mask it with a copy without line 2 as /etc/sysctl.d/99-vendor.conf"},
		{Assignment{File: "/etc/sysctl.conf", Line: 9}, "delete or comment out line 9 of /etc/sysctl.conf"},
	} {
		if got := r.Fix(tc.a); got != tc.want {
			t.Errorf("Fix(%s):\n got %s\nwant %s", tc.a.Where(), got, tc.want)
		}
	}
}

func TestParse(t *testing.T) {
	data := "# comment\n; comment\n\n  net.ipv4.tcp_keepalive_time = 60  \n-net/ipv4/tcp_keepalive_intvl=5\nnet.ipv4.conf.eth0/1.rp_filter = 1\nnet.ipv4.tcp_keepalive_* = 7\nnot an assignment\n = 3\nnet.ipv4.tcp_keepalive_probes = 4 # trailing\n"
	as, ps := Parse("f.conf", []byte(data))
	want := []Assignment{
		{Key: "net/ipv4/tcp_keepalive_time", Value: "60", File: "f.conf", Line: 4},
		{Key: "net/ipv4/tcp_keepalive_intvl", Value: "5", File: "f.conf", Line: 5, IgnoreErrors: true},
		{Key: "net/ipv4/conf/eth0.1/rp_filter", Value: "1", File: "f.conf", Line: 6},
		{Key: "net/ipv4/tcp_keepalive_*", Value: "7", File: "f.conf", Line: 7, Glob: true},
		// the loaders have no trailing comments: this value is refused by the kernel
		{Key: "net/ipv4/tcp_keepalive_probes", Value: "4 # trailing", File: "f.conf", Line: 10},
	}
	if diff := cmp.Diff(want, as); diff != "" {
		t.Errorf("assignments (-want +got):\n%s", diff)
	}
	if len(ps) != 2 || ps[0].Line != 8 || ps[1].Line != 9 {
		t.Errorf("problems: got %v, want lines 8 and 9", ps)
	}
	if _, err := as[4].Int(); err == nil {
		t.Errorf("%q parsed as a number", as[4].Value)
	}
	for in, want := range map[string]int{"60": 60, "0x3c": 60, "074": 60, " 60 ": 60} {
		if n, err := (Assignment{Value: in}).Int(); err != nil || n != want {
			t.Errorf("Int(%q) = %d, %v; want %d", in, n, err, want)
		}
	}
}

// TestParseSplitsLikeScanner: Parse splits lines in place as the
// bufio.Scanner with a 1 MiB buffer it used before did: CRLF, a last line
// without a newline, blank lines, and the line too long for the buffer,
// which ends the file.
func TestParseSplitsLikeScanner(t *testing.T) {
	scanner := func(data []byte) (lines []string) {
		sc := bufio.NewScanner(bytes.NewReader(data))
		sc.Buffer(make([]byte, 0, 4096), 1<<20)
		for sc.Scan() {
			lines = append(lines, sc.Text())
		}
		return lines
	}
	long := func(n int) string { return "net.x = " + strings.Repeat("1", n-len("net.x = ")) }
	for _, data := range []string{
		"", "\n", "\n\n", "a=1", "a=1\n", "a=1\r\n b = 2 \r\n\r\n", "a=1\r", "\r\n#c\r\nx\r\ny=\r",
		" \t a = 1\n;b=2\n-c=3\n\n\nd=4",
		long(1<<20-1) + "\na=1\n", long(1<<20) + "\na=1\n", long(1<<20+1) + "\na=1\n",
		"a=1\n" + long(1<<20-1), "a=1\n" + long(1<<20), "a=1\n" + long(1<<20-2) + "\r\nb=2",
		"a=1\n" + long(1<<20-1) + "\r\nb=2",
	} {
		var want []Assignment
		var wantPs []Problem
		for i, l := range scanner([]byte(data)) {
			as, ps := Parse("f.conf", []byte(l))
			for _, a := range as {
				a.Line = i + 1
				want = append(want, a)
			}
			for _, p := range ps {
				p.Line = i + 1
				wantPs = append(wantPs, p)
			}
		}
		as, ps := Parse("f.conf", []byte(data))
		name := data
		if len(name) > 40 {
			name = name[:20] + "..." + name[len(name)-20:]
		}
		if !cmp.Equal(want, as) || !cmp.Equal(wantPs, ps) {
			t.Errorf("Parse(%q) = %d assignments, %d problems; the scanner's lines give %d, %d", name, len(as), len(ps), len(want), len(wantPs))
		}
	}
}

func TestNormalize(t *testing.T) {
	for in, want := range map[string]string{
		"net.ipv4.tcp_keepalive_time":      "net/ipv4/tcp_keepalive_time",
		"net/ipv4/tcp_keepalive_time":      "net/ipv4/tcp_keepalive_time",
		"/net/ipv4//tcp_keepalive_time":    "net/ipv4/tcp_keepalive_time",
		"net.ipv4.conf.eth0/100.rp_filter": "net/ipv4/conf/eth0.100/rp_filter",
		"net/ipv4/conf/eth0.100/rp_filter": "net/ipv4/conf/eth0.100/rp_filter",
	} {
		if got := Normalize(in); got != want {
			t.Errorf("Normalize(%q) = %q, want %q", in, got, want)
		}
	}
	if got := Dotted("net/ipv4/conf/eth0.100/rp_filter"); got != "net.ipv4.conf.eth0/100.rp_filter" {
		t.Errorf("Dotted: %q", got)
	}
}

func TestWith(t *testing.T) {
	r, err := Resolve("testdata/empty")
	if err != nil {
		t.Fatal(err)
	}
	r2 := r.With("/etc/sysctl.d/60-tcpka.conf", []byte("# "+Marker+"\nnet.ipv4.tcp_keepalive_time = 60\n"))
	v := r2.Lookup(keepalive.Time)
	if atOf(v.Systemd) != (at{"/etc/sysctl.d/60-tcpka.conf", 2, "60"}) || v.Tcpka == nil {
		t.Errorf("With: got %+v", v)
	}
	r3 := r.With("/opt/sysctl.d/60-tcpka.conf", []byte("net.ipv4.tcp_keepalive_time = 60\n"))
	if v := r3.Lookup(keepalive.Time); v.Systemd != nil {
		t.Errorf("a file outside the loaders' directories counted: %+v", v.Systemd)
	}
}

// TestResolveMergedUsr: on a merged-/usr system /lib is a link to
// usr/lib, so /lib/sysctl.d is /usr/lib/sysctl.d: its files are read once
// and never listed as masked by themselves.
func TestResolveMergedUsr(t *testing.T) {
	root := t.TempDir()
	os.MkdirAll(filepath.Join(root, "usr/lib/sysctl.d"), 0o755)
	os.WriteFile(filepath.Join(root, "usr/lib/sysctl.d/50-default.conf"), []byte("net.ipv4.tcp_keepalive_time = 600\n"), 0o644)
	os.Symlink("usr/lib", filepath.Join(root, "lib"))
	os.MkdirAll(filepath.Join(root, "etc/sysctl.d"), 0o755)
	os.Symlink("/dev/null", filepath.Join(root, "etc/sysctl.d/10-a.conf"))
	os.Symlink("/dev/null", filepath.Join(root, "etc/sysctl.d/20-b.conf"))
	r, err := Resolve(root)
	if err != nil {
		t.Fatal(err)
	}
	if len(r.Masked) != 0 {
		t.Errorf("masked: %+v, want none", r.Masked)
	}
	var paths []string
	for _, f := range r.Files {
		paths = append(paths, f.Path)
	}
	if got := strings.Join(paths, " "); got != "/etc/sysctl.d/10-a.conf /etc/sysctl.d/20-b.conf /usr/lib/sysctl.d/50-default.conf" {
		t.Errorf("files: %s", got)
	}
}

// TestResolveRootByName: under "/", reading the directories by their own
// names finds what SecureJoin's walk finds, on this machine's tree.
func TestResolveRootByName(t *testing.T) {
	fast, err := Resolve("/")
	if err != nil {
		t.Skipf("this machine's sysctl.d: %v", err)
	}
	kernelResolvesRoot = false
	defer func() { kernelResolvesRoot = true }()
	slow, err := Resolve("/")
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(slow, fast); diff != "" {
		t.Errorf("Resolve(\"/\") (-SecureJoin +by name):\n%s", diff)
	}
	if len(fast.Files) == 0 && fast.SysctlConf == nil {
		t.Log("this machine has no sysctl.d file: nothing compared")
	}
}

// TestResolveRootByNameLinks: the same with /run/sysctl.d (a tmpfs of a
// private mount namespace) as a link to another directory, a dangling
// link and a loop: the same files, nothing, and SecureJoin's error.
func TestResolveRootByNameLinks(t *testing.T) {
	if !nstest.Private(t) {
		return
	}
	for _, target := range []string{"/etc/sysctl.d", "/nonexistent", "sysctl.d"} {
		os.Remove("/run/sysctl.d")
		if err := os.Symlink(target, "/run/sysctl.d"); err != nil {
			t.Fatal(err)
		}
		fast, fastErr := Resolve("/")
		kernelResolvesRoot = false
		slow, slowErr := Resolve("/")
		kernelResolvesRoot = true
		if fmt.Sprint(fastErr) != fmt.Sprint(slowErr) {
			t.Errorf("/run/sysctl.d -> %s: error %v, SecureJoin's way %v", target, fastErr, slowErr)
		}
		if diff := cmp.Diff(slow, fast); diff != "" {
			t.Errorf("/run/sysctl.d -> %s (-SecureJoin +by name):\n%s", target, diff)
		}
		if target == "sysctl.d" && fastErr == nil {
			t.Errorf("a link loop read without an error")
		}
	}
}

// TestReadFile: readFile gives what os.ReadFile gives, content and
// errors, reusing a buffer that held a longer file.
func TestReadFile(t *testing.T) {
	dir := t.TempDir()
	paths := []string{filepath.Join(dir, "missing"), dir}
	for _, n := range []int{0, 1, 511, 512, 513, 5000, 100, 70000} {
		p := filepath.Join(dir, fmt.Sprint(n))
		if err := os.WriteFile(p, bytes.Repeat([]byte{'x'}, n), 0o644); err != nil {
			t.Fatal(err)
		}
		paths = append(paths, p)
	}
	var buf []byte
	for _, p := range paths {
		want, wantErr := os.ReadFile(p)
		var size int64
		if fi, err := os.Stat(p); err == nil {
			size = fi.Size()
		}
		got, err := readFile(p, buf[:0], size)
		if !bytes.Equal(got, want) || fmt.Sprint(err) != fmt.Sprint(wantErr) {
			t.Errorf("%s: %d bytes, %v; os.ReadFile: %d bytes, %v", p, len(got), err, len(want), wantErr)
		}
		if err == nil {
			buf = got
		}
	}
}
