package main

import (
	"bytes"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/tcpka/tcpka/internal/enforce"
	"github.com/tcpka/tcpka/internal/enforce/enforcetest"
	"github.com/tcpka/tcpka/internal/sockopt"
	"github.com/tcpka/tcpka/internal/testkit"
	"golang.org/x/sys/unix"
)

func helperFD(t *testing.T, line string) int {
	t.Helper()
	f := strings.Fields(line)
	n, err := strconv.Atoi(f[len(f)-1])
	if err != nil {
		t.Fatalf("helper said %q", line)
	}
	return n
}

func childKA(t *testing.T, pid, fd int) sockopt.Options {
	t.Helper()
	d, err := sockopt.Dup(pid, fd)
	if err != nil {
		t.Fatal(err)
	}
	defer unix.Close(d)
	o, err := sockopt.Get(d)
	if err != nil {
		t.Fatal(err)
	}
	return o
}

func mustMatch(t *testing.T, what, got, re string) {
	t.Helper()
	if !regexp.MustCompile(re).MatchString(got) {
		t.Errorf("%s: output does not match %q:\n%s", what, re, got)
	}
}

// TestEnforcePIDCLI: what the user sees from enforce --pid on a child with
// a connection without keepalive, one following the sysctls, one with its
// own values and a listener.
func TestEnforcePIDCLI(t *testing.T) {
	if !enforcetest.InScratchNetns(t) {
		return
	}
	echo := enforcetest.Echo(t)
	c := enforcetest.Start(t, "", "dial:"+echo, "dialka:"+echo, "dialown:"+echo, "listen:127.0.0.1:0")
	off := helperFD(t, c.Next(t))
	c.Next(t)
	c.Next(t)
	c.Next(t)
	pid := strconv.Itoa(c.Pid())

	out, errs, code := tcpkaRun(t, "enforce", "fast-failover", "--pid", pid, "--dry-run")
	if code != 0 || errs != "" {
		t.Fatalf("--dry-run: exit %d, %s", code, errs)
	}
	mustMatch(t, "--dry-run", out, `(?m)^pid \d+ \(tcpka.test\): profile fast-failover: time 10 s, intvl 3 s, probes 5, TCP_USER_TIMEOUT 25000 ms, dead-peer detection 25 s$`)
	mustMatch(t, "--dry-run", out, `(?m)^  tcp_retries2 6 is per network namespace, not per socket: tcpka apply sets it$`)
	mustMatch(t, "--dry-run", out, `(?m)^  fd \d+ +127\.0\.0\.1:\d+ -> `+regexp.QuoteMeta(echo)+`  keepalive off -> 10/3/5 \+ TCP_USER_TIMEOUT 25000 ms, detection never -> 25 s, data in flight 939 s \(15m39s\) -> 26 s$`)
	mustMatch(t, "--dry-run", out, `(?m)keepalive with the sysctls' 7200/75/9, detection 7875 s \(2h11m15s\): left alone, --override to change$`)
	mustMatch(t, "--dry-run", out, `(?m)keepalive with its own 60/10/5, detection 110 s \(1m50s\): left alone, --override to change$`)
	mustMatch(t, "--dry-run", out, `(?m)^dry run: would change 1 of 3 connected TCP sockets; 1 listening socket left alone; nothing changed$`)
	if o := childKA(t, c.Pid(), off); o.On {
		t.Errorf("--dry-run changed the socket: %+v", o)
	}

	out, _, code = tcpkaRun(t, "enforce", "fast-failover", "--pid", pid)
	mustMatch(t, "enforce", out, `(?m)^changed 1 of 3 connected TCP sockets; 1 listening socket left alone$`)
	if o := childKA(t, c.Pid(), off); !o.On || o.Settings.Time != 10 || o.Settings.Intvl != 3 || o.Settings.Probes != 5 || o.Settings.UserTimeout != 25*time.Second || code != 0 {
		t.Errorf("after enforce: exit %d, %+v (want 10/3/5 and TCP_USER_TIMEOUT 25 s)", code, o)
	}
	out, _, _ = tcpkaRun(t, "enforce", "fast-failover", "--pid", pid)
	mustMatch(t, "second run", out, `(?m)^nothing to change: no connected TCP socket of pid \d+ needs it \(3 connected; 1 already follows the profile, 1 listening socket left alone\)$`)

	out, _, code = tcpkaRun(t, "enforce", "fast-failover", "--pid", pid, "--override", "--json")
	var j struct {
		Changed, Connected, Listening int
		Override                      bool
		Sockets                       []struct{ After map[string]any }
	}
	if err := json.Unmarshal([]byte(out), &j); err != nil || code != 0 {
		t.Fatalf("--json: exit %d, %v: %s", code, err, out)
	}
	if j.Changed != 2 || j.Connected != 3 || j.Listening != 1 || !j.Override || len(j.Sockets) != 3 {
		t.Errorf("--override --json: %+v", j)
	}
	for _, s := range j.Sockets {
		if a := s.After; a["time_s"] != 10.0 || a["detection_s"] != 25.0 || a["data_in_flight_s"] != 26.0 || a["user_timeout_ms"] != 25000.0 {
			t.Errorf("--json socket %+v", s)
		}
	}
	c.Send(t, "ping")
	if got := c.Next(t); got != "pong 3" {
		t.Errorf("child after enforce: %q", got)
	}

	_ = c.Cmd.Process.Kill()
	_ = c.Cmd.Wait()
	out, errs, code = tcpkaRun(t, "enforce", "fast-failover", "--pid", pid)
	if code != 2 || out != "" || errs != "tcpka: enforce: --pid "+pid+": no such process\n" {
		t.Errorf("gone pid: exit %d, stdout %q, stderr %q", code, out, errs)
	}
}

