package kubernetes

import (
	"bytes"
	"flag"
	"os"
	"reflect"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"

	monitoringv1 "github.com/prometheus-operator/prometheus-operator/pkg/apis/monitoring/v1"
	corev1 "k8s.io/api/core/v1"
	"sigs.k8s.io/yaml"
)

var update = flag.Bool("update", false, "write overlays/prometheus-operator/prometheusrule.yaml from deploy/prometheus/tcpka.rules.yml")

const (
	plainRules    = "../prometheus/tcpka.rules.yml"
	operatorRules = "overlays/prometheus-operator/prometheusrule.yaml"
)

// prometheusRuleHeader opens the generated PrometheusRule.
const prometheusRuleHeader = `# Generated from deploy/prometheus/tcpka.rules.yml (edit that file, then run
# go test ./... -update in deploy/kubernetes): the same groups as a
# PrometheusRule, which the manifests' test holds equal.
apiVersion: monitoring.coreos.com/v1
kind: PrometheusRule
metadata:
  name: tcpka
spec:
  groups:
`

// generatePrometheusRule is the PrometheusRule of the plain rule file: its
// groups, text and comments as they are, two spaces deeper under spec.
func generatePrometheusRule(plain []byte) ([]byte, bool) {
	_, groups, ok := bytes.Cut(plain, []byte("\ngroups:\n"))
	if !ok {
		return nil, false
	}
	var b bytes.Buffer
	b.WriteString(prometheusRuleHeader)
	for _, l := range strings.SplitAfter(string(groups), "\n") {
		if strings.TrimSpace(l) != "" {
			b.WriteString("  ")
		}
		b.WriteString(l)
	}
	return b.Bytes(), true
}

// TestPrometheusRuleIsThePlainFile: the overlay's PrometheusRule is made
// from deploy/prometheus/tcpka.rules.yml, and both decode strictly to the
// same groups with the Operator's types.
func TestPrometheusRuleIsThePlainFile(t *testing.T) {
	plain, err := os.ReadFile(plainRules)
	if err != nil {
		t.Fatal(err)
	}
	want, ok := generatePrometheusRule(plain)
	if !ok {
		t.Fatalf("%s has no top-level groups:", plainRules)
	}
	got, err := os.ReadFile(operatorRules)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got, want) {
		if *update {
			if err := os.WriteFile(operatorRules, want, 0o644); err != nil {
				t.Fatal(err)
			}
			t.Logf("%s written from %s", operatorRules, plainRules)
			got = want
		} else {
			t.Errorf("%s is not generated from %s: run go test ./... -update in deploy/kubernetes", operatorRules, plainRules)
		}
	}

	var file struct {
		Groups []monitoringv1.RuleGroup `json:"groups"`
	}
	if err := yaml.UnmarshalStrict(plain, &file); err != nil {
		t.Fatalf("%s does not decode as the Operator's rule groups: %v", plainRules, err)
	}
	obj, err := decodeStrict(got)
	if err != nil {
		t.Fatalf("%s: %v", operatorRules, err)
	}
	pr, ok := obj.(*monitoringv1.PrometheusRule)
	if !ok {
		t.Fatalf("%s: a %T, want a PrometheusRule", operatorRules, obj)
	}
	if len(file.Groups) == 0 || !reflect.DeepEqual(pr.Spec.Groups, file.Groups) {
		a, _ := yaml.Marshal(file.Groups)
		b, _ := yaml.Marshal(pr.Spec.Groups)
		t.Errorf("the PrometheusRule's groups differ from %s:\n--- %s\n%s\n--- %s\n%s", plainRules, plainRules, a, operatorRules, b)
	}
	var alerts int
	for _, g := range pr.Spec.Groups {
		for _, r := range g.Rules {
			if r.Alert != "" {
				alerts++
			}
		}
	}
	if alerts == 0 {
		t.Error("the PrometheusRule has no alert")
	}
}

