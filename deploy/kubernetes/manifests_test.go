// Package kubernetes tests tcpka's Kubernetes manifests: every file is
// decoded strictly against the k8s.io/api, Prometheus Operator (or
// kustomize) types, the base and the overlays are rendered with kustomize's
// own library, the ConfigMap's profile goes through tcpka's own decoder, and
// the Operator overlay's PrometheusRule holds the groups of
// deploy/prometheus/tcpka.rules.yml. It is a Go module of its own so that
// tcpka's dependencies stay small.
package kubernetes

import (
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"

	monitoringv1 "github.com/prometheus-operator/prometheus-operator/pkg/apis/monitoring/v1"
	"github.com/tcpka/tcpka/internal/profile"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	"sigs.k8s.io/kustomize/api/krusty"
	kusttypes "sigs.k8s.io/kustomize/api/types"
	"sigs.k8s.io/kustomize/kyaml/filesys"
	"sigs.k8s.io/yaml"
)

// docSep splits a YAML stream into documents.
var docSep = regexp.MustCompile(`(?m)^---[ \t]*$`)

// decodeStrict decodes one manifest into the Go type of its kind: an
// unknown field, a wrong type or a duplicate key is an error.
func decodeStrict(data []byte) (any, error) {
	var head struct {
		APIVersion string `json:"apiVersion"`
		Kind       string `json:"kind"`
	}
	if err := yaml.Unmarshal(data, &head); err != nil {
		return nil, err
	}
	var obj any
	switch head.APIVersion + " " + head.Kind {
	case "v1 Namespace":
		obj = &corev1.Namespace{}
	case "v1 ServiceAccount":
		obj = &corev1.ServiceAccount{}
	case "v1 ConfigMap":
		obj = &corev1.ConfigMap{}
	case "apps/v1 DaemonSet":
		obj = &appsv1.DaemonSet{}
	case "kustomize.config.k8s.io/v1beta1 Kustomization":
		obj = &kusttypes.Kustomization{}
	case "monitoring.coreos.com/v1 PodMonitor":
		obj = &monitoringv1.PodMonitor{}
	case "monitoring.coreos.com/v1 PrometheusRule":
		obj = &monitoringv1.PrometheusRule{}
	default:
		return nil, fmt.Errorf("unexpected apiVersion %q kind %q", head.APIVersion, head.Kind)
	}
	if err := yaml.UnmarshalStrict(data, obj); err != nil {
		return nil, err
	}
	return obj, nil
}

// decodeFile decodes a file holding exactly one manifest.
func decodeFile(path string) (any, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	docs := 0
	for _, d := range docSep.Split(string(data), -1) {
		if strings.TrimSpace(stripComments(d)) != "" {
			docs++
		}
	}
	if docs != 1 {
		return nil, fmt.Errorf("%s: %d YAML documents, want 1", path, docs)
	}
	obj, err := decodeStrict(data)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return obj, nil
}

func stripComments(s string) string {
	var b strings.Builder
	for _, l := range strings.Split(s, "\n") {
		if !strings.HasPrefix(strings.TrimSpace(l), "#") {
			b.WriteString(l + "\n")
		}
	}
	return b.String()
}

func manifestFiles(t *testing.T) []string {
	t.Helper()
	var files []string
	for _, dir := range []string{"base", "overlays"} {
		err := filepath.WalkDir(dir, func(p string, d os.DirEntry, err error) error {
			if err == nil && !d.IsDir() && (strings.HasSuffix(p, ".yaml") || strings.HasSuffix(p, ".yml")) {
				files = append(files, p)
			}
			return err
		})
		if err != nil {
			t.Fatal(err)
		}
	}
	if len(files) < 7 {
		t.Fatalf("found only %d manifests: %v", len(files), files)
	}
	return files
}

func TestEveryManifestDecodesStrictly(t *testing.T) {
	for _, f := range manifestFiles(t) {
		t.Run(f, func(t *testing.T) {
			if _, err := decodeFile(f); err != nil {
				t.Error(err)
			}
		})
	}
}