// TestEnforcePIDFDOrder: a process with a dozen connections has sockets
// on one- and two-digit descriptors; enforce --pid lists them in numeric
// order (4, 11, 12), not as /proc/PID/fd sorts their names (11, 12, 4).
func TestEnforcePIDFDOrder(t *testing.T) {
	if !enforcetest.InScratchNetns(t) {
		return
	}
	echo := enforcetest.Echo(t)
	var args []string
	for i := 0; i < 12; i++ {
		args = append(args, "dial:"+echo)
	}
	c := enforcetest.Start(t, "", args...)
	var opened []int
	for range args {
		opened = append(opened, helperFD(t, c.Next(t)))
	}
	if slices.Min(opened) >= 10 || slices.Max(opened) < 10 {
		t.Fatalf("the helper's sockets are on fds %v: want some below 10 and some above", opened)
	}
	want := slices.Sorted(slices.Values(opened))
	pid := strconv.Itoa(c.Pid())
	textFDs := func(out string) []int {
		var fds []int
		for _, m := range regexp.MustCompile(`(?m)^  fd (\d+) `).FindAllStringSubmatch(out, -1) {
			n, _ := strconv.Atoi(m[1])
			fds = append(fds, n)
		}
		return fds
	}
	jsonFDs := func(out string) []int {
		var j enforcePIDJSON
		if err := json.Unmarshal([]byte(out), &j); err != nil {
			t.Fatalf("--json: %v\n%s", err, out)
		}
		var fds []int
		for _, s := range j.Sockets {
			fds = append(fds, s.FD)
		}
		return fds
	}
	for _, tt := range []struct {
		args []string
		fds  func(string) []int
	}{
		{[]string{"enforce", "fast-failover", "--pid", pid, "--dry-run"}, textFDs},
		{[]string{"enforce", "fast-failover", "--pid", pid, "--dry-run", "--json"}, jsonFDs},
	} {
		out, errs, code := tcpkaRun(t, tt.args...)
		if code != 0 || errs != "" {
			t.Fatalf("tcpka %s: exit %d, %s", strings.Join(tt.args, " "), code, errs)
		}
		if got := tt.fds(out); !slices.Equal(got, want) {
			t.Errorf("tcpka %s lists fds %v, want %v:\n%s", strings.Join(tt.args, " "), got, want, out)
		}
	}
}

