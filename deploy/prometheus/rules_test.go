// Package prometheus tests what tcpka ships for Prometheus and Grafana: the
// alert rules (tcpka.rules.yml and their promtool tests under tests/), the
// dashboard (../grafana/tcpka.json), and both against a real Prometheus that
// scrapes tcpka watch and node_exporter's textfile collector fed by tcpka
// metrics, in private namespaces. docs/fleet.md describes them; the tests
// hold that page to the files.
package prometheus

import (
	"bytes"
	"maps"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"

	"gopkg.in/yaml.v3"
)

// rulesFile is the plain rule file; the Operator overlay holds the same
// groups (deploy/kubernetes checks that).
const rulesFile = "tcpka.rules.yml"

type ruleFile struct {
	Groups []ruleGroup `yaml:"groups"`
}

type ruleGroup struct {
	Name     string `yaml:"name"`
	Interval string `yaml:"interval"`
	Rules    []rule `yaml:"rules"`
}

type rule struct {
	Record      string            `yaml:"record"`
	Alert       string            `yaml:"alert"`
	Expr        string            `yaml:"expr"`
	For         string            `yaml:"for"`
	Labels      map[string]string `yaml:"labels"`
	Annotations map[string]string `yaml:"annotations"`
}

// decodeStrict decodes YAML into v, refusing unknown fields.
func decodeStrict(t *testing.T, path string, v any) {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	dec := yaml.NewDecoder(bytes.NewReader(data))
	dec.KnownFields(true)
	if err := dec.Decode(v); err != nil {
		t.Fatalf("%s: %v", path, err)
	}
}

func loadRules(t *testing.T) ruleFile {
	t.Helper()
	var f ruleFile
	decodeStrict(t, rulesFile, &f)
	if len(f.Groups) == 0 {
		t.Fatalf("%s: no groups", rulesFile)
	}
	return f
}

// alerts returns the alerting rules in file order.
func (f ruleFile) alerts() []rule {
	var out []rule
	for _, g := range f.Groups {
		for _, r := range g.Rules {
			if r.Alert != "" {
				out = append(out, r)
			}
		}
	}
	return out
}

// threshold is one tcpka:threshold series and its default.
type threshold struct {
	name string
	def  float64
}

// thresholdRE reads a threshold's recording rule:
// max(tcpka:threshold_override{threshold="NAME"}) or on() vector(DEFAULT).
var thresholdRE = regexp.MustCompile(`^max\(tcpka:threshold_override\{threshold="([a-z0-9_]+)"\}\) or on\(\) vector\(([0-9.]+)\)$`)

// thresholds returns the thresholds the file records, in file order.
func (f ruleFile) thresholds(t *testing.T) []threshold {
	t.Helper()
	var out []threshold
	for _, g := range f.Groups {
		for _, r := range g.Rules {
			if r.Record == "" {
				continue
			}
			m := thresholdRE.FindStringSubmatch(strings.TrimSpace(r.Expr))
			if r.Record != "tcpka:threshold" || m == nil || r.Labels["threshold"] != m[1] || len(r.Labels) != 1 {
				t.Errorf("recording rule %s %q labels %v: want tcpka:threshold{threshold=NAME} = max(tcpka:threshold_override{threshold=\"NAME\"}) or on() vector(DEFAULT)", r.Record, r.Expr, r.Labels)
				continue
			}
			def, _ := strconv.ParseFloat(m[2], 64)
			out = append(out, threshold{m[1], def})
		}
	}
	return out
}

// needTool returns the path of a tool a test runs, or skips the test with
// the reason where it is missing; CI installs every such tool (.ci/run), so
// there a missing one fails the test instead of skipping it.
func needTool(t *testing.T, name, why string) string {
	t.Helper()
	p, err := exec.LookPath(name)
	if err == nil {
		return p
	}
	if os.Getenv("CI") == "true" {
		t.Fatalf("%s is not installed, and CI installs it (.ci/run): %s", name, why)
	}
	t.Skipf("needs %s (not installed; .ci/run installs it in CI): %s", name, why)
	return ""
}

// TestPromtool runs promtool check rules on the rule file and promtool test
// rules on every test file.
func TestPromtool(t *testing.T) {
	promtool := needTool(t, "promtool", "checks and unit-tests the alert rules")
	tests, err := filepath.Glob("tests/*.yml")
	if err != nil || len(tests) == 0 {
		t.Fatalf("no promtool tests under tests/: %v", err)
	}
	for _, args := range [][]string{
		{"check", "rules", rulesFile},
		append([]string{"test", "rules"}, tests...),
	} {
		out, err := exec.Command(promtool, args...).CombinedOutput()
		if err != nil {
			t.Errorf("promtool %s: %v\n%s", strings.Join(args, " "), err, out)
		}
	}
}