// TestStrictDecoderRefuses shows that the strict decoding above would catch
// each kind of mistake.
func TestStrictDecoderRefuses(t *testing.T) {
	for _, tc := range []struct{ file, want string }{
		{"testdata/bad/unknown-field.yaml", `unknown field "hostNetwrok"`},
		{"testdata/bad/wrong-type.yaml", "cannot unmarshal string into Go struct field PodSpec.spec.template.spec.hostNetwork of type bool"},
		{"testdata/bad/duplicate-key.yaml", `key "hostNetwork" already set in map`},
		{"testdata/bad/two-documents.yaml", "2 YAML documents, want 1"},
		{"testdata/bad/unknown-kind.yaml", `unexpected apiVersion "apps/v1" kind "Deployment"`},
	} {
		t.Run(filepath.Base(tc.file), func(t *testing.T) {
			_, err := decodeFile(tc.file)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("decode %s: %v, want an error containing %q", tc.file, err, tc.want)
			}
		})
	}
}

// rendered is the output of kustomize build, decoded strictly.
type rendered struct {
	namespaces      []*corev1.Namespace
	serviceAccounts []*corev1.ServiceAccount
	configMaps      []*corev1.ConfigMap
	daemonSets      []*appsv1.DaemonSet
	podMonitors     []*monitoringv1.PodMonitor
	prometheusRules []*monitoringv1.PrometheusRule
}

func render(t *testing.T, dir string) rendered {
	t.Helper()
	k := krusty.MakeKustomizer(krusty.MakeDefaultOptions())
	rm, err := k.Run(filesys.MakeFsOnDisk(), dir)
	if err != nil {
		t.Fatalf("kustomize build %s: %v", dir, err)
	}
	var out rendered
	for _, r := range rm.Resources() {
		y, err := r.AsYAML()
		if err != nil {
			t.Fatal(err)
		}
		obj, err := decodeStrict(y)
		if err != nil {
			t.Fatalf("kustomize build %s: %s/%s: %v", dir, r.GetKind(), r.GetName(), err)
		}
		switch o := obj.(type) {
		case *corev1.Namespace:
			out.namespaces = append(out.namespaces, o)
		case *corev1.ServiceAccount:
			if o.Namespace != "tcpka" {
				t.Errorf("ServiceAccount %s in namespace %q, want tcpka", o.Name, o.Namespace)
			}
			out.serviceAccounts = append(out.serviceAccounts, o)
		case *corev1.ConfigMap:
			if o.Namespace != "tcpka" {
				t.Errorf("ConfigMap %s in namespace %q, want tcpka", o.Name, o.Namespace)
			}
			out.configMaps = append(out.configMaps, o)
		case *appsv1.DaemonSet:
			if o.Namespace != "tcpka" {
				t.Errorf("DaemonSet %s in namespace %q, want tcpka", o.Name, o.Namespace)
			}
			out.daemonSets = append(out.daemonSets, o)
		case *monitoringv1.PodMonitor:
			if o.Namespace != "tcpka" {
				t.Errorf("PodMonitor %s in namespace %q, want tcpka", o.Name, o.Namespace)
			}
			out.podMonitors = append(out.podMonitors, o)
		case *monitoringv1.PrometheusRule:
			if o.Namespace != "tcpka" {
				t.Errorf("PrometheusRule %s in namespace %q, want tcpka", o.Name, o.Namespace)
			}
			out.prometheusRules = append(out.prometheusRules, o)
		default:
			t.Errorf("kustomize build %s: unexpected %T", dir, obj)
		}
	}
	if len(out.namespaces) != 1 || len(out.serviceAccounts) != 1 || len(out.configMaps) != 1 || len(out.daemonSets) != 1 {
		t.Fatalf("kustomize build %s: %d Namespace, %d ServiceAccount, %d ConfigMap, %d DaemonSet; want one each",
			dir, len(out.namespaces), len(out.serviceAccounts), len(out.configMaps), len(out.daemonSets))
	}
	return out
}

func (r rendered) container(t *testing.T) (*corev1.PodSpec, *corev1.Container) {
	t.Helper()
	pod := &r.daemonSets[0].Spec.Template.Spec
	if len(pod.Containers) != 1 {
		t.Fatalf("DaemonSet has %d containers, want 1", len(pod.Containers))
	}
	return pod, &pod.Containers[0]
}

