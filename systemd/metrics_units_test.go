// Tests for tcpka-metrics.service and .timer: systemd-analyze verify passes
// with tcpka and its man page installed in a scratch root, and the
// service's ExecStart command line really works.
package systemd_test

import (
	"bytes"
	"compress/gzip"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/tcpka/tcpka/internal/testkit"
	"github.com/tcpka/tcpka/systemd"
)

var metricsUnits = []string{"tcpka-metrics.service", "tcpka-metrics.timer"}

// buildTcpka builds the binary the units start.
func buildTcpka(t *testing.T, path string) {
	t.Helper()
	cmd := exec.Command("go", "build", "-o", path, "github.com/tcpka/tcpka/cmd/tcpka")
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
}

func execStart(t *testing.T) []string {
	t.Helper()
	data, err := os.ReadFile("tcpka-metrics.service")
	if err != nil {
		t.Fatal(err)
	}
	m := regexp.MustCompile(`(?m)^ExecStart=(.*)$`).FindSubmatch(data)
	if m == nil {
		t.Fatal("no ExecStart= in tcpka-metrics.service")
	}
	return strings.Fields(string(m[1]))
}

func TestMetricsUnitsVerify(t *testing.T) {
	testkit.Slow(t, "runs systemd-analyze verify")
	if _, err := exec.LookPath("systemd-analyze"); err != nil {
		t.Skip("systemd-analyze not installed")
	}
	// A scratch root: systemd's own units (for sysinit.target and
	// timers.target), ours, tcpka where ExecStart says, and the man page
	// that Documentation= names.
	root := t.TempDir()
	unitDir := filepath.Join(root, "lib/systemd/system")
	if out, err := exec.Command("mkdir", "-p", filepath.Join(root, "lib/systemd"), filepath.Join(root, "usr/share/man/man8")).CombinedOutput(); err != nil {
		t.Fatalf("%v: %s", err, out)
	}
	if out, err := exec.Command("cp", "-a", "/lib/systemd/system", filepath.Join(root, "lib/systemd/")).CombinedOutput(); err != nil {
		t.Skipf("no systemd unit directory to copy: %v: %s", err, out)
	}
	for _, u := range metricsUnits {
		data, err := os.ReadFile(u)
		if err != nil {
			t.Fatal(err)
		}
		os.WriteFile(filepath.Join(unitDir, u), data, 0o644)
	}
	bin := filepath.Join(root, execStart(t)[0])
	buildTcpka(t, bin)
	man, err := exec.Command(bin, "help", "--man").Output()
	if err != nil {
		t.Fatal(err)
	}
	var gz bytes.Buffer
	zw := gzip.NewWriter(&gz)
	zw.Write(man)
	zw.Close()
	os.WriteFile(filepath.Join(root, "usr/share/man/man8/tcpka.8.gz"), gz.Bytes(), 0o644)

	args := []string{"verify", "--root=" + root}
	for _, u := range metricsUnits {
		args = append(args, filepath.Join(unitDir, u))
	}
	cmd := exec.Command("systemd-analyze", args...)
	cmd.Env = append(os.Environ(), "MANPATH="+filepath.Join(root, "usr/share/man"))
	out, err := cmd.CombinedOutput()
	// verify exits 0 on warnings such as unknown keys: any output fails.
	if err != nil || len(bytes.TrimSpace(out)) > 0 {
		t.Fatalf("systemd-analyze verify: %v\n%s", err, out)
	}
}

// TestMetricsServiceCommand runs the service's ExecStart with its textfile
// directory swapped for a scratch one: the flags exist and tcpka.prom is
// written.
func TestMetricsServiceCommand(t *testing.T) {
	testkit.Slow(t, "runs the unit's command")
	args := execStart(t)
	if len(args) != 4 || args[0] != systemd.BinPath || args[1] != "metrics" || args[2] != "--textfile-dir" {
		t.Fatalf("ExecStart = %q, want %s metrics --textfile-dir DIR", args, systemd.BinPath)
	}
	data, _ := os.ReadFile("tcpka-metrics.service")
	for _, want := range []string{"ConditionPathIsDirectory=" + args[3], "ReadWritePaths=-" + args[3]} {
		if !strings.Contains(string(data), want+"\n") {
			t.Errorf("tcpka-metrics.service lacks %s (same directory as ExecStart)", want)
		}
	}
	if regexp.MustCompile(`(?m)^PrivateNetwork=`).Match(data) {
		t.Error("PrivateNetwork= would make the metrics describe a private netns")
	}
	bin := filepath.Join(t.TempDir(), "tcpka")
	buildTcpka(t, bin)
	dir := t.TempDir()
	if out, err := exec.Command(bin, args[1], args[2], dir).CombinedOutput(); err != nil {
		t.Fatalf("%s: %v\n%s", strings.Join(args, " "), err, out)
	}
	prom, err := os.ReadFile(filepath.Join(dir, "tcpka.prom"))
	if err != nil {
		t.Fatal(err)
	}
	if !regexp.MustCompile(`(?m)^tcpka_dead_peer_detection_seconds [0-9]+$`).Match(prom) {
		t.Errorf("tcpka.prom has no detection time:\n%s", prom)
	}
}
