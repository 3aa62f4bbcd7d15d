package nstest

import (
	"bytes"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"

	"github.com/tcpka/tcpka/internal/testkit"
	"golang.org/x/sys/unix"
)

const envVar = "TCPKA_NSTEST"

// Private makes the calling top-level test run inside private pid+mount+net
// namespaces (`unshare -m -n -p --fork --mount-proc`, then tmpfs on /run and
// /run/netns). Outside, it re-runs only this test in there, reports its
// output and result, checks that the host's keepalive sysctls did not move,
// and returns false: the caller returns at once. Inside, it returns true.
// It skips with a reason when not root or when a needed tool is missing.
func Private(t *testing.T, tools ...string) bool {
	t.Helper()
	return reexec(t, []string{"-m", "-n", "-p", "--fork", "--mount-proc", "--propagation", "private"}, true, tools)
}

// PidNetOnly is like Private but keeps the host's mount namespace and
// /proc: the test runs as pid 1 of a new pid namespace, in a new network
// namespace, looking at the host's /proc, as tcpka does in a container
// that mounts the host's /proc. The test must not write anything.
func PidNetOnly(t *testing.T, tools ...string) bool {
	t.Helper()
	return reexec(t, []string{"-n", "-p", "--fork", "--kill-child"}, false, tools)
}

func reexec(t *testing.T, unshareArgs []string, mountRun bool, tools []string) bool {
	t.Helper()
	testkit.Slow(t, "re-runs the test in private namespaces")
	if os.Getenv(envVar) == t.Name() {
		if os.Getpid() != 1 {
			t.Fatalf("nstest: %s=%s but not pid 1 of a private pid namespace", envVar, t.Name())
		}
		if !mountRun {
			return true
		}
		for _, dir := range []string{"/run", "/run/netns"} {
			if err := os.MkdirAll(dir, 0o755); err != nil {
				t.Fatal(err)
			}
			if err := unix.Mount("tcpka-nstest", dir, "tmpfs", 0, "mode=0755"); err != nil {
				t.Fatalf("nstest: mount tmpfs on %s: %v", dir, err)
			}
		}
		return true
	}
	if os.Geteuid() != 0 {
		t.Skip("needs root: creates pid, mount and network namespaces")
	}
	for _, tool := range append([]string{"unshare"}, tools...) {
		if _, err := exec.LookPath(tool); err != nil {
			t.Skipf("needs %s (not installed)", tool)
		}
	}
	before := hostValues(t)
	args := append(unshareArgs, os.Args[0], "-test.run", "^"+regexp.QuoteMeta(t.Name())+"$", "-test.v", "-test.count=1")
	cmd := exec.Command("unshare", args...)
	cmd.Env = append(os.Environ(), envVar+"="+t.Name())
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	err := cmd.Run()
	for _, l := range strings.Split(strings.TrimRight(out.String(), "\n"), "\n") {
		t.Log(l)
	}
	if after := hostValues(t); after != before {
		t.Errorf("the host's keepalive sysctls changed: %s -> %s", before, after)
	}
	if err != nil {
		t.Fatalf("inside private namespaces: %v", err)
	}
	if m := regexp.MustCompile(`--- SKIP: ` + regexp.QuoteMeta(t.Name()) + ` .*\n\s+(.*)`).FindStringSubmatch(out.String()); m != nil {
		t.Skipf("inside private namespaces: %s", m[1])
	}
	if !strings.Contains(out.String(), "--- PASS: "+t.Name()) {
		t.Fatalf("inside private namespaces: the test did not report PASS")
	}
	return false
}

func hostValues(t *testing.T) string {
	t.Helper()
	var vals []string
	for _, k := range []string{"time", "intvl", "probes"} {
		b, err := os.ReadFile(filepath.Join("/proc/sys/net/ipv4", "tcp_keepalive_"+k))
		if err != nil {
			t.Fatal(err)
		}
		vals = append(vals, strings.TrimSpace(string(b)))
	}
	return strings.Join(vals, "/")
}