// TestEnforceCgroupCLI: attach, list, show, remove on a test cgroup with a
// private bpffs; a process in the cgroup gets the values, one after
// --remove does not.
// cgroupFixture, inside a scratch netns, skips on kernels without the BPF
// keepalive helpers, then makes a test cgroup and a private bpffs (both
// removed at cleanup) and returns them with the flags that point tcpka at
// them and at a scratch run dir.
func cgroupFixture(t *testing.T) (cg, bpf string, flags []string) {
	t.Helper()
	if err := enforce.CheckKernel(); err != nil {
		t.Skip(err)
	}
	cg = enforcetest.Cgroup(t)
	bpf = enforcetest.BPFFS(t)
	return cg, bpf, []string{"--bpf-root", bpf, "--run-dir", t.TempDir()}
}

func TestEnforceCgroupCLI(t *testing.T) {
	if !enforcetest.InScratchNetns(t) {
		return
	}
	cg, bpf, flags := cgroupFixture(t)
	echo := enforcetest.Echo(t)

	out, errs, code := tcpkaRun(t, append([]string{"enforce", "fast-failover", "--cgroup", cg, "--dry-run"}, flags...)...)
	mustMatch(t, "--dry-run", out, `(?m)^dry run: would attach the keepalive program on cgroup `+regexp.QuoteMeta(cg)+`; nothing changed$`)
	if code != 0 || errs != "" {
		t.Fatalf("--dry-run: exit %d %s", code, errs)
	}
	out, errs, code = tcpkaRun(t, append([]string{"enforce", "fast-failover", "--cgroup", cg}, flags...)...)
	if code != 0 {
		t.Fatalf("attach: exit %d %s", code, errs)
	}
	mustMatch(t, "attach", out, `(?m)^attached: cgroup `+regexp.QuoteMeta(cg)+`$`)
	mustMatch(t, "attach", out, `(?m)^  pinned at `+regexp.QuoteMeta(bpf)+`/tcpka/cgroup_\d+ \(46 BPF instructions\)`)
	out, _, _ = tcpkaRun(t, append([]string{"enforce", "fast-failover", "--cgroup", cg}, flags...)...)
	mustMatch(t, "again", out, `(?m)^nothing to change: cgroup `+regexp.QuoteMeta(cg)+` already has these values`)

	in := enforcetest.Start(t, cg, "dial:"+echo)
	if o := childKA(t, in.Pid(), helperFD(t, in.Next(t))); !o.On || o.Settings.Time != 10 || o.Settings.Intvl != 3 || o.Settings.Probes != 5 || o.Settings.UserTimeout != 25*time.Second {
		t.Errorf("in the cgroup: %+v (want 10/3/5 and TCP_USER_TIMEOUT 25 s)", o)
	}

	out, _, code = tcpkaRun(t, append([]string{"enforce", "--list"}, flags...)...)
	if code != 0 {
		t.Errorf("enforce --list: exit %d", code)
	}
	mustMatch(t, "--list", out, `^CGROUP +PROFILE +TIME +INTVL +PROBES +DETECTION +ATTACHED\n`)
	mustMatch(t, "--list", out, `(?m)^`+regexp.QuoteMeta(cg)+` +fast-failover +10 s +3 s +5 +25 s +\d{4}-\d\d-\d\d \d\d:\d\d:\d\d \w+$`)
	out, _, _ = tcpkaRun(t, append([]string{"enforce", "--list", "--json"}, flags...)...)
	var l struct {
		Attachments []struct {
			Cgroup       string
			Instructions int
			Values       map[string]any
		}
	}
	if err := json.Unmarshal([]byte(out), &l); err != nil || len(l.Attachments) != 1 || l.Attachments[0].Cgroup != cg ||
		l.Attachments[0].Values["time_s"] != 10.0 || l.Attachments[0].Values["detection_s"] != 25.0 || l.Attachments[0].Instructions != 46 || l.Attachments[0].Values["user_timeout_ms"] != 25000.0 {
		t.Errorf("--list --json: %v %s", err, out)
	}

	out, _, code = tcpkaRun(t, append([]string{"enforce", "--remove", "--cgroup", cg}, flags...)...)
	if code != 0 {
		t.Errorf("enforce --remove: exit %d", code)
	}
	mustMatch(t, "--remove", out, `(?m)^removed: cgroup `+regexp.QuoteMeta(cg)+` \(time 10 s, intvl 3 s, probes 5, TCP_USER_TIMEOUT 25000 ms\) detached, pin \S+ deleted$`)
	out, _, _ = tcpkaRun(t, append([]string{"enforce", "--list"}, flags...)...)
	mustMatch(t, "--list after remove", out, `^no cgroup has a tcpka keepalive program`)
	after := enforcetest.Start(t, cg, "dial:"+echo)
	if o := childKA(t, after.Pid(), helperFD(t, after.Next(t))); o.On {
		t.Errorf("after --remove: keepalive on")
	}
	_, errs, code = tcpkaRun(t, append([]string{"enforce", "--remove", "--cgroup", cg}, flags...)...)
	if code != 1 || !strings.HasPrefix(errs, "tcpka: enforce: cgroup "+cg+": not enforced by tcpka") {
		t.Errorf("second --remove: exit %d %q", code, errs)
	}
	_, errs, code = tcpkaRun(t, append([]string{"enforce", "fast-failover", "--cgroup", t.TempDir()}, flags...)...)
	if code != 1 || !strings.Contains(errs, ": no cgroup v2: not a directory of a cgroup2 file system") {
		t.Errorf("--cgroup on a plain dir: exit %d %q", code, errs)
	}
}

