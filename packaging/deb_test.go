// Tests for the .deb built by packaging/build-deb. Building runs nfpm with
// `go run` (about 10 s warm, a few minutes with an empty module cache), so
// it runs only with TCPKA_TEST_DEB=1 or CI=true (.ci/run sets both):
//
//	TCPKA_TEST_DEB=1 go test ./packaging/
package packaging_test

import (
	"bytes"
	"debug/elf"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"sort"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/tcpka/tcpka/internal/profile"
	"github.com/tcpka/tcpka/internal/testkit"
	"github.com/tcpka/tcpka/systemd"
)

func buildDeb(t *testing.T, dist string) string {
	t.Helper()
	cmd := exec.Command("./build-deb")
	cmd.Env = append(os.Environ(), "DIST="+dist, "VERSION=1.2.3~test", "SOURCE_DATE_EPOCH=1700000000")
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("build-deb: %v\n%s", err, out)
	}
	debs, _ := filepath.Glob(filepath.Join(dist, "*.deb"))
	if len(debs) != 1 {
		t.Fatalf("build-deb made %v, want one .deb", debs)
	}
	return debs[0]
}

func dpkgDeb(t *testing.T, args ...string) string {
	t.Helper()
	out, err := exec.Command("dpkg-deb", args...).CombinedOutput()
	if err != nil {
		t.Fatalf("dpkg-deb %s: %v\n%s", strings.Join(args, " "), err, out)
	}
	return string(out)
}

func TestDeb(t *testing.T) {
	testkit.Slow(t, "builds the .deb")
	if os.Getenv("TCPKA_TEST_DEB") != "1" && os.Getenv("CI") != "true" {
		t.Skip("building the .deb takes a while: set TCPKA_TEST_DEB=1 (CI=true does too)")
	}
	for _, tool := range []string{"dpkg-deb", "git", "go"} {
		if _, err := exec.LookPath(tool); err != nil {
			t.Skipf("%s not installed", tool)
		}
	}
	deb := buildDeb(t, t.TempDir())
	if filepath.Base(deb) != "tcpka_1.2.3~test_"+goarch(t)+".deb" {
		t.Errorf("package file %s", filepath.Base(deb))
	}

	// Reproducible: a second build is byte for byte the same.
	deb2 := buildDeb(t, t.TempDir())
	a, _ := os.ReadFile(deb)
	b, _ := os.ReadFile(deb2)
	if !bytes.Equal(a, b) {
		t.Error("two builds of the same commit differ")
	}

	info := dpkgDeb(t, "--info", deb)
	for _, want := range []string{
		"Package: tcpka\n", "Version: 1.2.3~test\n", "Architecture: " + goarch(t) + "\n",
		"Section: admin\n", "Priority: optional\n", "Suggests: prometheus-node-exporter\n",
	} {
		if !strings.Contains(info, " "+want) {
			t.Errorf("dpkg-deb --info lacks %q:\n%s", want, info)
		}
	}
	// No maintainer scripts (nothing may write sysctls on install), no
	// dependencies (the binary is static).
	for _, bad := range []string{"preinst", "postinst", "prerm", "postrm", "config", "Depends:"} {
		if regexp.MustCompile(`(?m)^\s+(\d+ bytes,.*\s)?` + bad + `\b`).MatchString(info) {
			t.Errorf("package has %s:\n%s", bad, info)
		}
	}

	// Contents: every file, from the repository's lists.
	want := []string{
		systemd.BinPath,
		"/usr/share/man/man8/tcpka.8.gz",
		"/usr/share/bash-completion/completions/tcpka",
		"/usr/share/zsh/vendor-completions/_tcpka",
		"/usr/share/fish/vendor_completions.d/tcpka.fish",
		"/usr/share/doc/tcpka/copyright",
	}
	for _, n := range profile.ShippedNames() {
		want = append(want, "/usr/share/tcpka/profiles/"+n+".yaml")
	}
	units, _ := filepath.Glob("../systemd/*.service")
	timers, _ := filepath.Glob("../systemd/*.timer")
	for _, u := range append(units, timers...) {
		want = append(want, "/lib/systemd/system/"+filepath.Base(u))
	}
	sort.Strings(want)
	var got []string
	modes := map[string]string{}
	for _, l := range strings.Split(strings.TrimSpace(dpkgDeb(t, "--contents", deb)), "\n") {
		f := strings.Fields(l)
		if len(f) < 6 || strings.HasPrefix(f[0], "d") {
			continue
		}
		name := strings.TrimPrefix(f[5], ".")
		got = append(got, name)
		modes[name] = f[0] + " " + f[1]
		if !strings.Contains(l, " 2023-11-14 ") {
			t.Errorf("%s: mtime is not SOURCE_DATE_EPOCH: %s", name, l)
		}
	}
	sort.Strings(got)
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("dpkg-deb --contents (-want +got):\n%s", diff)
	}
	for name, m := range modes {
		wantMode := "-rw-r--r-- root/root"
		if name == systemd.BinPath {
			wantMode = "-rwxr-xr-x root/root"
		}
		if m != wantMode {
			t.Errorf("%s: %s, want %s", name, m, wantMode)
		}
	}

	// What is inside works as installed.
	root := t.TempDir()
	dpkgDeb(t, "-x", deb, root)
	bin := filepath.Join(root, systemd.BinPath)
	f, err := elf.Open(bin)
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range f.Progs {
		if p.Type == elf.PT_INTERP {
			t.Errorf("%s is dynamically linked; want CGO_ENABLED=0", systemd.BinPath)
		}
	}
	f.Close()
	if out, err := exec.Command(bin, "version").CombinedOutput(); err != nil || !regexp.MustCompile(`^tcpka 1\.2\.3~test\nrevision [0-9a-f]{40}`).Match(out) {
		t.Errorf("tcpka version: %v\n%s", err, out)
	}
	// Each packaged unit runs the packaged binary.
	execRE := regexp.MustCompile(`(?m)^Exec[A-Za-z]*=[-+@:!]*(\S+)`)
	for _, u := range units {
		data, _ := os.ReadFile(filepath.Join(root, "lib/systemd/system", filepath.Base(u)))
		m := execRE.FindAllSubmatch(data, -1)
		if len(m) == 0 {
			t.Errorf("%s: no Exec*= line", filepath.Base(u))
		}
		for _, x := range m {
			if string(x[1]) != systemd.BinPath {
				t.Errorf("%s runs %s, want %s (where the package puts tcpka)", filepath.Base(u), x[1], systemd.BinPath)
			}
		}
	}
	// In an empty directory: PROFILE also completes to *.yaml files here.
	comp := exec.Command("bash", "--norc", "-c", `source "$0" && COMP_WORDS=(tcpka apply "") COMP_CWORD=2 && _tcpka && echo "${COMPREPLY[@]}"`,
		filepath.Join(root, "usr/share/bash-completion/completions/tcpka"))
	comp.Dir = t.TempDir()
	out, err := comp.CombinedOutput()
	if err != nil || strings.TrimSpace(string(out)) != strings.Join(profile.ShippedNames(), " ") {
		t.Errorf("packaged bash completion of 'tcpka apply <TAB>': %v %q", err, out)
	}
}

func goarch(t *testing.T) string {
	if a := os.Getenv("GOARCH"); a != "" {
		return a
	}
	out, err := exec.Command("go", "env", "GOARCH").Output()
	if err != nil {
		t.Fatal(err)
	}
	return strings.TrimSpace(string(out))
}
