package prometheus

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/tcpka/tcpka/internal/nstest"
	"github.com/tcpka/tcpka/internal/testkit"
)

// Addresses inside the test's own network namespace, where nothing else
// listens.
const (
	promAddr   = "127.0.0.1:9090"
	watchAddr  = "127.0.0.1:9977"
	healthAddr = "127.0.0.1:9978"
	nodeAddr   = "127.0.0.1:9100"
	stalePort  = 7001 // a connection armed before the profile changed
	dyingPort  = 7002 // a connection whose peer is silenced
	offPort    = 7003 // connections without keepalive
	trackPort  = 7004 // a connection conntrack tracks
)

// The profile watch keeps (10 + 3 x 5 = 25 s), and another one tcpka
// metrics is pointed at to show drift.
const (
	fleetProfile = "name: fleet\ntime: 10s\ninterval: 3s\nprobes: 5\n"
	fleetValues  = "10/3/5" // as nstest.Values reads them
	otherProfile = "name: other\ntime: 20s\ninterval: 3s\nprobes: 5\n"
)

const conntrackTimeout = "/proc/sys/net/netfilter/nf_conntrack_tcp_timeout_established"

// TestRealPrometheus runs Debian's Prometheus against tcpka: it scrapes
// tcpka watch (job tcpka) and node_exporter's textfile collector fed by
// tcpka metrics (job node), once a second, with the shipped rules loaded.
// All of it runs in private pid, mount and network namespaces, so what
// watch writes lands in a scratch namespace. Through the HTTP API it checks
// that every rule loads and evaluates, that a healthy node fires nothing,
// that each condition tcpka can be put in here makes its alert's
// expression return a series, and that every dashboard query returns data.
func TestRealPrometheus(t *testing.T) {
	testkit.Slow(t, "runs Prometheus, node_exporter and tcpka watch in private namespaces")
	prometheus := needTool(t, "prometheus", "the real Prometheus the rules and the dashboard run on")
	nodeExporter := needTool(t, "prometheus-node-exporter", "serves tcpka metrics' textfile")
	needTool(t, "nft", "silences a connection's peer so it is dying")
	if !nstest.Private(t, "ip", "nft") {
		return
	}
	nstest.Run(t, "ip", "link", "set", "lo", "up")
	if got := nstest.Values(t, ""); got != "7200/75/9" {
		t.Fatalf("the scratch network namespace starts at %s, want the kernel's 7200/75/9", got)
	}
	dir := t.TempDir()
	bin := buildTcpka(t, dir)
	fleet, other := filepath.Join(dir, "fleet.yaml"), filepath.Join(dir, "other.yaml")
	writeFile(t, fleet, fleetProfile)
	writeFile(t, other, otherProfile)

	// A connection with SO_KEEPALIVE on the sysctls' values, armed while
	// they are the kernel's 7200 s: once watch applies 10 s its timer still
	// runs on 7200 (tcpka_sockets_stale_timers).
	conns := &closers{}
	t.Cleanup(conns.closeAll)
	stale := listen(t, conns, stalePort)
	dialKeepalive(t, conns, stale, true)

	// conntrack tracks this namespace's flows (a rule asks for their state),
	// so its established timeout is a timer that forgets them.
	if _, err := os.Stat(conntrackTimeout); err == nil {
		trackFlows(t, dir)
	}

	watch := start(t, "tcpka watch", bin, "watch", fleet, "--interval", "1s", "--listen", watchAddr,
		"--health-listen", healthAddr, "--all-netns")
	if !testkit.Eventually(10*time.Second, func() bool { return httpOK("http://"+healthAddr+"/healthz") && nstest.Values(t, "") == fleetValues }) {
		t.Fatalf("tcpka watch did not apply the profile within 10 s:\n%s", watch.out)
	}

	textfiles := filepath.Join(dir, "textfile")
	if err := os.Mkdir(textfiles, 0o755); err != nil {
		t.Fatal(err)
	}
	// What tcpka-metrics.timer does, comparing with profile.
	writeTextfile := func(t *testing.T, profile string) {
		t.Helper()
		args := []string{"metrics", "--profile", profile, "--textfile-dir", textfiles, "--all-netns"}
		if out, err := exec.Command(bin, args...).CombinedOutput(); err != nil {
			t.Fatalf("tcpka %s: %v\n%s", strings.Join(args, " "), err, out)
		}
	}
	writeTextfile(t, fleet)
	start(t, "node_exporter", nodeExporter, "--web.listen-address="+nodeAddr, "--collector.disable-defaults",
		"--collector.textfile", "--collector.textfile.directory="+textfiles)

	rules, err := filepath.Abs(rulesFile)
	if err != nil {
		t.Fatal(err)
	}
	config := filepath.Join(dir, "prometheus.yml")
	writeFile(t, config, fmt.Sprintf(`global:
  scrape_interval: 1s
  scrape_timeout: 1s
  evaluation_interval: 1s
rule_files:
  - %s
scrape_configs:
  - job_name: tcpka
    static_configs:
      - targets: [%q]
  - job_name: node
    static_configs:
      - targets: [%q]
`, rules, watchAddr, nodeAddr))
	promProc := start(t, "prometheus", prometheus, "--config.file="+config, "--storage.tsdb.path="+filepath.Join(dir, "tsdb"),
		"--web.listen-address="+promAddr, "--log.level=warn")
	p := &promAPI{base: "http://" + promAddr, log: promProc.out}
	if !testkit.Eventually(30*time.Second, func() bool { return httpOK(p.base + "/-/ready") }) {
		t.Fatalf("Prometheus not ready within 30 s:\n%s", promProc.out)
	}

	// Both targets up, both reporting tcpka_build_info.
	p.waitFor(t, "both targets up", `count(up == 1) == 2 and count(tcpka_build_info) == 2`, 20*time.Second)

	file := loadRules(t)
	t.Run("every rule loads and evaluates", func(t *testing.T) {
		want := map[string]bool{}
		for _, g := range file.Groups {
			for _, r := range g.Rules {
				want[g.Name+"/"+r.Alert+r.Record+"/"+r.Labels["threshold"]] = true
			}
		}
		var last []apiRule
		ok := testkit.Eventually(20*time.Second, func() bool {
			last, _ = p.rules(t)
			evaluated := 0
			for _, r := range last {
				if r.Health == "ok" {
					evaluated++
				}
			}
			return evaluated == len(want)
		})
		for _, r := range last {
			if r.Health != "ok" {
				t.Errorf("rule %s in group %s: health %q: %s", r.Name, r.group, r.Health, r.LastError)
			}
			delete(want, r.group+"/"+r.Name+"/"+r.Labels["threshold"])
		}
		for k := range want {
			t.Errorf("rule not loaded: %s", k)
		}
		if !ok {
			t.Errorf("not every rule evaluated within 20 s")
		}
	})

	alerts := map[string]string{}
	for _, a := range file.alerts() {
		alerts[a.Alert] = a.Expr
	}
	t.Run("a healthy node fires nothing", func(t *testing.T) {
		p.waitFor(t, "the thresholds recorded", `count(tcpka:threshold) == 6`, 10*time.Second)
		// The alerts evaluated once the thresholds were there: an alert
		// whose expression returned anything would be pending now.
		recorded := time.Now()
		if !testkit.Eventually(10*time.Second, func() bool { _, ev := p.rules(t); return ev["tcpka.alerts"].After(recorded) }) {
			t.Fatal("the alerts were not evaluated within 10 s")
		}
		for _, a := range file.alerts() {
			if res := p.query(t, a.Expr); len(res) > 0 {
				t.Errorf("%s: its expression returns %s on a healthy node", a.Alert, res)
			}
		}
		if got := p.alerts(t); len(got) > 0 {
			t.Errorf("alerts pending or firing on a healthy node: %+v", got)
		}
	})

	have := exported(t)
	t.Run("conditions make their alerts' expressions return", func(t *testing.T) {
		// The kernel differs from the profile tcpka metrics compares with.
		writeTextfile(t, other)
		p.waitSeries(t, "TcpkaProfileDrift", alerts["TcpkaProfileDrift"], `job="node",profile="other"`)

		// Someone writes tcp_keepalive_time three times; watch puts it back each time.
		for i := range 3 {
			writeFile(t, "/proc/sys/net/ipv4/tcp_keepalive_time", "7200")
			if !testkit.Eventually(5*time.Second, func() bool { return nstest.Values(t, "") == fleetValues }) {
				t.Fatalf("write %d: watch did not correct tcp_keepalive_time within 5 s:\n%s", i+1, watch.out)
			}
		}
		p.waitSeries(t, "TcpkaWatchKeepsCorrecting", alerts["TcpkaWatchKeepsCorrecting"], `job="tcpka",key="net.ipv4.tcp_keepalive_time"`)

		// 20 connection ends without keepalive: they dominate.
		off := listen(t, conns, offPort)
		for range 10 {
			dialKeepalive(t, conns, off, false)
		}
		p.waitSeries(t, "TcpkaKeepaliveOffDominates", alerts["TcpkaKeepaliveOffDominates"], `job="tcpka"`)

		// A connection with data in flight to a peer that no longer answers.
		dying := listen(t, conns, dyingPort)
		c := dialKeepalive(t, conns, dying, false)
		silence(t, dir, dyingPort)
		if _, err := c.Write(make([]byte, 1024)); err != nil {
			t.Fatal(err)
		}
		p.waitSeries(t, "TcpkaDyingConnectionsPersist", alerts["TcpkaDyingConnectionsPersist"], `job="tcpka"`)

		// conntrack forgets an established flow after 5 s, sooner than the first probe at 10 s.
		if _, err := os.Stat(conntrackTimeout); err == nil {
			writeFile(t, conntrackTimeout, "5")
			if have["tcpka_node_idle_timeout_seconds"] {
				p.waitSeries(t, "TcpkaNodeIdleTimerShorterThanKeepalive", alerts["TcpkaNodeIdleTimerShorterThanKeepalive"], `kind="conntrack"`)
			} else {
				t.Logf("TcpkaNodeIdleTimerShorterThanKeepalive: not checked, tcpka does not export tcpka_node_idle_timeout_seconds yet")
			}
		} else {
			t.Logf("TcpkaNodeIdleTimerShorterThanKeepalive: not checked, %s does not exist (nf_conntrack not loaded)", conntrackTimeout)
		}
	})

	t.Run("every dashboard query returns data", func(t *testing.T) {
		d := loadDashboard(t)
		_, conntrackErr := os.Stat(conntrackTimeout)
		for _, q := range d.queries(t) {
			expr, _ := d.expand(q.expr)
			res, err := p.tryQuery(expr)
			if err != nil {
				t.Errorf("%s / %s %s: %v\n%s", q.row, q.panel, q.refID, err, expr)
				continue
			}
			if len(res) > 0 {
				continue
			}
			why := ""
			for _, n := range metricNames(q.expr) {
				switch {
				case !have[n] && pending[n] != "":
					why = "tcpka does not export " + n + " yet"
				case n == "tcpka_node_idle_timeout_seconds" && conntrackErr != nil:
					why = "no node timer here: nf_conntrack is not loaded (and ip_vs is not)"
				}
			}
			if why != "" {
				t.Logf("%s / %s %s: no data: %s", q.row, q.panel, q.refID, why)
				continue
			}
			t.Errorf("%s / %s %s: no data\n%s", q.row, q.panel, q.refID, expr)
		}
		for _, v := range d.Templating.List {
			if v.Type != "query" {
				continue
			}
			m := regexp.MustCompile(`^label_values\((.+), (\w+)\)$`).FindStringSubmatch(v.Definition)
			if m == nil {
				t.Errorf("variable %s: %q is not label_values(SELECTOR, LABEL)", v.Name, v.Definition)
				continue
			}
			sel, _ := d.expand(m[1])
			if res := p.query(t, fmt.Sprintf(`count by (%s) (%s)`, m[2], sel)); len(res) == 0 {
				t.Errorf("variable %s: %s has no values", v.Name, v.Definition)
			}
		}
	})

	t.Run("the runbooks name commands tcpka has", func(t *testing.T) {
		for _, a := range file.alerts() {
			checkRunbook(t, bin, a.Alert, a.Annotations["runbook"])
		}
	})

	t.Run("watch down, then no tcpka metrics at all", func(t *testing.T) {
		// The textfile was written long ago: tcpka-metrics.timer stopped.
		old := time.Now().Add(-time.Hour)
		if err := os.Chtimes(filepath.Join(textfiles, "tcpka.prom"), old, old); err != nil {
			t.Fatal(err)
		}
		p.waitSeries(t, "TcpkaTextfileStale", alerts["TcpkaTextfileStale"], `job="node"`)

		watch.stop(t)
		p.waitSeries(t, "TcpkaWatchDown", alerts["TcpkaWatchDown"], `job="tcpka",instance="`+watchAddr+`"`)
		if res := p.query(t, alerts["TcpkaMetricsAbsent"]); len(res) > 0 {
			t.Errorf("TcpkaMetricsAbsent's expression returns %s while node_exporter still serves tcpka.prom", res)
		}
		if err := os.Remove(filepath.Join(textfiles, "tcpka.prom")); err != nil {
			t.Fatal(err)
		}
		p.waitSeries(t, "TcpkaMetricsAbsent", alerts["TcpkaMetricsAbsent"], "")
	})
}