// TestEnforceWithoutPrivileges: as an unprivileged user, and as root
// without capabilities (BPF refused), enforce says so and changes nothing.
func TestEnforceWithoutPrivileges(t *testing.T) {
	testkit.Slow(t, "builds the tcpka binary")
	testkit.NeedRoot(t, "runs tcpka as another user and with capabilities dropped")
	if _, err := exec.LookPath("setpriv"); err != nil {
		t.Skip("needs setpriv (util-linux)")
	}
	bin := filepath.Join(t.TempDir(), "tcpka")
	if out, err := exec.Command("go", "build", "-o", bin, ".").CombinedOutput(); err != nil {
		t.Skipf("go build: %v %s", err, out)
	}
	os.Chmod(filepath.Dir(bin), 0o755)
	cg := enforcetest.Cgroup(t)
	bpf := enforcetest.BPFFS(t)
	for _, tt := range []struct {
		name   string
		priv   []string
		args   []string
		stderr string
	}{
		{"nobody --pid", []string{"--reuid=65534", "--regid=65534", "--clear-groups"}, []string{"enforce", "ssh", "--pid", "1"},
			"tcpka: enforce needs root (CAP_SYS_ADMIN, CAP_NET_ADMIN and CAP_SYS_PTRACE, for pidfd_getfd on another process's sockets, bpf(2) and bpffs for a cgroup): run it with sudo\n"},
		{"nobody --list", []string{"--reuid=65534", "--regid=65534", "--clear-groups"}, []string{"enforce", "--list"},
			"tcpka: enforce --list needs root (CAP_SYS_ADMIN, to read BPF links and programs): run it with sudo\n"},
		{"root without capabilities", []string{"--bounding-set=-all", "--inh-caps=-all"}, []string{"enforce", "ssh", "--cgroup", cg, "--bpf-root", bpf, "--run-dir", t.TempDir()},
			"tcpka: enforce needs root (CAP_SYS_ADMIN, CAP_NET_ADMIN and CAP_SYS_PTRACE, "},
	} {
		cmd := exec.Command("setpriv", append(append(tt.priv, bin), tt.args...)...)
		var out, errb bytes.Buffer
		cmd.Stdout, cmd.Stderr = &out, &errb
		err := cmd.Run()
		if ee, ok := err.(*exec.ExitError); !ok || ee.ExitCode() != 1 || out.Len() != 0 || !strings.HasPrefix(errb.String(), tt.stderr) ||
			strings.Count(errb.String(), "\n") != 1 {
			t.Errorf("%s: %v, stdout %q, stderr %q; want exit 1 and %q", tt.name, err, out.String(), errb.String(), tt.stderr)
		}
	}
	if ents, _ := os.ReadDir(filepath.Join(bpf, "tcpka")); len(ents) != 0 {
		t.Errorf("pins made without privileges: %v", ents)
	}
}
