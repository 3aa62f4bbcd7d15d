package main

import (
	"bytes"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"

	"github.com/tcpka/tcpka/internal/keepalive"
	"github.com/tcpka/tcpka/internal/profile"
	"github.com/tcpka/tcpka/internal/sysctl"
	"github.com/tcpka/tcpka/internal/testkit"
)

// These tests run the built binary the way a user does. Every one that can
// write runs it inside `unshare -n` (a scratch network namespace), so the
// host's sysctls are never touched; hostGuard checks that too.

var (
	buildOnce sync.Once
	builtBin  string
	buildErr  error
)

// tcpkaBinary builds tcpka (static, like a release) into a world-readable
// directory, so it can also be run as an unprivileged user.
func tcpkaBinary(t *testing.T) string {
	t.Helper()
	testkit.Slow(t, "builds the tcpka binary")
	buildOnce.Do(func() {
		dir, err := os.MkdirTemp("", "tcpka-bin-")
		if err != nil {
			buildErr = err
			return
		}
		os.Chmod(dir, 0o755)
		builtBin = filepath.Join(dir, "tcpka")
		cmd := exec.Command("go", "build", "-o", builtBin, ".")
		cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
		if out, err := cmd.CombinedOutput(); err != nil {
			buildErr = fmt.Errorf("go build: %v\n%s", err, out)
		}
	})
	if buildErr != nil {
		t.Fatal(buildErr)
	}
	return builtBin
}

// needRoot skips unless the test can make scratch namespaces.
func needRoot(t *testing.T) {
	t.Helper()
	testkit.NeedRoot(t, "writes sysctls inside a scratch network namespace (unshare -n)")
	if _, err := exec.LookPath("unshare"); err != nil {
		t.Skip("needs unshare(1) from util-linux")
	}
}

// hostGuard fails the test if the host's three values changed under it.
func hostGuard(t *testing.T) {
	t.Helper()
	before, err := sysctl.NewFS("/proc").Read()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		after, err := sysctl.NewFS("/proc").Read()
		if err != nil || after != before {
			t.Errorf("host keepalive sysctls changed: %+v -> %+v (%v)", before, after, err)
		}
	})
}

// inScratchNetns runs a shell script under `unshare [extra] -n`, with
// $TCPKA set to the binary and $RUN to a scratch run dir.
func inScratchNetns(t *testing.T, script string, extra ...string) (stdout, stderr string, err error) {
	t.Helper()
	args := append(append([]string{}, extra...), "-n", "sh", "-ec", script)
	cmd := exec.Command("unshare", args...)
	cmd.Env = append(os.Environ(), "TCPKA="+tcpkaBinary(t), "RUN="+t.TempDir())
	var o, e bytes.Buffer
	cmd.Stdout, cmd.Stderr = &o, &e
	err = cmd.Run()
	return o.String(), e.String(), err
}

const readBack = `cat /proc/sys/net/ipv4/tcp_keepalive_time /proc/sys/net/ipv4/tcp_keepalive_intvl /proc/sys/net/ipv4/tcp_keepalive_probes | tr '\n' ' '`

func TestApplyShippedProfilesInScratchNetns(t *testing.T) {
	needRoot(t)
	hostGuard(t)
	for _, name := range profile.ShippedNames() {
		t.Run(name, func(t *testing.T) {
			p, err := profile.Shipped(name)
			if err != nil {
				t.Fatal(err)
			}
			want := p.Settings.Over(keepalive.KernelDefaults).Keepalive()
			// Start from values no shipped profile uses, so every key changes.
			out, stderr, err := inScratchNetns(t, `
				echo 111 > /proc/sys/net/ipv4/tcp_keepalive_time
				"$TCPKA" apply `+name+` --run-dir "$RUN" >/dev/null
				`+readBack+`
				"$TCPKA" check `+name+` >/dev/null && echo check-ok`)
			if err != nil {
				t.Fatalf("%v: %s", err, stderr)
			}
			wantOut := fmt.Sprintf("%d %d %d check-ok\n", want.Time, want.Intvl, want.Probes)
			if out != wantOut {
				t.Errorf("/proc/sys after apply: %q, want %q", out, wantOut)
			}
		})
	}
}

// TestApplyRollsBackOnTheRealKernel makes the last key unwritable with a
// read-only bind mount (in a private mount namespace), so the kernel really
// refuses the write: the two keys already written must be restored.
func TestApplyRollsBackOnTheRealKernel(t *testing.T) {
	needRoot(t)
	hostGuard(t)
	out, stderr, err := inScratchNetns(t, `
		p=/proc/sys/net/ipv4/tcp_keepalive_probes
		cp $p "$RUN/probes"
		mount --bind "$RUN/probes" $p
		mount -o remount,bind,ro $p
		"$TCPKA" apply ssh --run-dir "$RUN" >/dev/null || echo "exit $?"
		`+readBack, "-m")
	if err != nil {
		t.Fatalf("%v: %s", err, stderr)
	}
	// A change that failed and was rolled back: exit 1.
	if out != "exit 1\n7200 75 9 " {
		t.Errorf("after a failed apply: %q, want exit 1 and the old values 7200 75 9", out)
	}
	for _, want := range []string{"tcpka: apply: /proc/sys is mounted read-only", "tcp_keepalive_probes", "rolled back: the keys already written were restored"} {
		if !strings.Contains(stderr, want) {
			t.Errorf("stderr %q lacks %q", stderr, want)
		}
	}
	if n := strings.Count(stderr, "\n"); n != 1 {
		t.Errorf("stderr has %d lines, want 1: %q", n, stderr)
	}
}

