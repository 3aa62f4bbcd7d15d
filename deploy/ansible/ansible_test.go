// Package ansible tests the tcpka Ansible role by running site.yml with
// ansible-playbook against localhost, inside a private mount and network
// namespace: /etc and /usr/sbin are throwaway overlays and /run a
// tmpfs (testdata/scratch.sh), so the host is never written.
package ansible

import (
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"

	"github.com/tcpka/tcpka/internal/keepalive"
	"github.com/tcpka/tcpka/internal/sysctl"
	"github.com/tcpka/tcpka/internal/testkit"
	"github.com/tcpka/tcpka/systemd"
)

// recap reads "changed=N" from the PLAY RECAP line for localhost.
var recapRE = regexp.MustCompile(`(?m)^localhost\s+:\s+ok=(\d+)\s+changed=(\d+)\s+unreachable=(\d+)\s+failed=(\d+)`)

type recap struct{ ok, changed, unreachable, failed int }

func readRecap(t *testing.T, out, name string) (recap, string) {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(out, name+".txt"))
	if err != nil {
		t.Fatal(err)
	}
	m := recapRE.FindStringSubmatch(string(b))
	if m == nil {
		t.Fatalf("%s: no PLAY RECAP for localhost:\n%s", name, b)
	}
	n := func(s string) int { v, _ := strconv.Atoi(s); return v }
	return recap{n(m[1]), n(m[2]), n(m[3]), n(m[4])}, string(b)
}

func readFile(t *testing.T, out, name string) string {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(out, name))
	if err != nil {
		t.Fatal(err)
	}
	return strings.TrimSpace(string(b))
}

// tcpkaBinary builds tcpka from this tree, or takes TCPKA_ANSIBLE_BINARY.
func tcpkaBinary(t *testing.T) string {
	t.Helper()
	if b := os.Getenv("TCPKA_ANSIBLE_BINARY"); b != "" {
		return b
	}
	bin := filepath.Join(t.TempDir(), "tcpka")
	c := exec.Command("go", "build", "-o", bin, "../../cmd/tcpka")
	c.Env = append(os.Environ(), "CGO_ENABLED=0")
	if out, err := c.CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	return bin
}

// hostValues reads the sysctls tcpka manages in the test's own netns.
func hostValues(t *testing.T) keepalive.Settings {
	t.Helper()
	v, err := sysctl.NewFS("").Read()
	if err != nil {
		t.Fatal(err)
	}
	return v
}

func TestSitePlaybook(t *testing.T) {
	testkit.Slow(t, "runs the Ansible role")
	testkit.NeedRoot(t, "a private mount and network namespace with overlays over /etc and /usr/sbin")
	for _, tool := range []string{"ansible-playbook", "unshare"} {
		if _, err := exec.LookPath(tool); err != nil {
			t.Skipf("%s is not installed (CI installs ansible-core with apt)", tool)
		}
	}
	bin := tcpkaBinary(t)
	python := "/usr/bin/python3" // the one ansible-core was installed for
	if _, err := os.Stat(python); err != nil {
		python = "auto_silent"
	}
	hostBefore := hostValues(t)

	dir := t.TempDir()
	scratch, out := filepath.Join(dir, "scratch"), filepath.Join(dir, "out")
	for _, d := range []string{scratch, out} {
		if err := os.Mkdir(d, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	prof := filepath.Join(dir, "edge.yaml")
	if err := os.WriteFile(prof, []byte("name: edge\ndescription: test profile\ntime: 240s\ninterval: 20s\nprobes: 4\nretries2: 9\nuser_timeout: 320s\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command("unshare", "-m", "-n", "--propagation", "private",
		"testdata/scratch.sh", scratch, out, "--",
		"ansible-playbook", "-i", "localhost,", "-c", "local",
		"-e", "ansible_python_interpreter="+python,
		"-e", "ansible_become=false", // already root; sudo may be missing
		"-e", "tcpka_binary="+bin, "-e", "tcpka_profile="+prof,
		"site.yml")
	if b, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("scratch.sh: %v\n%s", err, b)
	}
	if after := hostValues(t); after != hostBefore {
		t.Errorf("host keepalive sysctls changed: %+v -> %+v", hostBefore, after)
	}

	// --check on a host where nothing is installed: changes reported,
	// nothing written, values untouched.
	r0, text0 := readRecap(t, out, "check0")
	if r0.failed != 0 || r0.changed == 0 {
		t.Errorf("--check before install: %+v, want changes reported and no failure\n%s", r0, text0)
	}
	if got := readFile(t, out, "files-check0"); got != "" {
		t.Errorf("--check wrote files:\n%s", got)
	}
	if got := readFile(t, out, "values-check0"); got != "7200 75 9 15" {
		t.Errorf("--check changed the netns: %s", got)
	}

	// First run: changes, and the netns has the profile's values.
	r1, text1 := readRecap(t, out, "run1")
	if r1.failed != 0 || r1.changed == 0 {
		t.Errorf("first run: %+v, want changed > 0, failed=0\n%s", r1, text1)
	}
	if got := readFile(t, out, "values-run1"); got != "240 20 4 9" {
		t.Errorf("netns after the first run: %s, want 240 20 4 9", got)
	}
	if !strings.Contains(text1, "PID 1 is not systemd") && !strings.Contains(text1, "Enable tcpka.service") {
		t.Errorf("first run neither enabled tcpka.service nor said why not:\n%s", text1)
	}
	files := readFile(t, out, "files-before-check")
	for _, want := range []string{"upper_etc/sysctl.d/60-tcpka.conf", "upper_etc/tcpka/profile.yaml", "upper_usr_sbin/tcpka"} {
		if !strings.Contains(files, want) {
			t.Errorf("after two runs %s is missing; files:\n%s", want, files)
		}
	}

	// The installed unit runs the binary the role installed, which is
	// where the package puts it and the shipped units run it from.
	if _, err := os.Stat("/etc/systemd/system"); err == nil {
		want := "ExecStart=" + systemd.BinPath + " apply /etc/tcpka/profile.yaml"
		if got := readFile(t, out, "unit-run1"); got != want {
			t.Errorf("installed tcpka.service: %s, want %s", got, want)
		}
	}

	// Second run: idempotent.
	r2, text2 := readRecap(t, out, "run2")
	if r2.failed != 0 || r2.changed != 0 {
		t.Errorf("second run: %+v, want changed=0 failed=0\n%s", r2, text2)
	}

	// --check --diff in a fresh netns (drifted: kernel defaults): reports
	// the change with old -> new, writes nothing.
	r3, text3 := readRecap(t, out, "check")
	if r3.failed != 0 || r3.changed == 0 {
		t.Errorf("--check on a drifted netns: %+v, want changed > 0\n%s", r3, text3)
	}
	for _, want := range []string{"net.ipv4.tcp_keepalive_time 7200 -> 240", "net.ipv4.tcp_retries2 15 -> 9", "dead-peer detection 7875 s (2h11m15s) -> 320 s (5m20s)"} {
		if !strings.Contains(text3, want) {
			t.Errorf("--check --diff does not say %q:\n%s", want, text3)
		}
	}
	if got := readFile(t, out, "values-check"); got != "7200 75 9 15" {
		t.Errorf("--check wrote the netns: %s, want 7200 75 9 15", got)
	}
	if before, after := files, readFile(t, out, "files-after-check"); before != after {
		t.Errorf("--check changed files:\nbefore:\n%s\nafter:\n%s", before, after)
	}
}