// TestGeneratePrometheusRule pins the generator on a small file.
func TestGeneratePrometheusRule(t *testing.T) {
	got, ok := generatePrometheusRule([]byte("# comment\ngroups:\n  - name: g\n    rules:\n\n      - alert: A\n        expr: |\n          up\n            == 0\n"))
	want := prometheusRuleHeader + "    - name: g\n      rules:\n\n        - alert: A\n          expr: |\n            up\n              == 0\n"
	if !ok || string(got) != want {
		t.Errorf("generatePrometheusRule:\n%s\nwant:\n%s", got, want)
	}
	if _, ok := generatePrometheusRule([]byte("rules: []\n")); ok {
		t.Error("a file without groups: generated a PrometheusRule")
	}
}

func TestPrometheusOperatorOverlay(t *testing.T) {
	r := render(t, "overlays/prometheus-operator")
	base := render(t, "base")
	if len(r.podMonitors) != 1 || len(r.prometheusRules) != 1 {
		t.Fatalf("%d PodMonitor, %d PrometheusRule; want one each", len(r.podMonitors), len(r.prometheusRules))
	}
	if len(base.podMonitors)+len(base.prometheusRules) != 0 {
		t.Error("the base has Prometheus Operator objects: clusters without the Operator could not apply it")
	}
	pod, c := r.container(t)
	_, bc := base.container(t)
	if !slices.Equal(c.Args, bc.Args) {
		t.Errorf("the overlay changes the DaemonSet's args: %q, base %q", c.Args, bc.Args)
	}

	pm := r.podMonitors[0]
	// The PodMonitor selects the DaemonSet's pods ...
	for k, v := range pm.Spec.Selector.MatchLabels {
		if r.daemonSets[0].Spec.Template.Labels[k] != v {
			t.Errorf("the PodMonitor selects %s=%s, which the DaemonSet's pods do not carry (%v)", k, v, r.daemonSets[0].Spec.Template.Labels)
		}
	}
	if len(pm.Spec.Selector.MatchLabels) == 0 {
		t.Error("the PodMonitor selects every pod of the namespace")
	}
	// ... on the port watch --listen serves.
	if len(pm.Spec.PodMetricsEndpoints) != 1 {
		t.Fatalf("%d podMetricsEndpoints, want 1", len(pm.Spec.PodMetricsEndpoints))
	}
	ep := pm.Spec.PodMetricsEndpoints[0]
	listen, _ := flagValue(c.Args, "--listen")
	i := slices.IndexFunc(c.Ports, func(p corev1.ContainerPort) bool { return ep.Port != nil && p.Name == *ep.Port })
	if i < 0 || !strings.HasSuffix(listen, ":"+strconv.Itoa(int(c.Ports[i].ContainerPort))) {
		t.Errorf("podMetricsEndpoints port %v: not the container port tcpka watch --listen %s serves (ports %+v)", ep.Port, listen, c.Ports)
	}
	if !pod.HostNetwork {
		t.Error("the overlay lost hostNetwork")
	}
	if ep.Path != "" && ep.Path != "/metrics" {
		t.Errorf("path %q, want /metrics", ep.Path)
	}
	// job: the value of the pod label jobLabel names is the job the
	// TcpkaWatchDown alert reads.
	job := r.daemonSets[0].Spec.Template.Labels[pm.Spec.JobLabel]
	var downExpr string
	for _, g := range r.prometheusRules[0].Spec.Groups {
		for _, rl := range g.Rules {
			if rl.Alert == "TcpkaWatchDown" {
				downExpr = rl.Expr.String()
			}
		}
	}
	if m := regexp.MustCompile(`up\{job="([^"]+)"\}`).FindStringSubmatch(downExpr); m == nil || m[1] != job {
		t.Errorf("jobLabel %s gives job=%q, but TcpkaWatchDown reads %q", pm.Spec.JobLabel, job, downExpr)
	}
	// tcpka's pod label (the pod a network namespace belongs to) must not
	// meet the target's own pod label.
	var dropped []string
	for _, rc := range ep.RelabelConfigs {
		if strings.EqualFold(rc.Action, "labeldrop") {
			re := regexp.MustCompile("^(?:" + rc.Regex + ")$")
			for _, l := range []string{"pod", "container", "namespace", "instance", "job", "node"} {
				if re.MatchString(l) {
					dropped = append(dropped, l)
				}
			}
		}
	}
	if !slices.Equal(dropped, []string{"pod", "container"}) {
		t.Errorf("labeldrop drops %v of the target's labels, want [pod container]", dropped)
	}
}
