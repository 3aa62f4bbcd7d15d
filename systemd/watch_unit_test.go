// Tests for tcpka-watch.service: systemd-analyze verify passes with tcpka
// installed in a scratch root, and its ExecStart command line really runs
// (in a scratch network namespace) and stops cleanly on SIGTERM.
package systemd_test

import (
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/tcpka/tcpka/internal/testkit"
	"github.com/tcpka/tcpka/systemd"
)

const watchUnit = "tcpka-watch.service"

func watchExecStart(t *testing.T) []string {
	t.Helper()
	data, err := os.ReadFile(watchUnit)
	if err != nil {
		t.Fatal(err)
	}
	m := regexp.MustCompile(`(?m)^ExecStart=(.*)$`).FindAllSubmatch(data, -1)
	if len(m) != 1 {
		t.Fatalf("%d ExecStart= lines in %s, want 1", len(m), watchUnit)
	}
	return strings.Fields(string(m[0][1]))
}

func buildTcpkaAt(t *testing.T, path string) {
	t.Helper()
	cmd := exec.Command("go", "build", "-o", path, "github.com/tcpka/tcpka/cmd/tcpka")
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
}

func TestWatchUnitVerifies(t *testing.T) {
	testkit.Slow(t, "runs systemd-analyze verify")
	if _, err := exec.LookPath("systemd-analyze"); err != nil {
		t.Skip("systemd-analyze not installed")
	}
	root := t.TempDir()
	unitDir := filepath.Join(root, "lib/systemd/system")
	os.MkdirAll(filepath.Join(root, "lib/systemd"), 0o755)
	if out, err := exec.Command("cp", "-a", "/lib/systemd/system", filepath.Join(root, "lib/systemd/")).CombinedOutput(); err != nil {
		t.Skipf("no systemd unit directory to copy: %v: %s", err, out)
	}
	data, err := os.ReadFile(watchUnit)
	if err != nil {
		t.Fatal(err)
	}
	os.WriteFile(filepath.Join(unitDir, watchUnit), data, 0o644)
	buildTcpkaAt(t, filepath.Join(root, watchExecStart(t)[0]))
	out, err := exec.Command("systemd-analyze", "verify", "--root="+root, filepath.Join(unitDir, watchUnit)).CombinedOutput()
	if err != nil || len(bytes.TrimSpace(out)) != 0 {
		t.Errorf("systemd-analyze verify %s: %v\n%s", watchUnit, err, out)
	}
}

// TestWatchUnitExecStart runs the unit's ExecStart with the binary and
// profile paths swapped for scratch ones, in a scratch netns, as systemd
// would, then stops it the way systemd does.
func TestWatchUnitExecStart(t *testing.T) {
	testkit.Slow(t, "runs the unit's ExecStart")
	testkit.NeedRoot(t, "tcpka watch writes sysctls, here in a scratch netns (unshare -n)")
	for _, tool := range []string{"unshare", "ip"} {
		if _, err := exec.LookPath(tool); err != nil {
			t.Skipf("needs %s", tool)
		}
	}
	dir := t.TempDir()
	bin := filepath.Join(dir, "tcpka")
	buildTcpkaAt(t, bin)
	prof := filepath.Join(dir, "profile.yaml")
	os.WriteFile(prof, []byte("time: 600s\ninterval: 60s\nprobes: 5\n"), 0o644)
	args := watchExecStart(t)
	if args[0] != systemd.BinPath || args[1] != "watch" || args[2] != "/etc/tcpka/profile.yaml" {
		t.Fatalf("ExecStart=%s: want %s watch /etc/tcpka/profile.yaml ...", strings.Join(args, " "), systemd.BinPath)
	}
	args[0], args[2] = bin, prof
	args = append(args, "--run-dir", t.TempDir())
	cmd := exec.Command("unshare", "-n", "sh", "-ec", `ip link set lo up; exec "$@"`, "sh")
	cmd.Args = append(cmd.Args, args...)
	var stderr testkit.Buffer
	cmd.Stderr = &stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	if !testkit.Eventually(5*time.Second, func() bool { return strings.Contains(stderr.String(), "msg=watching") }) {
		cmd.Process.Kill()
		<-exited
		t.Fatalf("ExecStart did not start watching:\n%s", stderr.String())
	}
	if !strings.Contains(stderr.String(), "listen=127.0.0.1:9977") {
		t.Errorf("not listening where the unit says:\n%s", stderr.String())
	}
	cmd.Process.Signal(syscall.SIGTERM)
	select {
	case err := <-exited:
		if err != nil {
			t.Errorf("after SIGTERM: %v\n%s", err, stderr.String())
		}
	case <-time.After(5 * time.Second): // TimeoutStopSec=5s
		cmd.Process.Kill()
		t.Fatalf("still running after TimeoutStopSec\n%s", stderr.String())
	}
}
