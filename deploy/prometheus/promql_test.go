package prometheus

import (
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/tcpka/tcpka/internal/keepalive"
)

// pending are the families of issue 25's metrics contract that the rules and
// the dashboard use before tcpka exports them. Until a family is exported a
// query over it may come back empty in TestRealPrometheus; once
// internal/metrics names it, its entry here must go (TestPendingMetrics
// says so), and from then on its queries must return data.
var pending = map[string]string{}

// notTcpka are the series the rules read that tcpka does not export: the
// thresholds (recorded by the rules themselves), Prometheus' up, and
// node_exporter's textfile mtime. The dashboard reads tcpka's metrics only.
var notTcpka = map[string]bool{
	"tcpka:threshold":             true,
	"tcpka:threshold_override":    true,
	"up":                          true,
	"node_textfile_mtime_seconds": true,
}

// familyRE finds metric family names in internal/metrics' source.
var familyRE = regexp.MustCompile(`"(tcpka_[a-z0-9_]+)"`)

// exported returns the metric families tcpka exports: the names in
// internal/metrics (Gather's families) and the key table's gauges.
func exported(t *testing.T) map[string]bool {
	t.Helper()
	files, err := filepath.Glob("../../internal/metrics/*.go")
	if err != nil || len(files) == 0 {
		t.Fatalf("internal/metrics: %v", err)
	}
	out := map[string]bool{}
	for _, f := range files {
		if strings.HasSuffix(f, "_test.go") {
			continue
		}
		data, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		for _, m := range familyRE.FindAllStringSubmatch(string(data), -1) {
			out[m[1]] = true
		}
	}
	for _, k := range keepalive.Keys() {
		if k.Metric != "" {
			out[k.Metric] = true
		}
	}
	if !out["tcpka_build_info"] || !out["tcpka_keepalive_time_seconds"] {
		t.Fatalf("found no tcpka_build_info or tcpka_keepalive_time_seconds in internal/metrics: %v", out)
	}
	return out
}

// Pieces of PromQL that name no metric.
var (
	promqlStrings  = regexp.MustCompile("\"(?:[^\"\\\\]|\\\\.)*\"|'(?:[^'\\\\]|\\\\.)*'|`[^`]*`")
	promqlMatchers = regexp.MustCompile(`\{[^}]*\}`)
	promqlRanges   = regexp.MustCompile(`\[[^\]]*\]`)
	promqlLabels   = regexp.MustCompile(`\b(by|without|on|ignoring|group_left|group_right)\s*\([^)]*\)`)
	promqlIdent    = regexp.MustCompile(`[A-Za-z_:][A-Za-z0-9_:]*(\s*\()?`)
	promqlKeywords = map[string]bool{
		"and": true, "or": true, "unless": true, "bool": true, "offset": true, "by": true, "without": true,
		"on": true, "ignoring": true, "group_left": true, "group_right": true, "inf": true, "nan": true,
	}
)

// metricNames returns the metric names a PromQL expression reads, sorted:
// the identifiers left once strings, label matchers, ranges and label lists
// are cut out, other than functions, aggregations and keywords.
func metricNames(expr string) []string {
	s := promqlStrings.ReplaceAllString(expr, `""`)
	s = promqlMatchers.ReplaceAllString(s, " ")
	s = promqlRanges.ReplaceAllString(s, " ")
	s = promqlLabels.ReplaceAllString(s, " ")
	var out []string
	for _, loc := range promqlIdent.FindAllStringSubmatchIndex(s, -1) {
		if loc[2] >= 0 { // a function or an aggregation: name(
			continue
		}
		// A duration or a number's exponent: the identifier follows a digit.
		if loc[0] > 0 && s[loc[0]-1] >= '0' && s[loc[0]-1] <= '9' {
			continue
		}
		name := s[loc[0]:loc[1]]
		if promqlKeywords[strings.ToLower(name)] {
			continue
		}
		if !slices.Contains(out, name) {
			out = append(out, name)
		}
	}
	slices.Sort(out)
	return out
}

func TestMetricNames(t *testing.T) {
	tests := []struct {
		expr string
		want []string
	}{
		{`tcpka_profile_drift == 1`, []string{"tcpka_profile_drift"}},
		{`increase(tcpka_watch_corrections_total[1h]) >= on() group_left() tcpka:threshold{threshold="a b"}`,
			[]string{"tcpka:threshold", "tcpka_watch_corrections_total"}},
		{`sum without (keepalive) (tcpka_sockets{keepalive="off"}) / sum by (instance, job) (tcpka_sockets)`, []string{"tcpka_sockets"}},
		{`tcpka_node_idle_timeout_seconds < ignoring(kind, name) group_left() tcpka_keepalive_time_seconds`,
			[]string{"tcpka_keepalive_time_seconds", "tcpka_node_idle_timeout_seconds"}},
		{`absent(tcpka_build_info) or vector(0) offset 5m`, []string{"tcpka_build_info"}},
		{`time() - node_textfile_mtime_seconds{file=~"(.*/)?tcpka[.]prom"} > 1e3`, []string{"node_textfile_mtime_seconds"}},
		{`sort_desc(max by (instance) (tcpka_dead_peer_detection_seconds{job=~"$job",pod=""}))`, []string{"tcpka_dead_peer_detection_seconds"}},
		{`sum(increase(tcpka_watch_errors_total{instance=~"$instance"}[$__rate_interval])) and bool up`, []string{"tcpka_watch_errors_total", "up"}},
	}
	for _, tt := range tests {
		if diff := cmp.Diff(tt.want, metricNames(tt.expr)); diff != "" {
			t.Errorf("metricNames(%q) (-want +got):\n%s", tt.expr, diff)
		}
	}
}

// TestRulesReadTcpkaMetrics: every metric the alerts read is one tcpka
// exports (or one of the contract's pending families), besides the
// thresholds, up and node_exporter's textfile mtime.
func TestRulesReadTcpkaMetrics(t *testing.T) {
	have := exported(t)
	for _, g := range loadRules(t).Groups {
		for _, r := range g.Rules {
			for _, name := range metricNames(r.Expr) {
				if !have[name] && pending[name] == "" && !notTcpka[name] {
					t.Errorf("rule %s%s reads %s, which tcpka does not export", r.Alert, r.Record, name)
				}
			}
		}
	}
}

// TestPendingMetrics: a pending family that tcpka now exports leaves the
// pending list, so the real-Prometheus test demands data from its queries.
func TestPendingMetrics(t *testing.T) {
	have := exported(t)
	for name := range pending {
		if have[name] {
			t.Errorf("internal/metrics exports %s now: remove it from pending (promql_test.go)", name)
		}
	}
}