func capsOf(c *corev1.Container) (add, drop []string) {
	if c.SecurityContext == nil || c.SecurityContext.Capabilities == nil {
		return nil, nil
	}
	for _, a := range c.SecurityContext.Capabilities.Add {
		add = append(add, string(a))
	}
	for _, d := range c.SecurityContext.Capabilities.Drop {
		drop = append(drop, string(d))
	}
	slices.Sort(add)
	return add, drop
}

func mountPaths(c *corev1.Container) []string {
	var ps []string
	for _, m := range c.VolumeMounts {
		ps = append(ps, m.MountPath)
	}
	return ps
}

// flagValue returns the argument after flag in args.
func flagValue(args []string, flag string) (string, bool) {
	i := slices.Index(args, flag)
	if i < 0 || i+1 >= len(args) {
		return "", false
	}
	return args[i+1], true
}

func TestBaseDaemonSet(t *testing.T) {
	r := render(t, "base")
	pod, c := r.container(t)

	if !pod.HostNetwork {
		t.Error("hostNetwork is false: tcpka would tune the pod's own netns, not the node's")
	}
	if pod.HostPID {
		t.Error("hostPID is set in the base; only the enforce-pods overlay may set it")
	}
	if pod.ServiceAccountName != r.serviceAccounts[0].Name {
		t.Errorf("serviceAccountName %q, want %q", pod.ServiceAccountName, r.serviceAccounts[0].Name)
	}
	if got, want := c.Args[:2], []string{"watch", "/etc/tcpka/profile.yaml"}; !slices.Equal(got, want) {
		t.Errorf("args start %q, want %q", got, want)
	}
	// Not every address of the node (hostNetwork): its own, from the
	// downward API.
	if v, _ := flagValue(c.Args, "--listen"); v != "$(NODE_IP):9977" {
		t.Errorf("--listen %q, want $(NODE_IP):9977", v)
	}
	if i := slices.IndexFunc(c.Env, func(e corev1.EnvVar) bool { return e.Name == "NODE_IP" }); i < 0 ||
		c.Env[i].ValueFrom == nil || c.Env[i].ValueFrom.FieldRef == nil || c.Env[i].ValueFrom.FieldRef.FieldPath != "status.hostIP" {
		t.Errorf("NODE_IP is not the node's status.hostIP: %+v", c.Env)
	}
	if _, ok := flagValue(c.Args, "--enforce-cgroup"); ok {
		t.Error("the base passes --enforce-cgroup; only the overlay may")
	}

	add, drop := capsOf(c)
	if !slices.Equal(add, []string{"NET_ADMIN"}) || !slices.Equal(drop, []string{"ALL"}) {
		t.Errorf("capabilities add %v drop %v, want add [NET_ADMIN] drop [ALL]", add, drop)
	}
	sc := c.SecurityContext
	if sc.ReadOnlyRootFilesystem == nil || !*sc.ReadOnlyRootFilesystem {
		t.Error("readOnlyRootFilesystem is not true")
	}
	if sc.Privileged != nil && *sc.Privileged {
		t.Error("the container is privileged")
	}
	if sc.AllowPrivilegeEscalation == nil || *sc.AllowPrivilegeEscalation {
		t.Error("allowPrivilegeEscalation is not false")
	}

	// Both probes ask /healthz on --health-listen, on the node's loopback
	// (hostNetwork: the kubelet reaches it, nobody else), where a flood of
	// connections to the metrics port cannot make them time out.
	health, _ := flagValue(c.Args, "--health-listen")
	if health != "127.0.0.1:9978" {
		t.Errorf("--health-listen %q, want 127.0.0.1:9978", health)
	}
	for name, p := range map[string]*corev1.Probe{"readiness": c.ReadinessProbe, "liveness": c.LivenessProbe} {
		if p == nil || p.HTTPGet == nil {
			t.Errorf("no httpGet %s probe", name)
			continue
		}
		if got := fmt.Sprintf("%s:%d%s", p.HTTPGet.Host, p.HTTPGet.Port.IntValue(), p.HTTPGet.Path); got != health+"/healthz" {
			t.Errorf("%s probe asks %s, want %s/healthz (--health-listen)", name, got, health)
		}
	}

	for _, res := range []corev1.ResourceName{corev1.ResourceCPU, corev1.ResourceMemory} {
		req, lim := c.Resources.Requests[res], c.Resources.Limits[res]
		if req.IsZero() || lim.IsZero() || req.Cmp(lim) > 0 {
			t.Errorf("%s: request %s limit %s, want both set, request <= limit", res, req.String(), lim.String())
		}
	}

	// The profile file comes from the ConfigMap, mounted at /etc/tcpka.
	var fromCM bool
	for _, v := range pod.Volumes {
		if v.ConfigMap != nil && v.ConfigMap.Name == r.configMaps[0].Name {
			for _, m := range c.VolumeMounts {
				if m.Name == v.Name && m.MountPath == "/etc/tcpka" {
					fromCM = true
				}
			}
		}
	}
	if !fromCM {
		t.Errorf("ConfigMap %s is not mounted at /etc/tcpka", r.configMaps[0].Name)
	}
	// /proc/sys is read-only in a container: the node's /proc/sys/net comes
	// in by hostPath and --proc-root points tcpka at it.
	if root, _ := flagValue(c.Args, "--proc-root"); !slices.Contains(mountPaths(c), root+"/sys/net") {
		t.Errorf("--proc-root %q but no volume mounted at %s/sys/net (mounts %v)", root, root, mountPaths(c))
	}
	if !slices.Contains(mountPaths(c), "/run") {
		t.Error("no writable /run for the apply lock (the root filesystem is read-only)")
	}
}