// Run runs a command and fails the test with its output if it fails.
func Run(t *testing.T, name string, args ...string) string {
	t.Helper()
	out, err := exec.Command(name, args...).CombinedOutput()
	if err != nil {
		t.Fatalf("%s %s: %v\n%s", name, strings.Join(args, " "), err, out)
	}
	return string(out)
}

// SetValues writes the three keepalive sysctls of the netns named name
// (under /run/netns) with ip netns exec; "" means the test's own netns.
func SetValues(t *testing.T, name string, time, intvl, probes int) {
	t.Helper()
	script := setScript(time, intvl, probes)
	if name == "" {
		Run(t, "sh", "-c", script)
		return
	}
	Run(t, "ip", "netns", "exec", name, "sh", "-c", script)
}

// HoldUnnamed starts a child in a new, unnamed network namespace with the
// given values and returns its pid; the child is killed at cleanup.
func HoldUnnamed(t *testing.T, time, intvl, probes int) int {
	t.Helper()
	return hold(t, "unnamed netns holder", exec.Command("unshare", "-n", "sh", "-c", setScript(time, intvl, probes)+" && echo ready && exec sleep 1000"))
}

// Values reads the three values in the netns of a name under /run/netns,
// of pid:N, or ("") of the test itself, as "time/intvl/probes", with
// tools other than tcpka (ip netns exec, nsenter).
func Values(t *testing.T, target string) string {
	t.Helper()
	return catIn(t, target, "tcp_keepalive_time", "tcp_keepalive_intvl", "tcp_keepalive_probes")
}

// Retries2 reads tcp_retries2 in the netns of target, as Values does.
func Retries2(t *testing.T, target string) string {
	t.Helper()
	return catIn(t, target, "tcp_retries2")
}

// catIn reads /proc/sys/net/ipv4 files in the netns of target and joins
// their values with "/".
func catIn(t *testing.T, target string, names ...string) string {
	t.Helper()
	cat := []string{"cat"}
	for _, n := range names {
		cat = append(cat, "/proc/sys/net/ipv4/"+n)
	}
	var out string
	switch {
	case target == "":
		out = Run(t, cat[0], cat[1:]...)
	case strings.HasPrefix(target, "pid:"):
		out = Run(t, "nsenter", append([]string{"-t", strings.TrimPrefix(target, "pid:"), "-n"}, cat...)...)
	default:
		out = Run(t, "ip", append([]string{"netns", "exec", target}, cat...)...)
	}
	return strings.Join(strings.Fields(out), "/")
}

// HoldNamed starts a child inside the named netns (ip netns exec NAME
// sleep) and returns its pid; the child is killed at cleanup.
func HoldNamed(t *testing.T, name string) int {
	t.Helper()
	return hold(t, "holder in "+name, exec.Command("ip", "netns", "exec", name, "sh", "-c", "echo ready && exec sleep 1000"))
}

// setScript is the shell that writes the three values of its netns.
func setScript(time, intvl, probes int) string {
	return "echo " + strconv.Itoa(time) + " > /proc/sys/net/ipv4/tcp_keepalive_time && echo " + strconv.Itoa(intvl) +
		" > /proc/sys/net/ipv4/tcp_keepalive_intvl && echo " + strconv.Itoa(probes) + " > /proc/sys/net/ipv4/tcp_keepalive_probes"
}

// hold starts cmd, which prints "ready" once it sits in its namespace,
// waits for that line and returns its pid; cmd is killed at cleanup.
func hold(t *testing.T, what string, cmd *exec.Cmd) int {
	t.Helper()
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cmd.Process.Kill(); cmd.Wait() })
	buf := make([]byte, 6)
	if _, err := io.ReadFull(stdout, buf); err != nil || string(buf) != "ready\n" {
		t.Fatalf("%s: %q %v", what, buf, err)
	}
	return cmd.Process.Pid
}