func TestApplyReadOnlyProcSys(t *testing.T) {
	needRoot(t)
	hostGuard(t)
	out, stderr, err := inScratchNetns(t, `
		mount --bind /proc/sys /proc/sys
		mount -o remount,bind,ro /proc/sys
		"$TCPKA" apply ssh --run-dir "$RUN" || echo "exit $?"
		`+readBack, "-m")
	if err != nil {
		t.Fatalf("%v: %s", err, stderr)
	}
	// Nothing written: exit 1, as for any change that failed.
	if out != "exit 1\n7200 75 9 " {
		t.Errorf("stdout %q: want nothing from apply but exit 1, and the old values", out)
	}
	want := "tcpka: apply: /proc/sys is mounted read-only (as in most containers): run tcpka on the host, or give the container a writable /proc/sys"
	if !strings.HasPrefix(stderr, want) || strings.Count(stderr, "\n") != 1 {
		t.Errorf("stderr %q, want one line starting %q", stderr, want)
	}
}

// TestApplyNotRoot runs the binary as nobody: apply is refused before any
// write with the sudo hint, while show and --dry-run work unprivileged.
func TestApplyNotRoot(t *testing.T) {
	needRoot(t) // to switch to nobody
	hostGuard(t)
	bin := tcpkaBinary(t)
	asNobody := func(args ...string) (string, string, int) {
		cmd := exec.Command(bin, args...)
		cmd.SysProcAttr = &syscall.SysProcAttr{Credential: &syscall.Credential{Uid: 65534, Gid: 65534}}
		cmd.Dir = "/"
		var o, e bytes.Buffer
		cmd.Stdout, cmd.Stderr = &o, &e
		err := cmd.Run()
		code := 0
		if ee, ok := err.(*exec.ExitError); ok {
			code = ee.ExitCode()
		} else if err != nil {
			t.Fatal(err)
		}
		return o.String(), e.String(), code
	}
	for _, args := range [][]string{{"apply", "ssh"}, {"revert"}} {
		out, stderr, code := asNobody(args...)
		want := "tcpka: " + args[0] + " needs root (CAP_NET_ADMIN): run it with sudo\n"
		if code != 1 || stderr != want || out != "" {
			t.Errorf("as nobody, tcpka %s: exit %d, stdout %q, stderr %q; want exit 1 and %q", args[0], code, out, stderr, want)
		}
	}
	if out, stderr, code := asNobody("apply", "ssh", "--dry-run"); code != 0 || !strings.Contains(out, "dry run:") {
		t.Errorf("as nobody, apply --dry-run: exit %d, %q %q", code, out, stderr)
	}
	if out, _, code := asNobody("show"); code != 0 || !strings.Contains(out, "dead peer detected after") {
		t.Errorf("as nobody, show: exit %d, %q", code, out)
	}
}

// TestConcurrentAppliesAreSerialised runs many applies of two profiles at
// once in one netns: every one must succeed and the result must be one
// profile whole, never a mix of the two.
func TestConcurrentAppliesAreSerialised(t *testing.T) {
	needRoot(t)
	hostGuard(t)
	out, stderr, err := inScratchNetns(t, `
		for i in 1 2 3 4 5 6 7 8; do
			"$TCPKA" apply ssh --run-dir "$RUN" >/dev/null &
			"$TCPKA" apply aws-nlb --run-dir "$RUN" >/dev/null &
		done
		wait
		`+readBack)
	if err != nil {
		t.Fatalf("%v: %s", err, stderr)
	}
	if out != "60 13 4 " && out != "300 30 5 " {
		t.Errorf("after concurrent applies the netns holds %q: a mix of ssh (60 13 4) and aws-nlb (300 30 5)", out)
	}
	if stderr != "" {
		t.Errorf("an apply failed: %s", stderr)
	}
}

// TestStateNoOneElseCanSteer: a state directory someone else made holds a
// forged revert record (and could hold a planted symlink); root refuses it
// with one line that names it, and writes nothing.
func TestStateNoOneElseCanSteer(t *testing.T) {
	testkit.NeedRoot(t, "gives the state directory to another user")
	tree := fakeProc(t, keepalive.Settings{Time: 60, Intvl: 15, Probes: 4})
	run := t.TempDir()
	state := filepath.Join(run, "tcpka")
	os.Mkdir(state, 0o700)
	forged := `{"netns":{},"before":{"tcp_keepalive_time":1,"tcp_keepalive_intvl":1,"tcp_keepalive_probes":1},"profile":"forged","at":"2026-01-01T00:00:00Z"}`
	os.WriteFile(filepath.Join(state, "revert-default.json"), []byte(forged+"\n"), 0o600)
	os.Chown(filepath.Join(state, "revert-default.json"), 65534, 65534)
	os.Chown(state, 65534, 65534)
	for _, args := range [][]string{{"revert"}, {"apply", "aws-nlb"}} {
		_, errs, code := tcpkaRun(t, append(args, "--proc-root", tree, "--run-dir", run)...)
		want := state + ": unsafe state: owned by uid 65534, not 0"
		if code != 1 || strings.Count(errs, "\n") != 1 || !strings.Contains(errs, want) {
			t.Errorf("tcpka %s with a state dir owned by nobody: exit %d %q, want one line with %q", args[0], code, errs, want)
		}
	}
	if v, _ := sysctl.NewFS(tree).Read(); v != (keepalive.Settings{Time: 60, Intvl: 15, Probes: 4, Retries2: 15}) {
		t.Errorf("values changed through a foreign state dir: %+v", v)
	}
	// Given back to root, but the record still someone else's: refused.
	os.Chown(state, 0, 0)
	if _, errs, code := tcpkaRun(t, "revert", "--proc-root", tree, "--run-dir", run); code != 1 || !strings.Contains(errs, "revert-default.json: unsafe state: owned by uid 65534") {
		t.Errorf("a forged record in root's dir: exit %d %q", code, errs)
	}
}