// checkRunbook runs `tcpka help COMMAND` for a runbook's command and checks
// that every flag it names is one the command has.
func checkRunbook(t *testing.T, bin, alert, runbook string) {
	t.Helper()
	// A template fills in a value: any number will do.
	cmd := regexp.MustCompile(`\{\{.*?\}\}(\{\{.*?\}\})*`).ReplaceAllString(runbook, "60")
	f := strings.Fields(cmd)
	if len(f) < 2 || f[0] != "tcpka" {
		t.Errorf("%s: runbook %q is not a tcpka command", alert, runbook)
		return
	}
	out, err := exec.Command(bin, "help", f[1]).CombinedOutput()
	if err != nil {
		t.Errorf("%s: runbook %q: tcpka help %s: %v\n%s", alert, runbook, f[1], err, out)
		return
	}
	for _, a := range f[2:] {
		flag, _, _ := strings.Cut(a, "=")
		if !strings.HasPrefix(flag, "--") || strings.Contains(string(out), flag) {
			continue
		}
		if pendingFlags[f[1]+" "+flag] {
			t.Logf("%s: runbook %q: tcpka %s has no %s yet (issue 25: being added)", alert, runbook, f[1], flag)
			continue
		}
		t.Errorf("%s: runbook %q: tcpka %s has no %s:\n%s", alert, runbook, f[1], flag, out)
	}
}

