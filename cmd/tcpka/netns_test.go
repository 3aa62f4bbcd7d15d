package main

import (
	"bytes"
	"encoding/json"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/tcpka/tcpka/internal/keepalive"
	"github.com/tcpka/tcpka/internal/netns"
	"github.com/tcpka/tcpka/internal/nstest"
	"github.com/tcpka/tcpka/internal/sysctl"
)

// tcpkaRun runs the CLI in this process, as a user would run it.
func tcpkaRun(t *testing.T, args ...string) (stdout, stderr string, code int) {
	t.Helper()
	var out, errb bytes.Buffer
	code = run(args, &out, &errb)
	return out.String(), errb.String(), code
}

// tcpkaRunAs runs the built tcpka under the command prefix (ip netns exec,
// setpriv): as another user, with fewer capabilities, in another namespace.
func tcpkaRunAs(t *testing.T, prefix []string, args ...string) (stdout, stderr string, code int) {
	t.Helper()
	cmd := exec.Command(prefix[0], append(append(prefix[1:], tcpkaBinary(t)), args...)...)
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	err := cmd.Run()
	if ee, ok := err.(*exec.ExitError); ok {
		code = ee.ExitCode()
	} else if err != nil {
		t.Fatalf("%s: %v", strings.Join(prefix, " "), err)
	}
	return out.String(), errb.String(), code
}