// TestAlertsAnnotated: every alert says what happened, what it means and
// which tcpka command to run, and has a severity.
func TestAlertsAnnotated(t *testing.T) {
	f := loadRules(t)
	alerts := f.alerts()
	if len(alerts) == 0 {
		t.Fatal("no alerts")
	}
	names := map[string]bool{}
	for _, a := range alerts {
		if names[a.Alert] {
			t.Errorf("alert %s defined twice", a.Alert)
		}
		names[a.Alert] = true
		if !strings.HasPrefix(a.Alert, "Tcpka") {
			t.Errorf("alert %s: its name does not start with Tcpka", a.Alert)
		}
		if s := a.Labels["severity"]; s != "warning" && s != "critical" {
			t.Errorf("alert %s: severity %q, want warning or critical", a.Alert, s)
		}
		for _, k := range []string{"summary", "description", "runbook"} {
			if strings.TrimSpace(a.Annotations[k]) == "" {
				t.Errorf("alert %s: no %s annotation", a.Alert, k)
			}
		}
		if len(a.Annotations) != 3 {
			t.Errorf("alert %s: annotations %v, want summary, description and runbook", a.Alert, slices.Sorted(maps.Keys(a.Annotations)))
		}
		if !strings.HasPrefix(a.Annotations["runbook"], "tcpka ") {
			t.Errorf("alert %s: runbook %q does not name a tcpka command", a.Alert, a.Annotations["runbook"])
		}
		if a.For == "" {
			t.Errorf("alert %s: no for: a single bad scrape would page", a.Alert)
		}
	}
}

// thresholdUseRE finds the thresholds an alert reads.
var thresholdUseRE = regexp.MustCompile(`tcpka:threshold\{threshold="([a-z0-9_]+)"\}`)

// TestThresholds: every threshold an alert reads is recorded with a default
// (overridable by tcpka:threshold_override), and every recorded one is read.
func TestThresholds(t *testing.T) {
	f := loadRules(t)
	recorded := map[string]bool{}
	for _, th := range f.thresholds(t) {
		if recorded[th.name] {
			t.Errorf("threshold %s recorded twice", th.name)
		}
		recorded[th.name] = true
	}
	used := map[string]bool{}
	for _, a := range f.alerts() {
		for _, m := range thresholdUseRE.FindAllStringSubmatch(a.Expr, -1) {
			used[m[1]] = true
			if !recorded[m[1]] {
				t.Errorf("alert %s reads threshold %s, which no rule records", a.Alert, m[1])
			}
		}
		if strings.Contains(a.Expr, "tcpka:threshold_override") {
			t.Errorf("alert %s reads tcpka:threshold_override: read tcpka:threshold, which has the default", a.Alert)
		}
	}
	for name := range recorded {
		if !used[name] {
			t.Errorf("threshold %s is recorded but no alert reads it", name)
		}
	}
}

// promtoolTests is the part of a promtool test file this test reads.
type promtoolTests struct {
	RuleFiles []string `yaml:"rule_files"`
	Tests     []struct {
		Name          string `yaml:"name"`
		AlertRuleTest []struct {
			Alertname string `yaml:"alertname"`
			ExpAlerts []any  `yaml:"exp_alerts"`
		} `yaml:"alert_rule_test"`
	} `yaml:"tests"`
}

// TestEveryAlertFiresAndStaysQuiet: the promtool tests show every alert
// firing (exp_alerts not empty) and not firing (exp_alerts empty), and load
// the shipped rule file.
func TestEveryAlertFiresAndStaysQuiet(t *testing.T) {
	files, err := filepath.Glob("tests/*.yml")
	if err != nil || len(files) == 0 {
		t.Fatalf("no promtool tests under tests/: %v", err)
	}
	fires, quiet := map[string]bool{}, map[string]bool{}
	for _, file := range files {
		var pt promtoolTests
		data, err := os.ReadFile(file)
		if err != nil {
			t.Fatal(err)
		}
		if err := yaml.Unmarshal(data, &pt); err != nil {
			t.Fatalf("%s: %v", file, err)
		}
		if !slices.Equal(pt.RuleFiles, []string{"../" + rulesFile}) {
			t.Errorf("%s: rule_files %v, want [../%s]", file, pt.RuleFiles, rulesFile)
		}
		for _, tc := range pt.Tests {
			for _, a := range tc.AlertRuleTest {
				if len(a.ExpAlerts) > 0 {
					fires[a.Alertname] = true
				} else {
					quiet[a.Alertname] = true
				}
			}
		}
	}
	for _, a := range loadRules(t).alerts() {
		if !fires[a.Alert] {
			t.Errorf("no promtool test shows %s firing", a.Alert)
		}
		if !quiet[a.Alert] {
			t.Errorf("no promtool test shows %s not firing", a.Alert)
		}
	}
}