// pendingFlags are flags a runbook names that tcpka is being given.
var pendingFlags = map[string]bool{"sockets --dying": true}

// buildTcpka builds tcpka from this tree into dir.
func buildTcpka(t *testing.T, dir string) string {
	t.Helper()
	bin := filepath.Join(dir, "tcpka")
	c := exec.Command("go", "build", "-o", bin, "../../cmd/tcpka")
	c.Env = append(os.Environ(), "CGO_ENABLED=0")
	if out, err := c.CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	return bin
}

func writeFile(t *testing.T, path, data string) {
	t.Helper()
	if err := os.WriteFile(path, []byte(data), 0o644); err != nil {
		t.Fatal(err)
	}
}

func httpOK(u string) bool {
	resp, err := http.Get(u)
	if err != nil {
		return false
	}
	io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	return resp.StatusCode == http.StatusOK
}

// process is a daemon the test started; it is killed at cleanup.
type process struct {
	name   string
	cmd    *exec.Cmd
	out    *testkit.Buffer
	exited chan error
}

func start(t *testing.T, name, bin string, args ...string) *process {
	t.Helper()
	p := &process{name: name, cmd: exec.Command(bin, args...), out: &testkit.Buffer{}, exited: make(chan error, 1)}
	p.cmd.Stdout, p.cmd.Stderr = p.out, p.out
	if err := p.cmd.Start(); err != nil {
		t.Fatalf("%s: %v", name, err)
	}
	go func() { p.exited <- p.cmd.Wait() }()
	t.Cleanup(func() {
		p.cmd.Process.Kill()
		err := <-p.exited
		p.exited <- err
	})
	return p
}