// TestNetnsCLI drives show/apply/check/revert with --netns and --all-netns
// over named netns, an unnamed one held by a child, and the test's own
// (playing the host), all inside private pid+mount+net namespaces.
func TestNetnsCLI(t *testing.T) {
	if !nstest.Private(t, "ip", "nsenter") {
		return
	}
	nstest.SetValues(t, "", 600, 60, 6) // the "host": pid 1's netns
	nstest.Run(t, "ip", "netns", "add", "tcpka-a")
	nstest.Run(t, "ip", "netns", "add", "tcpka-b")
	nstest.SetValues(t, "tcpka-a", 100, 10, 1)
	u := nstest.HoldUnnamed(t, 300, 30, 3)
	upid := "pid:" + strconv.Itoa(u)
	all := func() string {
		return strings.Join([]string{nstest.Values(t, ""), nstest.Values(t, "tcpka-a"), nstest.Values(t, "tcpka-b"), nstest.Values(t, upid)}, " ")
	}
	self := filepath.Base(os.Args[0]) // pid 1 here, as /proc/1/comm shows it
	if len(self) > 15 {
		self = self[:15]
	}
	const start = "600/60/6 100/10/1 7200/75/9 300/30/3"
	if got := all(); got != start {
		t.Fatalf("setup: %s, want %s", got, start)
	}

	// show --all-netns --json: each namespace once, with names, pids, values.
	out, errOut, code := tcpkaRun(t, "show", "--all-netns", "--json")
	if code != 0 || errOut != "" {
		t.Fatalf("show --all-netns --json: exit %d, stderr %q", code, errOut)
	}
	var shown struct {
		HostNetns  string `json:"host_netns"`
		Namespaces []struct {
			Netns     string   `json:"netns"`
			Names     []string `json:"names"`
			Processes []struct {
				Pid     int
				Command string
			} `json:"processes"`
			Host            bool   `json:"host"`
			Time            *int   `json:"time_s"`
			Intvl           int    `json:"intvl_s"`
			Probes          int    `json:"probes"`
			KernelDefaults  bool   `json:"kernel_defaults"`
			DiffersFromHost bool   `json:"differs_from_host"`
			Error           string `json:"error"`
		} `json:"namespaces"`
	}
	if err := json.Unmarshal([]byte(out), &shown); err != nil {
		t.Fatalf("show --all-netns --json: %v\n%s", err, out)
	}
	type seen struct {
		names, vals, pids       string
		host, defaults, differs bool
	}
	var got []seen
	for _, n := range shown.Namespaces {
		var pids []string
		for _, p := range n.Processes {
			if p.Pid == 1 || p.Pid == u {
				pids = append(pids, strconv.Itoa(p.Pid)+" "+p.Command)
			}
		}
		if n.Time == nil {
			t.Fatalf("%s: no values: %s", n.Netns, n.Error)
		}
		got = append(got, seen{strings.Join(n.Names, ","), strconv.Itoa(*n.Time) + "/" + strconv.Itoa(n.Intvl) + "/" + strconv.Itoa(n.Probes),
			strings.Join(pids, ","), n.Host, n.KernelDefaults, n.DiffersFromHost})
	}
	want := []seen{
		{"", "600/60/6", "1 " + self, true, false, false},
		{"tcpka-a", "100/10/1", "", false, false, true},
		{"tcpka-b", "7200/75/9", "", false, true, true},
		{"", "300/30/3", strconv.Itoa(u) + " sleep", false, false, true},
	}
	if len(got) != len(want) {
		t.Fatalf("show --all-netns found %d namespaces, want %d:\n%s", len(got), len(want), out)
	}
	for i := range want {
		if got[i] != want[i] {
			t.Errorf("namespace %d: got %+v, want %+v", i, got[i], want[i])
		}
	}
	if shown.HostNetns != shown.Namespaces[0].Netns {
		t.Errorf("host_netns = %s, want %s", shown.HostNetns, shown.Namespaces[0].Netns)
	}

	// The table a user reads.
	out, _, code = tcpkaRun(t, "show", "--all-netns")
	if code != 0 {
		t.Fatalf("show --all-netns: exit %d", code)
	}
	mustMatch(t, "show --all-netns", out, `(?m)^NETNS +NAME +PROCESSES +TIME +INTVL +PROBES +DETECTION +NOTE$`)
	mustMatch(t, "show --all-netns", out, `(?m)^net:\[\d+\] +- +`+regexp.QuoteMeta(self)+`\[1\].* +600 s +60 s +6 +16m +host$`)
	mustMatch(t, "show --all-netns", out, `(?m)^net:\[\d+\] +tcpka-a +- +100 s +10 s +1 +1m50s +differs from host$`)
	mustMatch(t, "show --all-netns", out, `(?m)^net:\[\d+\] +tcpka-b +- +7200 s +75 s +9 +2h11m15s +defaults, differs from host$`)
	mustMatch(t, "show --all-netns", out, `(?m)^net:\[\d+\] +- +sleep\[`+strconv.Itoa(u)+`\] +300 s +30 s +3 +6m30s +differs from host$`)
	mustMatch(t, "show --all-netns", out, `(?m)^4 network namespaces: 1 with the kernel defaults \(a dead peer noticed after 2h11m15s\),\n3 differ from the host$`)

	// --netns in its three forms reads the target, not tcpka's own netns.
	for _, tt := range []struct{ target, want string }{
		{"tcpka-a", `"time_s": 100,`},
		{"/run/netns/tcpka-b", `"time_s": 7200,`},
		{upid, `"time_s": 300,`},
	} {
		out, errOut, code := tcpkaRun(t, "show", "--json", "--netns", tt.target)
		if code != 0 || !strings.Contains(out, tt.want) {
			t.Errorf("show --netns %s: exit %d, stderr %q, stdout:\n%s\nwant %s", tt.target, code, errOut, out, tt.want)
		}
	}

	// check --all-netns: drift everywhere, exit 1, names them.
	out, _, code = tcpkaRun(t, "check", "fast-failover", "--all-netns")
	if code != 1 {
		t.Errorf("check --all-netns before apply: exit %d, want 1", code)
	}
	mustMatch(t, "check --all-netns", out, `(?m)^net:\[\d+\] tcpka-a: DRIFT: tcp_keepalive_time 100 s \(profile 10 s\), tcp_keepalive_intvl 10 s \(profile 3 s\), tcp_keepalive_probes 1 \(profile 5\), tcp_retries2 15 \(profile 6\)$`)
	mustMatch(t, "check --all-netns", out, `(?m)^drift in 4 of 4 network namespaces: .*tcpka-a.*tcpka-b.*\(fix: sudo tcpka apply fast-failover --all-netns\)$`)

	// --dry-run writes nothing.
	out, _, code = tcpkaRun(t, "apply", "fast-failover", "--all-netns", "--dry-run")
	if code != 0 {
		t.Errorf("apply --all-netns --dry-run: exit %d", code)
	}
	mustMatch(t, "apply --dry-run", out, `(?m)^4 of 4 network namespaces would change \(dry run: nothing written\), 0 already matched, 0 failed$`)
	if got := all(); got != start {
		t.Fatalf("after --dry-run: %s, want %s untouched", got, start)
	}

	// apply --all-netns changes all, one transaction each.
	out, errOut, code = tcpkaRun(t, "apply", "fast-failover", "--all-netns")
	if code != 0 || errOut != "" {
		t.Fatalf("apply --all-netns: exit %d, stderr %q\n%s", code, errOut, out)
	}
	mustMatch(t, "apply --all-netns", out, `(?m)^net:\[\d+\] tcpka-b\n  tcp_keepalive_time     7200 s -> 10 s$`)
	mustMatch(t, "apply --all-netns", out, `(?m)^4 of 4 network namespaces changed, 0 already matched, 0 failed$`)
	const applied = "10/3/5 10/3/5 10/3/5 10/3/5"
	if got := all(); got != applied {
		t.Fatalf("after apply --all-netns: %s, want %s", got, applied)
	}
	if got := nstest.Retries2(t, "tcpka-a"); got != "6" {
		t.Errorf("tcp_retries2 in tcpka-a after apply fast-failover --all-netns: %s, want 6", got)
	}
	if _, _, code := tcpkaRun(t, "check", "fast-failover", "--all-netns"); code != 0 {
		t.Errorf("check --all-netns after apply: exit %d, want 0", code)
	}

	// revert is keyed by the target: reverting tcpka-a restores tcpka-a only.
	out, errOut, code = tcpkaRun(t, "revert", "--netns", "tcpka-a")
	if code != 0 {
		t.Fatalf("revert --netns tcpka-a: exit %d, %s", code, errOut)
	}
	mustMatch(t, "revert --netns", out, `(?m)^reverted: 4 keys restored$`)
	if got, want := all(), "10/3/5 100/10/1 10/3/5 10/3/5"; got != want {
		t.Fatalf("after revert --netns tcpka-a: %s, want %s", got, want)
	}
	if got := nstest.Retries2(t, "tcpka-a"); got != "15" {
		t.Errorf("tcp_retries2 in tcpka-a after revert: %s, want 15", got)
	}
	out, _, _ = tcpkaRun(t, "revert", "--netns", "tcpka-a")
	mustMatch(t, "second revert", out, `nothing to revert`)

	// apply --netns changes the target only.
	if _, errOut, code := tcpkaRun(t, "apply", "ssh", "--netns", upid); code != 0 {
		t.Fatalf("apply ssh --netns %s: exit %d, %s", upid, code, errOut)
	}
	ssh := nstest.Values(t, upid)
	if ssh == "10/3/5" {
		t.Fatalf("apply ssh --netns %s: values still %s", upid, ssh)
	}
	if got, want := all(), "10/3/5 100/10/1 10/3/5 "+ssh; got != want {
		t.Fatalf("after apply --netns %s: %s, want %s", upid, got, want)
	}

	// One namespace that cannot be entered: the others are applied, exit 1,
	// and the failure is named.
	nstest.Run(t, "touch", "/run/netns/tcpka-uts")
	nstest.Run(t, "mount", "--bind", "/proc/self/ns/uts", "/run/netns/tcpka-uts")
	out, errOut, code = tcpkaRun(t, "apply", "kernel-default", "--all-netns")
	if code != 1 {
		t.Errorf("apply --all-netns with a broken name: exit %d, want 1", code)
	}
	mustMatch(t, "apply failure", out, `(?m)^  FAILED: /run/netns/tcpka-uts: not a network namespace: it is a uts namespace$`)
	mustMatch(t, "apply failure", out, `(?m)^4 of 5 network namespaces changed, 0 already matched, 1 failed$`)
	mustMatch(t, "apply failure", errOut, `^tcpka: apply: failed in 1 of 5 network namespaces: /run/netns/tcpka-uts\n$`)
	if got, want := all(), "7200/75/9 7200/75/9 7200/75/9 7200/75/9"; got != want {
		t.Fatalf("after apply kernel-default --all-netns: %s, want %s", got, want)
	}
	// Reading: drift found anywhere is 1; without drift, a namespace that
	// could not be read leaves the answer open: 3.
	for _, tt := range []struct {
		args   []string
		code   int
		stderr string
	}{
		{[]string{"check", "kernel-default", "--all-netns"}, exitUnknown, `^tcpka: check: could not read 1 of 5 network namespaces: /run/netns/tcpka-uts\n$`},
		{[]string{"check", "ssh", "--all-netns"}, exitFailure, `^tcpka: check: could not read 1 of 5 network namespaces: /run/netns/tcpka-uts\n$`},
		{[]string{"show", "--all-netns"}, exitUnknown, `^tcpka: show: 1 of \d+ network namespaces could not be read \(see NOTE\)\n$`},
		{[]string{"show", "--all-netns", "--json"}, exitUnknown, `^tcpka: show: 1 of \d+ network namespaces could not be read \(see their error\)\n$`},
	} {
		_, errOut, code := tcpkaRun(t, tt.args...)
		if code != tt.code {
			t.Errorf("tcpka %s with a broken name: exit %d, want %d", strings.Join(tt.args, " "), code, tt.code)
		}
		mustMatch(t, strings.Join(tt.args, " "), errOut, tt.stderr)
	}
	nstest.Run(t, "umount", "/run/netns/tcpka-uts")
	nstest.Run(t, "rm", "/run/netns/tcpka-uts")

	// Bad targets: one clear line, nothing written; exit 3 for a namespace
	// that cannot be opened, 2 for a file that is not one.
	exited := exec.Command("true")
	if err := exited.Run(); err != nil {
		t.Fatal(err)
	}
	before := all()
	for _, tt := range []struct {
		target, stderr string
		code           int
	}{
		{"tcpka-nope", `^tcpka: --netns tcpka-nope: no such network namespace named "tcpka-nope" in /run/netns \(ip netns list shows the names; give a path or pid:N for others\)\n$`, exitUsage},
		{"/etc/hostname", `^tcpka: --netns /etc/hostname: not a network namespace: a plain file \(want /run/netns/NAME, /proc/PID/ns/net or a bind mount of one\)\n$`, exitUsage},
		{"pid:" + strconv.Itoa(exited.Process.Pid), `^tcpka: --netns pid:\d+: process has exited \(no process \d+\)\n$`, exitUsage},
	} {
		out, errOut, code := tcpkaRun(t, "apply", "fast-failover", "--netns", tt.target)
		if code != tt.code || out != "" {
			t.Errorf("apply --netns %s: exit %d, stdout %q; want exit %d and no output", tt.target, code, out, tt.code)
		}
		mustMatch(t, "apply --netns "+tt.target, errOut, tt.stderr)
	}
	if got := all(); got != before {
		t.Errorf("bad targets wrote something: %s -> %s", before, got)
	}
	if _, err := os.Stat("/run/netns/tcpka-a"); err != nil {
		t.Fatal(err)
	}

	// show --netns reads tcp_retries2 (data-in-flight detection) in the
	// target too, not in tcpka's own namespace.
	nstest.Run(t, "ip", "netns", "exec", "tcpka-a", "sh", "-c", "echo 5 > /proc/sys/net/ipv4/tcp_retries2")
	if out, errOut, code := tcpkaRun(t, "show", "--netns", "tcpka-a", "--json"); code != 0 || !strings.Contains(out, `"retries2": 5,`) {
		t.Errorf("show --netns tcpka-a --json: exit %d, stderr %q, want \"retries2\": 5 in:\n%s", code, errOut, out)
	}

	// sockets --netns dumps the target's sockets: the dump's netlink socket
	// must be opened inside it. Two ends of one loopback connection in
	// tcpka-a, none of them visible from here.
	nstest.Run(t, "ip", "-n", "tcpka-a", "link", "set", "lo", "up")
	target, err := netns.Resolve("tcpka-a", netns.DefaultRunDir, "/proc")
	if err != nil {
		t.Fatal(err)
	}
	var ln net.Listener
	var client, server net.Conn
	err = netns.Do(target, func() error {
		var err error
		if ln, err = net.Listen("tcp4", "127.0.0.1:0"); err != nil {
			return err
		}
		if client, err = net.Dial("tcp4", ln.Addr().String()); err != nil {
			return err
		}
		server, err = ln.Accept()
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	defer client.Close()
	defer server.Close()
	port := strconv.Itoa(ln.Addr().(*net.TCPAddr).Port)
	noInstall := t.TempDir() // no installed profile below it
	for _, tt := range []struct {
		args []string
		want string
	}{
		{[]string{"sockets", "--netns", "tcpka-a", "--port", port, "--summary", "--json"}, `"total": 2,`},
		{[]string{"sockets", "--port", port, "--summary", "--json"}, `"total": 0,`},
		// Go's Dial and Accept turn keepalive on with their own 15 s values.
		{[]string{"metrics", "--netns", "tcpka-a", "--root", noInstall}, "tcpka_sockets{keepalive=\"own\"} 2\n"},
		{[]string{"metrics", "--netns", "tcpka-a", "--root", noInstall}, "tcpka_keepalive_time_seconds " + strings.Split(nstest.Values(t, "tcpka-a"), "/")[0] + "\n"},
	} {
		out, errOut, code := tcpkaRun(t, tt.args...)
		if code != 0 || !strings.Contains(out, tt.want) {
			t.Errorf("tcpka %s: exit %d, stderr %q, stdout lacks %s:\n%s", strings.Join(tt.args, " "), code, errOut, tt.want, out)
		}
	}
}

// TestAllNetnsHost: --all-netns labels the namespace of PID 1 (in the pid
// namespace tcpka sees) [host], or none when it cannot read PID 1's, and
// then says so once; it never takes its own namespace for the host's. What
// it could not read is counted and explained, not summed up as read. tcpka
// runs as root without CAP_SYS_PTRACE inside a scratch namespace (a
// container that drops it), and as nobody in PID 1's namespace, where it
// still reads its own namespace but cannot enter another.
func TestAllNetnsHost(t *testing.T) {
	if !nstest.Private(t, "ip", "nsenter", "setpriv") {
		return
	}
	nstest.SetValues(t, "", 600, 60, 6) // PID 1's: the "host"
	nstest.Run(t, "ip", "netns", "add", "tcpka-h")
	nstest.SetValues(t, "tcpka-h", 100, 10, 1)
	nstest.HoldUnnamed(t, 300, 30, 3) // a root process: unreadable to both
	const defaults = `0 with the kernel defaults \(a dead peer noticed after 2h11m15s\)`
	const noHost = `none compared with the host \(PID 1's network namespace could not be read\)`
	for _, tt := range []struct {
		name   string
		runAs  []string // what starts tcpka
		stdout []string // lines, as regexps
		stderr string
		code   int // of show --all-netns: 3 where a namespace could not be read
	}{
		{
			name:  "root without CAP_SYS_PTRACE in a scratch netns",
			runAs: []string{"ip", "netns", "exec", "tcpka-h", "setpriv", "--bounding-set", "-sys_ptrace"},
			stdout: []string{
				`net:\[\d+\] +tcpka-h +tcpka\[\d+\] +100 s +10 s +1 +1m50s +-`,
				`at least 1 network namespace: ` + defaults + `,\n` + noHost,
			},
			stderr: `^tcpka: show: cannot read PID 1's network namespace: /proc/1/ns/net: permission denied \(needs CAP_SYS_PTRACE\); no namespace is labelled \[host\]
tcpka: show: cannot read the network namespace of 1 other process: permission denied \(needs CAP_SYS_PTRACE\): its namespace may be missing here
$`,
		},
		{
			name:  "nobody in PID 1's netns",
			runAs: []string{"setpriv", "--reuid", "65534", "--regid", "65534", "--clear-groups"},
			code:  exitUnknown,
			stdout: []string{
				`net:\[\d+\] +tcpka-h +- +- +- +- +- +cannot read: enter net:\[\d+\]: operation not permitted \(entering another network namespace needs CAP_SYS_ADMIN\)`,
				`net:\[\d+\] +- +tcpka\[\d+\] +600 s +60 s +6 +16m +-`,
				`at least 2 network namespaces, 1 read, 1 could not be read \(see NOTE\): ` + defaults + `,\n` + noHost,
			},
			stderr: `^tcpka: show: cannot read PID 1's network namespace: /proc/1/ns/net: permission denied \(needs root\); no namespace is labelled \[host\]
tcpka: show: cannot read the network namespace of 1 other process: permission denied \(needs root\): its namespace may be missing here
tcpka: show: 1 of 2 network namespaces could not be read \(see NOTE\): run as root to read them all
$`,
		},
	} {
		t.Run(tt.name, func(t *testing.T) {
			run := func(args ...string) (string, string) {
				out, errOut, code := tcpkaRunAs(t, tt.runAs, args...)
				if code != tt.code {
					t.Fatalf("tcpka %s: exit %d, want %d\n%s%s", strings.Join(args, " "), code, tt.code, out, errOut)
				}
				return out, errOut
			}
			out, errOut := run("show", "--all-netns")
			for _, re := range tt.stdout {
				mustMatch(t, "show --all-netns", out, `(?m)^`+re+`$`)
			}
			if strings.Contains(out, "host,") || regexp.MustCompile(`(?m) host$`).MatchString(out) {
				t.Errorf("show --all-netns labels a namespace the host's:\n%s", out)
			}
			mustMatch(t, "show --all-netns stderr", errOut, tt.stderr)

			out, errOut = run("show", "--all-netns", "--json")
			var j struct {
				HostNetns           *string `json:"host_netns"`
				HostError           string  `json:"host_error"`
				UnreadableProcesses int     `json:"unreadable_processes"`
				Namespaces          []struct {
					Host bool `json:"host"`
				} `json:"namespaces"`
			}
			if err := json.Unmarshal([]byte(out), &j); err != nil {
				t.Fatalf("show --all-netns --json: %v\n%s", err, out)
			}
			if j.HostNetns != nil || !strings.HasPrefix(j.HostError, "cannot read PID 1's network namespace: /proc/1/ns/net: permission denied") || j.UnreadableProcesses != 2 {
				t.Errorf("show --all-netns --json: host_netns %v, host_error %q, unreadable_processes %d; want none, PID 1's error, 2 (PID 1 and the holder)", j.HostNetns, j.HostError, j.UnreadableProcesses)
			}
			for _, n := range j.Namespaces {
				if n.Host {
					t.Errorf("show --all-netns --json marks a namespace host:\n%s", out)
				}
			}
			mustMatch(t, "show --all-netns --json stderr", errOut, `^tcpka: show: cannot read PID 1's network namespace: `)
		})
	}
	if got := nstest.Values(t, "") + " " + nstest.Values(t, "tcpka-h"); got != "600/60/6 100/10/1" {
		t.Errorf("show wrote something: %s", got)
	}
}

// TestRevertAllNetns: revert --all-netns restores every namespace that has
// a revert record, one transaction each, and forgets the records; it names
// what it could not revert (a namespace it cannot enter, a record whose
// namespace it does not reach) and exits 1. Inside private pid+net+mount
// namespaces, with a private /run.
func TestRevertAllNetns(t *testing.T) {
	if !nstest.Private(t, "ip", "nsenter", "setpriv") {
		return
	}
	nstest.SetValues(t, "", 600, 60, 6) // PID 1's: the "host"
	nstest.Run(t, "ip", "netns", "add", "tcpka-a")
	nstest.Run(t, "ip", "netns", "add", "tcpka-b")
	nstest.SetValues(t, "tcpka-a", 100, 10, 1)
	upid := "pid:" + strconv.Itoa(nstest.HoldUnnamed(t, 300, 30, 3))
	all := func() string {
		return strings.Join([]string{nstest.Values(t, ""), nstest.Values(t, "tcpka-a"), nstest.Values(t, "tcpka-b"), nstest.Values(t, upid)}, " ")
	}
	const start, applied = "600/60/6 100/10/1 7200/75/9 300/30/3", "10/3/5 10/3/5 10/3/5 10/3/5"
	const at = `\(\d{4}-\d\d-\d\d \d\d:\d\d:\d\d UTC\)`
	usage := regexp.QuoteMeta("(usage: tcpka revert [--dry-run] [--json] [--all-netns | --netns TARGET])")
	ghost := func() { // a record of a namespace long gone
		d, err := sysctl.State{RunDir: "/run"}.Dir()
		if err != nil {
			t.Fatal(err)
		}
		defer d.Close()
		rec := sysctl.RevertRecord{NS: sysctl.NSID{Inode: 1}, Before: keepalive.KernelDefaults, Keys: sysctl.Keys(), Profile: "ghost", At: time.Now().UTC()}
		if err := sysctl.SaveRevert(d, rec); err != nil {
			t.Fatal(err)
		}
	}
	noPtraceInA := []string{"ip", "netns", "exec", "tcpka-a", "setpriv", "--bounding-set", "-sys_ptrace"}
	for _, st := range []struct {
		name   string
		before func()
		runAs  []string // nil: in this process, as root
		args   []string
		code   int
		stdout []string // regexps, multi-line
		stderr string   // regexp for all of it
		after  string   // the four namespaces' values
	}{
		{
			name: "no records", args: []string{"revert", "--all-netns"},
			stdout: []string{`(?m)^net:\[\d+\] tcpka-a\n  nothing to revert$`, `(?m)^0 of 4 network namespaces reverted, 4 had nothing to revert, 0 failed$`},
			stderr: `^$`, after: start,
		},
		{
			name: "with --netns", args: []string{"revert", "--all-netns", "--netns", "tcpka-a"}, code: 2,
			stdout: []string{`^$`}, stderr: `^tcpka: revert: --all-netns and --netns exclude each other ` + usage + `\n$`, after: start,
		},
		{
			name: "with another --proc-root", args: []string{"revert", "--all-netns", "--proc-root", "/run"}, code: 2,
			stdout: []string{`^$`}, stderr: `^tcpka: revert: --all-netns needs --proc-root /proc: revert records name each namespace by an identity only this machine's /proc gives ` + usage + `\n$`, after: start,
		},
		{
			name: "an argument", args: []string{"revert", "--all-netns", "ssh"}, code: 2,
			stdout: []string{`^$`}, stderr: `^tcpka: revert: takes no arguments, got "ssh" ` + usage + `\n$`, after: start,
		},
		{name: "apply in one", args: []string{"apply", "ssh", "--netns", "tcpka-a"}, stdout: []string{`applied`}, stderr: `^$`, after: "600/60/6 60/13/4 7200/75/9 300/30/3"},
		{name: "apply in all", args: []string{"apply", "fast-failover", "--all-netns"}, stdout: []string{`applied`}, stderr: `^$`, after: applied},
		{
			name: "dry run", before: ghost, args: []string{"revert", "--all-netns", "--dry-run"},
			stdout: []string{
				// tcpka-a goes back to before the first apply, ssh's.
				`(?m)^net:\[\d+\] tcpka-a\n  values from before profile ssh was applied ` + at + `\n  tcp_keepalive_time +10 s -> 100 s\n(  .*\n)*  would restore 4 keys and forget the record\n`,
				`(?m)^net:\[\d+\] \(\S+\[1\].*\) \[host\]\n  values from before profile fast-failover was applied ` + at + `\n  tcp_keepalive_time +10 s -> 600 s$`,
				`(?m)^revert record revert-i1.json \(profile ghost, applied .*\)\n  gone: its network namespace no longer exists; the next revert or apply drops the record$`,
				`(?m)^4 of 4 network namespaces would be reverted \(dry run: nothing written\), 0 had nothing to revert, 0 failed$`,
			},
			stderr: `^$`, after: applied,
		},
		{
			// Without CAP_SYS_PTRACE, from tcpka-a: PID 1's namespace and
			// the holder's are out of reach; their records are kept, and
			// so is the ghost's, since not every namespace could be listed.
			name: "namespaces out of reach", runAs: noPtraceInA, args: []string{"revert", "--all-netns"}, code: 1,
			stdout: []string{
				`(?m)^net:\[\d+\] tcpka-a\n  values from before profile ssh was applied ` + at + `\n(  .*\n)*  reverted: 4 keys restored$`,
				`(?m)^net:\[\d+\] tcpka-b\n  values from before profile fast-failover was applied ` + at + `\n(  .*\n)*  reverted: 4 keys restored$`,
				`(?m)^revert record revert-[ci]\d+.json \(profile fast-failover, applied .*\)\n  NOT REACHED: no network namespace found has its identity \((cookie \d+, )?net:\[\d+\]\); the record is kept$`,
				`(?m)^2 of 2 network namespaces reverted, 0 had nothing to revert, 0 failed, 3 revert records not reached$`,
			},
			stderr: `^tcpka: revert: cannot read PID 1's network namespace: .*
tcpka: revert: cannot read the network namespace of 1 other process: .*
tcpka: revert: 3 revert records name a network namespace that was not reached: revert-[ci]\d+.json, revert-[ci]\d+.json, revert-i1.json
$`,
			after: "10/3/5 100/10/1 7200/75/9 10/3/5",
		},
		{
			// Now every namespace is listed: the ghost's record shows as
			// gone, not as a failure.
			name: "a namespace that cannot be entered, dry run",
			before: func() {
				nstest.Run(t, "touch", "/run/netns/tcpka-uts")
				nstest.Run(t, "mount", "--bind", "/proc/self/ns/uts", "/run/netns/tcpka-uts")
			},
			args: []string{"revert", "--all-netns", "--dry-run"}, code: 1,
			stdout: []string{
				`(?m)^net:\[\d+\] tcpka-a\n  nothing to revert$`,
				`(?m)^/run/netns/tcpka-uts\n  FAILED: /run/netns/tcpka-uts: not a network namespace: it is a uts namespace$`,
				`(?m)^revert record revert-i1.json \(profile ghost, applied .*\)\n  gone: `,
				`(?m)^2 of 5 network namespaces would be reverted \(dry run: nothing written\), 2 had nothing to revert, 1 failed$`,
			},
			stderr: `^tcpka: revert: failed in 1 of 5 network namespaces: /run/netns/tcpka-uts\n$`,
			after:  "10/3/5 100/10/1 7200/75/9 10/3/5",
		},
		{
			// The ghost's record was dropped before anything was written.
			name: "a namespace that cannot be entered", args: []string{"revert", "--all-netns", "--json"}, code: 1,
			stdout: []string{
				`(?s)"dry_run": false,`,
				`(?s)"host": true,\s*"reverted": true,\s*"nothing_to_revert": false,\s*"profile": "fast-failover",\s*"changes": \[\s*\{\s*"key": "net.ipv4.tcp_keepalive_time",\s*"old": 10,\s*"new": 600\s*\}`,
				`(?s)"names": \[\s*"tcpka-a"\s*\],.*?"reverted": false,\s*"nothing_to_revert": true,`,
				`(?s)"failed": \[\s*"/run/netns/tcpka-uts"\s*\],\s*"unreached_records": \[\]`,
			},
			stderr: `^tcpka: revert: failed in 1 of 5 network namespaces: /run/netns/tcpka-uts\n$`,
			after:  start,
		},
		{
			name: "a record that cannot be read",
			before: func() {
				nstest.Run(t, "umount", "/run/netns/tcpka-uts")
				nstest.Run(t, "rm", "/run/netns/tcpka-uts")
				if err := os.WriteFile("/run/tcpka/revert-i2.json", []byte("garbage\n"), 0o600); err != nil {
					t.Fatal(err)
				}
			},
			args: []string{"revert", "--all-netns", "--dry-run"}, code: 1,
			stdout: []string{`(?m)^0 of 4 network namespaces would be reverted \(dry run: nothing written\), 4 had nothing to revert, 0 failed$`},
			stderr: `^tcpka: revert: revert state /run/tcpka/revert-i2.json: invalid character .*\n$`,
			after:  start,
		},
		{
			name:   "nothing left",
			before: func() { nstest.Run(t, "rm", "/run/tcpka/revert-i2.json") },
			args:   []string{"revert", "--all-netns"},
			stdout: []string{`(?m)^0 of 4 network namespaces reverted, 4 had nothing to revert, 0 failed$`},
			stderr: `^$`, after: start,
		},
	} {
		if st.before != nil {
			st.before()
		}
		var out, errOut string
		var code int
		if st.runAs == nil {
			out, errOut, code = tcpkaRun(t, st.args...)
		} else {
			out, errOut, code = tcpkaRunAs(t, st.runAs, st.args...)
		}
		what := st.name + ": tcpka " + strings.Join(st.args, " ")
		if code != st.code {
			t.Errorf("%s: exit %d, want %d\n%s%s", what, code, st.code, out, errOut)
		}
		for _, re := range st.stdout {
			mustMatch(t, what, out, re)
		}
		mustMatch(t, what+" (stderr)", errOut, st.stderr)
		if got := all(); got != st.after {
			t.Fatalf("%s: values %s, want %s", what, got, st.after)
		}
	}

	// --json: one row per namespace; every record was used and forgotten.
	out, _, code := tcpkaRun(t, "revert", "--all-netns", "--json")
	var j struct {
		Namespaces []struct {
			Netns           string `json:"netns"`
			Reverted        bool   `json:"reverted"`
			NothingToRevert bool   `json:"nothing_to_revert"`
		} `json:"namespaces"`
		Failed    []string `json:"failed"`
		Unreached []any    `json:"unreached_records"`
	}
	if err := json.Unmarshal([]byte(out), &j); err != nil || code != 0 {
		t.Fatalf("revert --all-netns --json: exit %d, %v\n%s", code, err, out)
	}
	if len(j.Namespaces) != 4 || len(j.Failed) != 0 || len(j.Unreached) != 0 {
		t.Errorf("revert --all-netns --json after all was reverted: %+v", j)
	}
	for _, n := range j.Namespaces {
		if n.Reverted || !n.NothingToRevert {
			t.Errorf("revert --all-netns --json: %s: reverted %v, nothing_to_revert %v", n.Netns, n.Reverted, n.NothingToRevert)
		}
	}
	left, _ := filepath.Glob("/run/tcpka/revert-*")
	if len(left) > 0 {
		t.Errorf("records left after revert --all-netns: %v", left)
	}
}
