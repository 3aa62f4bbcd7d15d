package main

import (
	"bytes"
	"context"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"syscall"
	"testing"
	"time"

	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"
	"github.com/tcpka/tcpka/internal/keepalive"
	"github.com/tcpka/tcpka/internal/netns"
	"github.com/tcpka/tcpka/internal/testkit"
)

// TestWatchBadInput: every mistake exits before anything is served, with
// one line on stderr and nothing written.
func TestWatchBadInput(t *testing.T) {
	tree := fakeProc(t, keepalive.Settings{Time: 60, Intvl: 15, Probes: 4})
	bad := filepath.Join(t.TempDir(), "bad.yaml")
	os.WriteFile(bad, []byte("probes: 0\n"), 0o644)
	g := []string{"--proc-root", tree, "--run-dir", t.TempDir()}
	for _, tt := range []struct {
		args []string
		code int
		want string
	}{
		{[]string{"watch"}, 2, "tcpka: watch: needs exactly one PROFILE (usage: tcpka watch PROFILE"},
		{[]string{"watch", bad}, 2, "bad.yaml:1: probes: 0 is out of range: must be 1..127"},
		{[]string{"watch", "nope"}, 2, `tcpka: nope: unknown profile`},
		{[]string{"watch", "ssh", "--interval", "100ms"}, 2, "tcpka: watch: --interval 100ms: must be at least 1s"},
		{[]string{"watch", "ssh", "--interval", "often"}, 2, `tcpka: watch: invalid argument "often" for "--interval" flag`},
		{[]string{"watch", "ssh", "--log-format", "xml"}, 2, `tcpka: watch: --log-format "xml": must be text or json`},
		{[]string{"watch", "ssh", "--listen", "no-port"}, 2, "tcpka: watch: --listen no-port: want HOST:PORT, e.g. 127.0.0.1:9977 or :9977"},
		{[]string{"watch", "ssh", "--health-listen", "127.0.0.1:99999"}, 2, "tcpka: watch: --health-listen 127.0.0.1:99999: the port must be a number from 0 to 65535"},
	} {
		var out, errb bytes.Buffer
		code := run(append(append([]string{}, tt.args...), g...), &out, &errb)
		if code != tt.code || !strings.HasPrefix(errb.String(), "tcpka: ") || strings.Count(errb.String(), "\n") != 1 || !strings.Contains(errb.String(), tt.want) {
			t.Errorf("tcpka %s: exit %d, stderr %q; want exit %d and one line containing %q", strings.Join(tt.args, " "), code, errb.String(), tt.code, tt.want)
		}
		if out.Len() != 0 {
			t.Errorf("tcpka %s: stdout %q, want nothing", strings.Join(tt.args, " "), out.String())
		}
	}
	// Nothing was written to the tree.
	b, _ := os.ReadFile(filepath.Join(tree, "sys/net/ipv4/tcp_keepalive_probes"))
	if string(b) != "4\n" {
		t.Errorf("a refused watch wrote the tree: probes %q", b)
	}
}

// netnsValues reads (or with write, first writes) the sysctls of the netns
// at nsPath through nsenter.
func netnsValues(t *testing.T, nsPath, write string) string {
	t.Helper()
	script := readBack
	if write != "" {
		script = write + "; " + readBack
	}
	out, err := exec.Command("nsenter", "--net="+nsPath, "sh", "-ec", script).CombinedOutput()
	if err != nil {
		t.Fatalf("nsenter: %v: %s", err, out)
	}
	return strings.TrimSpace(string(out))
}

// waitFor polls until read returns want, and says how long it took.
func waitFor(t *testing.T, limit time.Duration, want string, read func() string) (time.Duration, bool) {
	t.Helper()
	start := time.Now()
	ok := testkit.Eventually(limit, func() bool { return read() == want })
	return time.Since(start), ok
}

// netnsClient is an HTTP client whose connections are made inside the
// netns at nsPath (netns.Do: on a locked thread that joined it).
func netnsClient(nsPath string) *http.Client {
	dial := func(ctx context.Context, network, addr string) (net.Conn, error) {
		ns, err := netns.Open(nsPath)
		if err != nil {
			return nil, err
		}
		defer ns.Close()
		var c net.Conn
		err = netns.Do(ns, func() (err error) {
			var d net.Dialer
			c, err = d.DialContext(ctx, network, addr)
			return err
		})
		return c, err
	}
	return &http.Client{Timeout: 5 * time.Second, Transport: &http.Transport{DialContext: dial, DisableKeepAlives: true}}
}