// stop sends SIGTERM and waits for the exit.
func (p *process) stop(t *testing.T) {
	t.Helper()
	p.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case err := <-p.exited:
		p.exited <- err
	case <-time.After(5 * time.Second):
		t.Fatalf("%s still runs 5 s after SIGTERM:\n%s", p.name, p.out)
	}
}

// closers holds the listeners and connections the test keeps open until
// its end, whichever stage opened them.
type closers struct {
	mu sync.Mutex
	cs []io.Closer
}

func (h *closers) add(c io.Closer) {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.cs = append(h.cs, c)
}

func (h *closers) closeAll() {
	h.mu.Lock()
	defer h.mu.Unlock()
	for _, c := range h.cs {
		c.Close()
	}
}

// listen accepts connections on 127.0.0.1:port and holds them with
// SO_KEEPALIVE off.
func listen(t *testing.T, h *closers, port int) net.Listener {
	t.Helper()
	lc := net.ListenConfig{KeepAlive: -1}
	ln, err := lc.Listen(context.Background(), "tcp", fmt.Sprintf("127.0.0.1:%d", port))
	if err != nil {
		t.Fatal(err)
	}
	h.add(ln)
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			h.add(c)
		}
	}()
	return ln
}

// dialKeepalive connects to ln with SO_KEEPALIVE on the sysctls' values
// (no TCP_KEEPIDLE/INTVL/CNT of its own), or off.
func dialKeepalive(t *testing.T, h *closers, ln net.Listener, on bool) net.Conn {
	t.Helper()
	d := net.Dialer{KeepAlive: -1}
	if on {
		d.KeepAliveConfig = net.KeepAliveConfig{Enable: true, Idle: -1, Interval: -1, Count: -1}
	}
	c, err := d.Dial("tcp", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	h.add(c)
	return c
}

// trackFlows makes conntrack track the test namespace's flows, with a rule
// that asks for their state, and waits until it tracks one. nf_conntrack is
// loaded already (the caller checks): nothing is loaded into the kernel.
func trackFlows(t *testing.T, dir string) {
	t.Helper()
	f := filepath.Join(dir, "track.nft")
	writeFile(t, f, `table inet tcpka-track {
	chain out {
		type filter hook output priority 0; policy accept;
		ct state established,related counter accept
	}
}
`)
	nstest.Run(t, "nft", "-f", f)
	// Any new connection is tracked from now on.
	h := &closers{}
	defer h.closeAll()
	ln := listen(t, h, trackPort)
	dialKeepalive(t, h, ln, false)
	count := filepath.Join(filepath.Dir(conntrackTimeout), "nf_conntrack_count")
	if !testkit.Eventually(5*time.Second, func() bool {
		b, err := os.ReadFile(count)
		return err == nil && strings.TrimSpace(string(b)) != "0"
	}) {
		t.Fatalf("conntrack tracks no flow of the test's namespace 5 s after a rule asked for their state")
	}
}

// silence drops every packet to and from port in the test's namespace.
func silence(t *testing.T, dir string, port int) {
	t.Helper()
	f := filepath.Join(dir, "silence.nft")
	writeFile(t, f, fmt.Sprintf(`table inet tcpka-silence {
	chain out {
		type filter hook output priority 0; policy accept;
		tcp dport %d drop
		tcp sport %d drop
	}
}
`, port, port))
	nstest.Run(t, "nft", "-f", f)
}

// promAPI asks Prometheus' HTTP API.
type promAPI struct {
	base string
	log  *testkit.Buffer
}

type apiResponse struct {
	Status    string          `json:"status"`
	Data      json.RawMessage `json:"data"`
	ErrorType string          `json:"errorType"`
	Error     string          `json:"error"`
}

// get asks path; with params, as a form POST (a query may be long).
func (p *promAPI) get(path string, params url.Values) (json.RawMessage, error) {
	var resp *http.Response
	var err error
	if params != nil {
		resp, err = http.PostForm(p.base+path, params)
	} else {
		resp, err = http.Get(p.base + path)
	}
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	var r apiResponse
	if err := json.NewDecoder(resp.Body).Decode(&r); err != nil {
		return nil, fmt.Errorf("%s: HTTP %d: %w", path, resp.StatusCode, err)
	}
	if r.Status != "success" {
		return nil, fmt.Errorf("%s: %s: %s", path, r.ErrorType, r.Error)
	}
	return r.Data, nil
}

// series is one sample of an instant vector, as the API returns it.
type series struct {
	Metric map[string]string `json:"metric"`
	Value  [2]any            `json:"value"`
}

func (s series) String() string {
	var ls []string
	for k, v := range s.Metric {
		ls = append(ls, k+"="+v)
	}
	return fmt.Sprintf("{%s} %v", strings.Join(ls, ","), s.Value[1])
}

func (p *promAPI) tryQuery(expr string) ([]series, error) {
	data, err := p.get("/api/v1/query", url.Values{"query": {expr}})
	if err != nil {
		return nil, err
	}
	var r struct {
		ResultType string   `json:"resultType"`
		Result     []series `json:"result"`
	}
	if err := json.Unmarshal(data, &r); err != nil {
		return nil, err
	}
	if r.ResultType != "vector" {
		return nil, fmt.Errorf("result type %s, want vector", r.ResultType)
	}
	return r.Result, nil
}

func (p *promAPI) query(t *testing.T, expr string) []series {
	t.Helper()
	res, err := p.tryQuery(expr)
	if err != nil {
		t.Fatalf("query %s: %v", expr, err)
	}
	return res
}

// waitFor waits until expr returns a series.
func (p *promAPI) waitFor(t *testing.T, what, expr string, limit time.Duration) {
	t.Helper()
	if !testkit.Eventually(limit, func() bool { return len(p.query(t, expr)) > 0 }) {
		t.Fatalf("%s: %s returned nothing within %s\nprometheus:\n%s", what, expr, limit, p.log)
	}
}

// waitSeries waits until an alert's expression returns a series with the
// labels (name="value",...) given.
func (p *promAPI) waitSeries(t *testing.T, alert, expr, labels string) {
	t.Helper()
	var last []series
	ok := testkit.Eventually(20*time.Second, func() bool {
		last = p.query(t, expr)
		for _, s := range last {
			if hasLabels(s.Metric, labels) {
				return true
			}
		}
		return false
	})
	if !ok {
		t.Errorf("%s: its expression returned %v within 20 s, want a series with %s\n%s", alert, last, labels, expr)
	}
}

// hasLabels says whether m has every name="value" of labels.
func hasLabels(m map[string]string, labels string) bool {
	if labels == "" {
		return true
	}
	for _, kv := range strings.Split(labels, ",") {
		k, v, _ := strings.Cut(kv, "=")
		if m[k] != strings.Trim(v, `"`) {
			return false
		}
	}
	return true
}

// apiRule is one rule of /api/v1/rules.
type apiRule struct {
	Name      string            `json:"name"`
	Query     string            `json:"query"`
	Type      string            `json:"type"`
	Labels    map[string]string `json:"labels"`
	Health    string            `json:"health"`
	LastError string            `json:"lastError"`
	group     string
}

func (p *promAPI) rules(t *testing.T) ([]apiRule, map[string]time.Time) {
	t.Helper()
	data, err := p.get("/api/v1/rules", nil)
	if err != nil {
		t.Fatal(err)
	}
	var r struct {
		Groups []struct {
			Name           string    `json:"name"`
			Rules          []apiRule `json:"rules"`
			LastEvaluation time.Time `json:"lastEvaluation"`
		} `json:"groups"`
	}
	if err := json.Unmarshal(data, &r); err != nil {
		t.Fatal(err)
	}
	var out []apiRule
	evaluated := map[string]time.Time{}
	for _, g := range r.Groups {
		evaluated[g.Name] = g.LastEvaluation
		for _, rl := range g.Rules {
			rl.group = g.Name
			out = append(out, rl)
		}
	}
	return out, evaluated
}

// alerts returns the alerts pending or firing.
func (p *promAPI) alerts(t *testing.T) []map[string]any {
	t.Helper()
	data, err := p.get("/api/v1/alerts", nil)
	if err != nil {
		t.Fatal(err)
	}
	var r struct {
		Alerts []map[string]any `json:"alerts"`
	}
	if err := json.Unmarshal(data, &r); err != nil {
		t.Fatal(err)
	}
	return r.Alerts
}
