package main

import (
	"bytes"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/tcpka/tcpka/internal/keepalive"
	"github.com/tcpka/tcpka/internal/sysctl"
)

// TestExitCodes runs the CLI in-process through every row of the one exit
// table (main.go) for the commands that have it: 0 ok, 1 drift, a missed
// goal or a change that failed, 2 usage or invalid input, 3 could not
// determine. A failure is exactly one line on stderr and nothing on stdout;
// drift and a missed goal are the report on stdout, nothing on stderr.
// Nothing here writes a real sysctl: every tree is a fake one.
func TestExitCodes(t *testing.T) {
	tree := fakeProc(t, keepalive.Settings{Time: 60, Intvl: 13, Probes: 4, Retries2: 8}) // profile ssh
	defaults := fakeProc(t, keepalive.Settings{})                                        // 7200/75/9
	empty := t.TempDir()                                                                 // no sysctls: unreadable
	bad := "testdata/exit/bad.yaml"
	missing := filepath.Join(t.TempDir(), "missing.yaml")
	existing := filepath.Join(t.TempDir(), "existing.yaml")
	if err := os.WriteFile(existing, []byte("time: 1m\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	// A state directory others may write: apply refuses before any write.
	unsafeRun := t.TempDir()
	if err := os.Mkdir(filepath.Join(unsafeRun, "tcpka"), 0o777); err != nil {
		t.Fatal(err)
	}
	os.Chmod(filepath.Join(unsafeRun, "tcpka"), 0o777)
	noInstall := t.TempDir()
	putty := "../../internal/sshcfg/testdata/putty/"
	sshBins := func(ssh string) []string { return []string{"--ssh-bin", ssh, "--sshd-bin", "/nonexistent/sshd"} }

	const (
		quiet  = iota // exit 0: whatever stdout says, nothing on stderr
		report        // exit 1: the report on stdout, nothing on stderr
		line          // one line "tcpka: ..." on stderr, nothing on stdout
	)
	tests := []struct {
		args   []string
		code   int
		output int
		want   string // in stderr for line, in stdout otherwise
	}{
		// show
		{[]string{"show", "--proc-root", tree}, exitOK, quiet, "dead peer detected after 112 s"},
		{[]string{"show", "extra", "--proc-root", tree}, exitUsage, line, "takes no arguments"},
		{[]string{"show", "--nope", "--proc-root", tree}, exitUsage, line, "unknown flag: --nope"},
		{[]string{"show", "--netns", "pid:abc", "--proc-root", tree}, exitUsage, line, "bad network namespace"},
		{[]string{"show", "--netns", t.TempDir(), "--proc-root", tree}, exitUsage, line, "not a network namespace"},
		{[]string{"show", "--proc-root", empty}, exitUnknown, line, "no such sysctl"},
		{[]string{"show", "--netns", missing, "--proc-root", tree}, exitUsage, line, "no such network namespace"},
		// check: drift is 1, a mistyped name is not drift
		{[]string{"check", "ssh", "--proc-root", tree}, exitOK, quiet, "kernel matches profile ssh"},
		{[]string{"check", "aws-nlb", "--proc-root", tree}, exitFailure, report, "drift: 3 of 3 keys differ"},
		{[]string{"check", "aws-nlb", "--json", "--proc-root", tree}, exitFailure, report, `"match": false`},
		{[]string{"check", "shh", "--proc-root", tree}, exitUsage, line, "shh: unknown profile"},
		{[]string{"check", bad, "--proc-root", tree}, exitUsage, line, "probes: 0 is out of range"},
		{[]string{"check", missing, "--proc-root", tree}, exitUsage, line, "missing.yaml: no such file"},
		{[]string{"check", "--proc-root", tree}, exitUsage, line, "needs exactly one PROFILE"},
		{[]string{"check", "ssh", "--proc-root", empty}, exitUnknown, line, "no such sysctl"},
		{[]string{"check", "ssh", "--netns", missing, "--proc-root", tree}, exitUsage, line, "no such network namespace"},
		// apply: a refused change writes nothing
		{[]string{"apply", "aws-nlb", "--dry-run", "--proc-root", tree, "--run-dir", t.TempDir()}, exitOK, quiet, "dry run: 3 keys would change"},
		{[]string{"apply", "aws-nlb", "--proc-root", tree, "--run-dir", unsafeRun}, exitFailure, line, "unsafe state"},
		{[]string{"apply", "nope", "--proc-root", tree, "--run-dir", t.TempDir()}, exitUsage, line, "nope: unknown profile"},
		{[]string{"apply", bad, "--proc-root", tree, "--run-dir", t.TempDir()}, exitUsage, line, "probes: 0 is out of range"},
		{[]string{"apply", "--proc-root", tree}, exitUsage, line, "needs exactly one PROFILE"},
		{[]string{"apply", "ssh", "aws-nlb", "--proc-root", tree}, exitUsage, line, "needs exactly one PROFILE"},
		{[]string{"apply", "ssh", "--proc-root", empty, "--run-dir", t.TempDir()}, exitUnknown, line, "no such sysctl"},
		// plan reads nothing: no 3
		{[]string{"plan", "--idle-timeout", "4m"}, exitOK, quiet, "tcp_keepalive_time"},
		{[]string{"plan", "--idle-timeout", "4m", "-o", existing}, exitFailure, line, "file exists: add --force to replace it"},
		{[]string{"plan", "--idle-timeout", "10s"}, exitUsage, line, "impossible ask"},
		{[]string{"plan", "--path", "nowhere"}, exitUsage, line, "unknown path"},
		{[]string{"plan", "--idle-timeout", "soon"}, exitUsage, line, "not a duration"},
		{[]string{"plan", "--idle-timeout", "4m", "--force"}, exitUsage, line, "--force goes with -o FILE"},
		// ssh: a side that misses the goal is 1
		{append([]string{"ssh", "myhost", "--proc-root", tree}, sshBins("testdata/exit/ssh-plain")...), exitOK, quiet, "verdict: meets the goal through the kernel values"},
		{append([]string{"ssh", "myhost", "--proc-root", defaults}, sshBins("testdata/exit/ssh-plain")...), exitFailure, report, "verdict: misses the goal"},
		{append([]string{"ssh", "myhost", "--json", "--proc-root", defaults}, sshBins("testdata/exit/ssh-plain")...), exitFailure, report, `"idle_path": "dropped"`},
		{[]string{"ssh", "--putty", "testdata/exit/putty", "--proc-root", tree}, exitOK, quiet, "every session keeps the 4m path open"},
		{[]string{"ssh", "--putty", putty + "sessions.reg", "--proc-root", tree}, exitFailure, report, "misses the goal: the session does not keep the path open"},
		{append([]string{"ssh", "--idle-timeout", "soon", "--proc-root", tree}, sshBins("testdata/exit/ssh-plain")...), exitUsage, line, "not a duration"},
		{append([]string{"ssh", "--idle-timeout", "8s", "--proc-root", tree}, sshBins("testdata/exit/ssh-plain")...), exitUsage, line, "impossible ask"},
		{append([]string{"ssh", "myhost", "--ssh-config", missing, "--proc-root", tree}, sshBins("testdata/exit/ssh-plain")...), exitUsage, line, "--ssh-config " + missing + ": no such file"},
		{[]string{"ssh", "--putty", missing, "--proc-root", tree}, exitUsage, line, "no such file or directory"},
		{[]string{"ssh", "--putty", putty + "bad/baddword.reg", "--proc-root", tree}, exitUsage, line, "malformed dword"},
		{append([]string{"ssh", "myhost", "--proc-root", empty}, sshBins("testdata/exit/ssh-plain")...), exitUnknown, line, "no such sysctl"},
		{append([]string{"ssh", "myhost", "--proc-root", tree}, sshBins("testdata/exit/ssh-broken")...), exitUnknown, line, "Bad configuration option"},
		{[]string{"ssh", "--putty", "/proc/self/mem", "--proc-root", tree}, exitUnknown, line, "input/output error"},
		// measure: bad input is refused before anything is created
		{[]string{"measure", "--proc-root", tree}, exitUsage, line, "needs exactly one PROFILE"},
		{[]string{"measure", "ssh", "--timeout", "0s", "--proc-root", tree}, exitUsage, line, "--timeout must be positive"},
		{[]string{"measure", "nope", "--proc-root", tree}, exitUsage, line, "nope: unknown profile"},
		{[]string{"measure", bad, "--proc-root", tree}, exitUsage, line, "probes: 0 is out of range"},
		{[]string{"measure", "kernel-default", "--proc-root", tree}, exitUsage, line, "exceeds --timeout"},
		{[]string{"measure", "ssh", "--nat-timeout", "1s", "--proc-root", tree}, exitUsage, line, "--nat-timeout must be whole seconds"},
		{[]string{"measure", "ssh", "--proc-root", empty}, exitUnknown, line, "no such sysctl"},
		// metrics: only the default installed profile may be absent
		{[]string{"metrics", "--proc-root", tree, "--root", noInstall}, exitOK, quiet, "tcpka_profile_installed 0"},
		{[]string{"metrics", "--proc-root", tree, "--profile", "ssh"}, exitOK, quiet, `tcpka_profile_drift{profile="ssh"} 0`},
		{[]string{"metrics", "--proc-root", tree, "--profile", missing}, exitUsage, line, "--profile " + missing + ": no such file"},
		{[]string{"metrics", "--proc-root", tree, "--profile", "nope"}, exitUsage, line, "--profile nope: unknown profile"},
		{[]string{"metrics", "--proc-root", tree, "--profile", bad}, exitUsage, line, "probes: 0 is out of range"},
		{[]string{"metrics", "--proc-root", tree, "--root", noInstall, "--textfile-dir", missing}, exitUsage, line, "no such file or directory"},
		{[]string{"metrics", "extra"}, exitUsage, line, "takes no arguments"},
		{[]string{"metrics", "--proc-root", empty, "--root", noInstall}, exitUnknown, line, "no such sysctl"},
		// enforce: a process or cgroup that does not exist is bad input
		{[]string{"enforce", "ssh", "--pid", "99999999"}, exitUsage, line, "--pid 99999999: no such process"},
		{[]string{"enforce", "ssh", "--cgroup", missing}, exitUsage, line, "--cgroup " + missing + ": no such directory"},
		{[]string{"enforce", "ssh", "--pid", "0"}, exitUsage, line, "--pid 0: not a process id"},
		// sockets: --kill only with --dying, --dry-run only with --kill
		{[]string{"sockets", "--kill"}, exitUsage, line, "--kill goes with --dying"},
		{[]string{"sockets", "--dying", "--dry-run"}, exitUsage, line, "--dry-run goes with --kill"},
		{[]string{"sockets", "--dying", "--kill", "--summary"}, exitUsage, line, "not with --summary"},
		{[]string{"sockets", "--pid", "99999999"}, exitUsage, line, "--pid 99999999: no such process"},
		{[]string{"sockets", "--port", "70000"}, exitUsage, line, "--port 70000"},
		// render reads no kernel: 0 or 2
		{[]string{"render", "ssh"}, exitOK, quiet, "net.ipv4.tcp_keepalive_time = 60"},
		{[]string{"render", "nope"}, exitUsage, line, "nope: unknown profile"},
		{[]string{"render", bad}, exitUsage, line, "probes: 0 is out of range"},
		{[]string{"render", missing}, exitUsage, line, "no such file"},
		{[]string{"render", "ssh", "--format", "yaml"}, exitUsage, line, `--format "yaml"`},
		{[]string{"render", "ssh", "--format", "unit", "--unit", "a/b"}, exitUsage, line, "not a service or scope name"},
		// no command, an unknown one
		{[]string{"nope"}, exitUsage, line, `unknown command "nope"`},
		{[]string{"help", "nope"}, exitUsage, line, `unknown command "nope"`},
	}
	for _, tt := range tests {
		var out, errb bytes.Buffer
		name := "tcpka " + strings.Join(tt.args, " ")
		code := run(tt.args, &out, &errb)
		if code != tt.code {
			t.Errorf("%s: exit %d, want %d (stderr %q)", name, code, tt.code, errb.String())
			continue
		}
		switch tt.output {
		case line:
			if n := strings.Count(errb.String(), "\n"); n != 1 || !strings.HasPrefix(errb.String(), "tcpka: ") || !strings.Contains(errb.String(), tt.want) {
				t.Errorf("%s: stderr %q, want one line starting 'tcpka: ' with %q", name, errb.String(), tt.want)
			}
			if out.Len() != 0 {
				t.Errorf("%s: stdout %q, want nothing", name, out.String())
			}
		default:
			if errb.Len() != 0 {
				t.Errorf("%s: stderr %q, want nothing", name, errb.String())
			}
			if !strings.Contains(out.String(), tt.want) {
				t.Errorf("%s: stdout lacks %q:\n%s", name, tt.want, out.String())
			}
		}
	}
	// Nothing above changed the tree it read.
	if v, err := sysctl.NewFS(tree).Read(); err != nil || v != (keepalive.Settings{Time: 60, Intvl: 13, Probes: 4, Retries2: 8}) {
		t.Errorf("the tree holds %+v (%v), want the ssh profile's values as they were", v, err)
	}
	if b, _ := os.ReadFile(existing); string(b) != "time: 1m\n" {
		t.Errorf("plan -o without --force changed %s: %q", existing, b)
	}
}

// fakeProc writes a proc tree holding v under t.TempDir() for --proc-root;
// fields v leaves zero hold the kernel defaults.
func fakeProc(t *testing.T, v keepalive.Settings) string {
	t.Helper()
	tree := t.TempDir()
	fs := sysctl.NewFS(tree)
	v = v.Over(keepalive.KernelDefaults) // a kernel has every key
	for _, k := range sysctl.Keys() {
		if err := os.MkdirAll(filepath.Dir(fs.Path(k)), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(fs.Path(k), []byte(strconv.Itoa(k.Get(v))+"\n"), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return tree
}

func TestPrintable(t *testing.T) {
	for in, want := range map[string]string{
		"/sys/fs/cgroup/system.slice/app.service": "/sys/fs/cgroup/system.slice/app.service",
		"evil\x1b[2J": `"evil\x1b[2J"`,
		"two\nlines":  `"two\nlines"`,
		"bad\xffutf8": `"bad\xffutf8"`,
		"café":        "café",
	} {
		if got := printable(in); got != want {
			t.Errorf("printable(%q) = %s, want %s", in, got, want)
		}
	}
}
