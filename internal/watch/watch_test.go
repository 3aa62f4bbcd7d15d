package watch

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"
	"github.com/tcpka/tcpka/internal/keepalive"
	"github.com/tcpka/tcpka/internal/netscope"
	"github.com/tcpka/tcpka/internal/profile"
	"github.com/tcpka/tcpka/internal/sysctl"
	"github.com/tcpka/tcpka/internal/testkit"
)

// treeTarget is the real Target over a fake proc tree: the handle a
// command gets with --proc-root, its state in a temporary run directory.
func treeTarget(t *testing.T, root string) *ScopeTarget {
	t.Helper()
	sc, err := netscope.Open(netscope.Roots{Proc: root, Run: t.TempDir()}, "", false)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { sc.Close() })
	return &ScopeTarget{Scope: sc, Profile: "test"}
}

func fakeTree(t *testing.T, v keepalive.Settings) string {
	t.Helper()
	root := t.TempDir()
	for _, k := range sysctl.Keys() {
		writeKey(t, root, k, k.Get(v))
	}
	return root
}

func writeKey(t *testing.T, root string, k sysctl.Key, v int) {
	t.Helper()
	p := filepath.Join(root, "sys", k.RelPath())
	if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(p, []byte(strconv.Itoa(v)+"\n"), 0o644); err != nil {
		t.Fatal(err)
	}
}

// logLines decodes the JSON log lines written so far.
func logLines(t *testing.T, buf *bytes.Buffer) []map[string]any {
	t.Helper()
	var out []map[string]any
	for _, l := range strings.Split(strings.TrimSpace(buf.String()), "\n") {
		if l == "" {
			continue
		}
		var m map[string]any
		if err := json.Unmarshal([]byte(l), &m); err != nil {
			t.Fatalf("log line %q: %v", l, err)
		}
		delete(m, "time")
		out = append(out, m)
	}
	buf.Reset()
	return out
}

func scrape(t *testing.T, h http.Handler) map[string]*dto.MetricFamily {
	t.Helper()
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequest("GET", "/metrics", nil))
	if rec.Code != 200 {
		t.Fatalf("/metrics: %d", rec.Code)
	}
	p := expfmt.NewTextParser(model.UTF8Validation)
	fams, err := p.TextToMetricFamilies(rec.Body)
	if err != nil {
		t.Fatalf("/metrics does not parse: %v", err)
	}
	return fams
}

func healthz(t *testing.T, h http.Handler) (int, string) {
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequest("GET", "/healthz", nil))
	b, _ := io.ReadAll(rec.Body)
	return rec.Code, strings.TrimSpace(string(b))
}

// counter returns the counter name{key="KEY"} (key "": the unlabelled one),
// -1 when there is none.
func counter(fams map[string]*dto.MetricFamily, name, key string) float64 {
	f := fams[name]
	if f == nil {
		return -1
	}
	for _, m := range f.Metric {
		if key == "" && len(m.Label) == 0 {
			return m.GetCounter().GetValue()
		}
		for _, l := range m.Label {
			if l.GetName() == "key" && l.GetValue() == key {
				return m.GetCounter().GetValue()
			}
		}
	}
	return -1
}

func gauge(fams map[string]*dto.MetricFamily, name string) float64 {
	f := fams[name]
	if f == nil || len(f.Metric) != 1 {
		return -1
	}
	return f.Metric[0].GetGauge().GetValue()
}