func TestWatchInScratchNetns(t *testing.T) {
	needRoot(t)
	hostGuard(t)
	if _, err := exec.LookPath("nsenter"); err != nil {
		t.Skip("needs nsenter(1) from util-linux")
	}
	if _, err := exec.LookPath("ip"); err != nil {
		t.Skip("needs ip(8) from iproute2 to bring up lo in the scratch netns")
	}
	prof := filepath.Join(t.TempDir(), "fleet.yaml")
	os.WriteFile(prof, []byte("name: fleet\ntime: 123s\ninterval: 45s\nprobes: 6\n"), 0o644)
	const addr = "127.0.0.1:9977" // inside the scratch netns: always free
	const healthAddr = "127.0.0.1:9978"

	run := t.TempDir()
	cmd := exec.Command("unshare", "-n", "sh", "-ec", `ip link set lo up; exec "$TCPKA" watch "$PROFILE" --interval 1s --listen `+addr+` --health-listen `+healthAddr+` --run-dir "$RUN"`)
	cmd.Env = append(os.Environ(), "TCPKA="+tcpkaBinary(t), "RUN="+run, "PROFILE="+prof)
	var stderr testkit.Buffer
	cmd.Stderr = &stderr
	start := time.Now()
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	defer func() {
		cmd.Process.Kill()
		<-exited
	}()
	nsPath := fmt.Sprintf("/proc/%d/ns/net", cmd.Process.Pid)
	self, _ := os.Readlink("/proc/self/ns/net")
	if !testkit.Eventually(5*time.Second, func() bool {
		l, err := os.Readlink(nsPath)
		return err == nil && l != self
	}) {
		t.Fatal("unshare -n made no network namespace")
	}
	// Hold the namespace open, so it outlives watch for the last revert.
	held, err := os.Open(nsPath)
	if err != nil {
		t.Fatal(err)
	}
	defer held.Close()
	nsPath = fmt.Sprintf("/proc/%d/fd/%d", os.Getpid(), held.Fd())

	// Applied within 2 s of the start.
	read := func() string { return netnsValues(t, nsPath, "") }
	if _, ok := waitFor(t, 2*time.Second, "123 45 6", read); !ok {
		t.Fatalf("not applied within 2 s: netns holds %s\n%s", read(), stderr.String())
	}
	t.Logf("applied within %v of the start", time.Since(start))

	// A value written behind its back is restored within 2 s, and logged.
	netnsValues(t, nsPath, "echo 7200 > /proc/sys/net/ipv4/tcp_keepalive_time")
	d, ok := waitFor(t, 2*time.Second, "123 45 6", read)
	if !ok {
		t.Fatalf("drift not corrected within 2 s: netns holds %s\n%s", read(), stderr.String())
	}
	t.Logf("drift corrected after %v", d)
	logged := regexp.MustCompile(`(?m)^time=\S+ level=WARN msg="drift corrected" key=net.ipv4.tcp_keepalive_time from=7200 to=123 profile=fleet$`)
	if !testkit.Eventually(time.Second, func() bool { return logged.MatchString(stderr.String()) }) {
		t.Fatalf("the correction was not logged:\n%s", stderr.String())
	}

	// /metrics parses and counts the correction; /healthz is ok.
	client := netnsClient(nsPath)
	resp, err := client.Get("http://" + addr + "/metrics")
	if err != nil {
		t.Fatalf("GET /metrics: %v", err)
	}
	parser := expfmt.NewTextParser(model.UTF8Validation)
	fams, err := parser.TextToMetricFamilies(resp.Body)
	resp.Body.Close()
	if err != nil {
		t.Fatalf("/metrics does not parse: %v", err)
	}
	corrections := -1.0
	if f := fams["tcpka_watch_corrections_total"]; f != nil && f.GetType() == dto.MetricType_COUNTER {
		for _, m := range f.Metric {
			if len(m.Label) == 1 && m.Label[0].GetValue() == "net.ipv4.tcp_keepalive_time" {
				corrections = m.GetCounter().GetValue()
			}
		}
	}
	if corrections != 1 {
		t.Errorf("tcpka_watch_corrections_total{key=time} = %v, want 1", corrections)
	}
	if f := fams["tcpka_keepalive_time_seconds"]; f == nil || f.Metric[0].GetGauge().GetValue() != 123 {
		t.Errorf("tcpka_keepalive_time_seconds missing or not 123: %v", f)
	}
	resp, err = client.Get("http://" + addr + "/healthz")
	if err != nil {
		t.Fatalf("GET /healthz: %v", err)
	}
	body := new(bytes.Buffer)
	body.ReadFrom(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 200 || body.String() != "ok\n" {
		t.Errorf("/healthz: %d %q, want 200 ok", resp.StatusCode, body.String())
	}

	// A flood of idle connections on --listen (more than it serves at
	// once) does not reach --health-listen: /healthz answers within a
	// kubelet's 1 s probe timeout, and serves nothing else.
	var idle []net.Conn
	for range 100 {
		c, err := netnsClient(nsPath).Transport.(*http.Transport).DialContext(context.Background(), "tcp", addr)
		if err != nil {
			t.Fatalf("idle connection %d: %v", len(idle), err)
		}
		idle = append(idle, c)
	}
	probe := netnsClient(nsPath)
	probe.Timeout = time.Second
	if resp, err := probe.Get("http://" + healthAddr + "/healthz"); err != nil || resp.StatusCode != 200 {
		t.Errorf("--health-listen /healthz under 100 idle connections on --listen: %v %v", resp, err)
	} else {
		resp.Body.Close()
	}
	if resp, err := probe.Get("http://" + healthAddr + "/metrics"); err != nil || resp.StatusCode != 404 {
		t.Errorf("--health-listen /metrics: %v %v, want 404", resp, err)
	} else {
		resp.Body.Close()
	}
	for _, c := range idle {
		c.Close()
	}

	// In the namespace watch keeps: a second watch, and a revert (which
	// watch would undo at its next check), are refused with one line; the
	// record of the original values stays.
	inNetns := func(args ...string) (string, int) {
		c := exec.Command("nsenter", append([]string{"--net=" + nsPath, tcpkaBinary(t)}, append(args, "--run-dir", run)...)...)
		out, err := c.CombinedOutput()
		code := 0
		if ee, ok := err.(*exec.ExitError); ok {
			code = ee.ExitCode()
		}
		return string(out), code
	}
	if out, code := inNetns("watch", prof); code != 1 || !strings.HasPrefix(out, fmt.Sprintf("tcpka: watch: another tcpka watch (pid %d) keeps a profile applied here\n", cmd.Process.Pid)) {
		t.Errorf("a second watch: exit %d %q", code, out)
	}
	if out, code := inNetns("revert"); code != 1 || strings.Count(out, "\n") != 1 ||
		!strings.Contains(out, fmt.Sprintf("tcpka: revert: tcpka watch (pid %d) keeps a profile applied in this network namespace and would undo the revert: stop it first", cmd.Process.Pid)) {
		t.Errorf("revert while watch runs: exit %d %q", code, out)
	}
	if got := read(); got != "123 45 6" {
		t.Errorf("a refused revert changed the values: %s", got)
	}

	// SIGHUP: the edited profile is applied at once; a bad edit keeps the
	// last good profile and turns /healthz to 503 with the reason.
	os.WriteFile(prof, []byte("name: fleet\ntime: 60s\ninterval: 15s\nprobes: 4\n"), 0o644)
	cmd.Process.Signal(syscall.SIGHUP)
	if _, ok := waitFor(t, 2*time.Second, "60 15 4", read); !ok {
		t.Fatalf("SIGHUP did not apply the edited profile: %s\n%s", read(), stderr.String())
	}
	os.WriteFile(prof, []byte("name: fleet\ntime: 60s\ninterval: 15s\nprobes: 0\n"), 0o644)
	cmd.Process.Signal(syscall.SIGHUP)
	health := func() string {
		resp, err := client.Get("http://" + addr + "/healthz")
		if err != nil {
			return err.Error()
		}
		defer resp.Body.Close()
		b := new(bytes.Buffer)
		b.ReadFrom(resp.Body)
		return fmt.Sprintf("%d %s", resp.StatusCode, b.String())
	}
	if got, ok := waitFor(t, 2*time.Second, "", func() string {
		if h := health(); strings.HasPrefix(h, "503 ") && strings.Contains(h, "probes: 0 is out of range") && strings.Contains(h, "keeping profile fleet") {
			return ""
		}
		return health()
	}); !ok {
		t.Errorf("/healthz after a bad edit: %v %s", got, health())
	}
	if got := read(); got != "60 15 4" {
		t.Errorf("a bad edit changed the values: %s", got)
	}

	// SIGTERM: exit 0 in under a second.
	t0 := time.Now()
	cmd.Process.Signal(syscall.SIGTERM)
	select {
	case err := <-exited:
		exited <- err // for the deferred Kill/wait
		took := time.Since(t0)
		t.Logf("exited %v after SIGTERM", took)
		if err != nil {
			t.Errorf("after SIGTERM: %v, want exit 0\n%s", err, stderr.String())
		}
		if took >= time.Second {
			t.Errorf("took %v to exit after SIGTERM, want < 1 s", took)
		}
	case <-time.After(3 * time.Second):
		t.Fatalf("still running 3 s after SIGTERM\n%s", stderr.String())
	}
	if !strings.Contains(stderr.String(), `msg=stopping reason=signal`) {
		t.Errorf("no stopping line in the log:\n%s", stderr.String())
	}
	// With watch gone, revert restores what the namespace held first.
	if out, code := inNetns("revert"); code != 0 || !strings.Contains(out, "reverted: 3 keys restored") {
		t.Errorf("revert after watch stopped: exit %d %q", code, out)
	}
	if got := read(); got != "7200 75 9" {
		t.Errorf("after revert: %s, want the defaults", got)
	}
}

// TestWatchMetricsAreTcpkaMetrics: watch's /metrics and `tcpka metrics`
// come from one snapshot builder; for the same namespace and profile they
// are the same text, watch's own series (tcpka_watch_*) aside.
func TestWatchMetricsAreTcpkaMetrics(t *testing.T) {
	tree := fakeProc(t, keepalive.Settings{Time: 600, Intvl: 60, Probes: 6})
	w := startWatch(t, "ssh", "--proc-root", tree, "--run-dir", t.TempDir(), "--listen", "127.0.0.1:0", "--interval", "1h")
	listen := regexp.MustCompile(`msg=watching .*listen=(\S+)`)
	var addr string
	if !testkit.Eventually(5*time.Second, func() bool {
		if m := listen.FindStringSubmatch(w.stderr.String()); m != nil {
			addr = m[1]
		}
		return addr != ""
	}) {
		t.Fatalf("watch did not say where it listens:\n%s", w.stderr.String())
	}
	resp, err := http.Get("http://" + addr + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	var served bytes.Buffer
	served.ReadFrom(resp.Body)
	resp.Body.Close()
	w.stop(t)

	printed, errs, code := tcpkaRun(t, "metrics", "--proc-root", tree, "--profile", "ssh")
	if code != 0 {
		t.Fatalf("tcpka metrics: exit %d: %s", code, errs)
	}
	// The build's stamp aside too: watch runs the built binary, which go
	// build stamps with its commit (unless -buildvcs=false), and metrics
	// runs in this test binary, which has none.
	stamp := regexp.MustCompile(`(revision|version)="[^"]*"`)
	withoutWatch := func(s string) string {
		var keep []string
		for _, l := range strings.Split(s, "\n") {
			if !strings.Contains(l, "tcpka_watch_") {
				keep = append(keep, stamp.ReplaceAllString(l, `$1="V"`))
			}
		}
		return strings.Join(keep, "\n")
	}
	if !strings.Contains(served.String(), "tcpka_watch_corrections_total") {
		t.Fatalf("/metrics has no watch series:\n%s", served.String())
	}
	if got, want := withoutWatch(served.String()), withoutWatch(printed); got != want {
		t.Errorf("watch /metrics differs from tcpka metrics beyond watch's own series:\n/metrics:\n%s\ntcpka metrics:\n%s", got, want)
	}
}