func TestConfigMapProfile(t *testing.T) {
	r := render(t, "base")
	cm := r.configMaps[0]
	data, ok := cm.Data["profile.yaml"]
	if !ok {
		t.Fatalf("ConfigMap %s has no profile.yaml", cm.Name)
	}
	p, err := profile.Decode("configmap/"+cm.Name+"/profile.yaml", "fleet", []byte(data))
	if err != nil {
		t.Fatalf("tcpka's decoder refuses the ConfigMap's profile: %v", err)
	}
	if p.Settings.IsZero() {
		t.Error("the ConfigMap's profile sets no key")
	}
	// The same decoder refuses a broken profile: this test can fail.
	bad := strings.Replace(data, "probes: 5", "probes: 0", 1)
	if bad == data {
		t.Fatal("fixture: the profile no longer has 'probes: 5'")
	}
	if _, err := profile.Decode("bad", "fleet", []byte(bad)); err == nil {
		t.Error("tcpka's decoder accepted probes: 0")
	}
}

func TestEnforcePodsOverlay(t *testing.T) {
	r := render(t, "overlays/enforce-pods")
	pod, c := r.container(t)
	if !pod.HostNetwork || !pod.HostPID {
		t.Errorf("hostNetwork %v hostPID %v, want both true", pod.HostNetwork, pod.HostPID)
	}
	add, _ := capsOf(c)
	if want := []string{"NET_ADMIN", "SYS_ADMIN", "SYS_PTRACE"}; !slices.Equal(add, want) {
		t.Errorf("capabilities add %v, want %v", add, want)
	}
	for _, m := range []string{"/sys/fs/bpf", "/sys/fs/cgroup", "/etc/tcpka", "/run"} {
		if !slices.Contains(mountPaths(c), m) {
			t.Errorf("no volume mounted at %s (mounts %v)", m, mountPaths(c))
		}
	}
	cg, ok := flagValue(c.Args, "--enforce-cgroup")
	if !ok || !strings.HasPrefix(cg, "/sys/fs/cgroup/kubepods") {
		t.Errorf("--enforce-cgroup %q, want the kubelet's pods cgroup under /sys/fs/cgroup", cg)
	}
	if v, _ := flagValue(c.Args, "--listen"); v != "$(NODE_IP):9977" {
		t.Errorf("--listen %q, want $(NODE_IP):9977", v)
	}
	if sc := c.SecurityContext; sc.ReadOnlyRootFilesystem == nil || !*sc.ReadOnlyRootFilesystem {
		t.Error("the overlay lost readOnlyRootFilesystem")
	}
}