func TestWatcher(t *testing.T) {
	p, err := profile.Decode("test.yaml", "test", []byte("time: 123s\ninterval: 45s\nprobes: 6\n"))
	if err != nil {
		t.Fatal(err)
	}
	root := fakeTree(t, keepalive.KernelDefaults)
	var logs bytes.Buffer
	w := New(p, time.Second, treeTarget(t, root), slog.New(slog.NewJSONHandler(&logs, nil)), nil)
	h := w.Handler()

	if code, body := healthz(t, h); code != 503 || body != "not applied yet" {
		t.Errorf("/healthz before Start: %d %q, want 503 not applied yet", code, body)
	}
	if err := w.Start(); err != nil {
		t.Fatal(err)
	}
	got := logLines(t, &logs)
	want := []map[string]any{
		{"level": "INFO", "msg": "profile applied", "profile": "test", "changed": 3.0, "time_s": 123.0, "intvl_s": 45.0, "probes": 6.0, "detection_s": 393.0, "detection": "6m33s", "retries2": 15.0, "data_in_flight_s": 939.0},
		{"level": "INFO", "msg": "set", "key": "net.ipv4.tcp_keepalive_time", "from": 7200.0, "to": 123.0},
		{"level": "INFO", "msg": "set", "key": "net.ipv4.tcp_keepalive_intvl", "from": 75.0, "to": 45.0},
		{"level": "INFO", "msg": "set", "key": "net.ipv4.tcp_keepalive_probes", "from": 9.0, "to": 6.0},
	}
	if d := cmp.Diff(want, got); d != "" {
		t.Errorf("Start logs (-want +got):\n%s", d)
	}
	if v, _ := sysctl.NewFS(root).Read(); v != (keepalive.Settings{Time: 123, Intvl: 45, Probes: 6, Retries2: 15}) {
		t.Errorf("after Start the tree holds %+v", v)
	}

	// No drift: nothing logged, nothing counted.
	if err := w.Check(); err != nil {
		t.Fatal(err)
	}
	if got := logLines(t, &logs); len(got) != 0 {
		t.Errorf("a check without drift logged %v", got)
	}
	fams := scrape(t, h)
	if c := counter(fams, "tcpka_watch_corrections_total", "net.ipv4.tcp_keepalive_time"); c != 0 {
		t.Errorf("corrections before any drift = %v, want 0", c)
	}

	// Drift on one key: one line, one count, the value restored.
	writeKey(t, root, keepalive.Time, 7200)
	if err := w.Check(); err != nil {
		t.Fatal(err)
	}
	got = logLines(t, &logs)
	want = []map[string]any{{"level": "WARN", "msg": "drift corrected", "key": "net.ipv4.tcp_keepalive_time", "from": 7200.0, "to": 123.0, "profile": "test"}}
	if d := cmp.Diff(want, got); d != "" {
		t.Errorf("drift logs (-want +got):\n%s", d)
	}
	if v, _ := sysctl.NewFS(root).Read(); v.Time != 123 {
		t.Errorf("time after the correction: %d, want 123", v.Time)
	}
	fams = scrape(t, h)
	for name, want := range map[string]float64{"tcpka_keepalive_time_seconds": 123, "tcpka_keepalive_interval_seconds": 45, "tcpka_keepalive_probes": 6, "tcpka_dead_peer_detection_seconds": 393} {
		if g := gauge(fams, name); g != want {
			t.Errorf("%s = %v, want %v", name, g, want)
		}
	}
	if c := counter(fams, "tcpka_watch_corrections_total", "net.ipv4.tcp_keepalive_time"); c != 1 {
		t.Errorf("corrections{time} = %v, want 1", c)
	}
	if code, body := healthz(t, h); code != 200 || body != "ok" {
		t.Errorf("/healthz: %d %q, want 200 ok", code, body)
	}

	// A key that cannot be read: logged, counted, /healthz says why.
	os.Remove(filepath.Join(root, "sys", keepalive.Probes.RelPath()))
	if err := w.Check(); err == nil {
		t.Fatal("Check with a missing key succeeded")
	}
	got = logLines(t, &logs)
	if len(got) != 1 || got[0]["msg"] != "check failed" || !strings.Contains(got[0]["err"].(string), "tcp_keepalive_probes") {
		t.Errorf("failed check logged %v", got)
	}
	if code, body := healthz(t, h); code != 503 || !strings.Contains(body, "tcp_keepalive_probes") {
		t.Errorf("/healthz after a failed check: %d %q, want 503 naming the key", code, body)
	}
	if c := counter(scrape(t, h), "tcpka_watch_errors_total", ""); c != 1 {
		t.Errorf("errors = %v, want 1", c)
	}
}

// TestWatcherReload: an edited profile is applied at the next check after
// Reload (SIGHUP) or an interval; an edit that does not load is logged,
// turns /healthz to 503 with the reason, and the last good profile stays.
func TestWatcherReload(t *testing.T) {
	decode := func(text string) *profile.Profile {
		p, err := profile.Decode("test.yaml", "test", []byte(text))
		if err != nil {
			t.Fatal(err)
		}
		return p
	}
	root := fakeTree(t, keepalive.KernelDefaults)
	var logs testkit.Buffer
	w := New(decode("time: 123s\ninterval: 45s\nprobes: 6\n"), time.Hour, treeTarget(t, root), slog.New(slog.NewJSONHandler(&logs, nil)), nil)
	var mu sync.Mutex
	next := func() (*profile.Profile, error) { return decode("time: 123s\ninterval: 45s\nprobes: 6\n"), nil }
	w.SetLoader(func() (*profile.Profile, error) { mu.Lock(); defer mu.Unlock(); return next() })
	setNext := func(f func() (*profile.Profile, error)) { mu.Lock(); next = f; mu.Unlock() }
	if err := w.Start(); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go w.Run(ctx)
	waitFor := func(what string, ok func() bool) {
		t.Helper()
		if !testkit.Eventually(3*time.Second, ok) {
			t.Fatalf("%s: not within 3 s; logs:\n%s", what, logs.String())
		}
	}
	read := func() keepalive.Settings { v, _ := sysctl.NewFS(root).Read(); return v }

	setNext(func() (*profile.Profile, error) { return decode("time: 60s\ninterval: 15s\nprobes: 4\n"), nil })
	w.Reload()
	waitFor("the edited profile applied", func() bool { return read() == (keepalive.Settings{Time: 60, Intvl: 15, Probes: 4, Retries2: 15}) })
	if !strings.Contains(logs.String(), `"msg":"profile reloaded","profile":"test","time_s":60`) {
		t.Errorf("reload not logged: %s", logs.String())
	}
	// Applying the edited profile is no drift: nothing counts as corrected
	// (an alert on tcpka_watch_corrections_total would fire on every edit).
	if strings.Contains(logs.String(), "drift corrected") || counter(scrape(t, w.Handler()), "tcpka_watch_corrections_total", "net.ipv4.tcp_keepalive_time") != 0 {
		t.Errorf("the reloaded profile's first apply counted as drift: %s", logs.String())
	}
	// A change behind watch's back is.
	writeKey(t, root, keepalive.Time, 7200)
	w.Reload()
	waitFor("the drift corrected", func() bool { return read().Time == 60 })
	if !strings.Contains(logs.String(), `"msg":"drift corrected","key":"net.ipv4.tcp_keepalive_time","from":7200,"to":60`) ||
		counter(scrape(t, w.Handler()), "tcpka_watch_corrections_total", "net.ipv4.tcp_keepalive_time") != 1 {
		t.Errorf("drift after the reload not counted: %s", logs.String())
	}

	setNext(func() (*profile.Profile, error) {
		return profile.Decode("/etc/tcpka/profile.yaml", "p", []byte("probes: 0\n"))
	})
	w.Reload()
	h := w.Handler()
	waitFor("/healthz unhealthy", func() bool { c, _ := healthz(t, h); return c == 503 })
	if c, body := healthz(t, h); !strings.Contains(body, "profile not reloaded: /etc/tcpka/profile.yaml:1: probes: 0 is out of range: must be 1..127; keeping profile test") {
		t.Errorf("/healthz after a bad edit: %d %q", c, body)
	}
	if v := read(); v != (keepalive.Settings{Time: 60, Intvl: 15, Probes: 4, Retries2: 15}) {
		t.Errorf("a bad edit changed the kernel: %+v", v)
	}
	if !strings.Contains(logs.String(), `"msg":"profile not reloaded"`) {
		t.Errorf("bad edit not logged: %s", logs.String())
	}

	setNext(func() (*profile.Profile, error) { return decode("time: 60s\ninterval: 15s\nprobes: 4\n"), nil })
	w.Reload()
	waitFor("/healthz healthy again", func() bool { c, _ := healthz(t, h); return c == 200 })
}
