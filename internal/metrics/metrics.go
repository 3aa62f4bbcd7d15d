package metrics

import (
	"bytes"
	"fmt"
	"io"
	"path/filepath"
	"sort"

	"github.com/tcpka/tcpka/internal/atomicfile"
	"github.com/tcpka/tcpka/internal/detect"
	"github.com/tcpka/tcpka/internal/keepalive"
	"github.com/tcpka/tcpka/internal/sockdiag"
)

// TextfileName is the file written below --textfile-dir; node_exporter's
// textfile collector reads every *.prom there.
const TextfileName = "tcpka.prom"

// Sample is one network namespace's state.
type Sample struct {
	// Netns labels the sample (netns="NAME"); "" when a single namespace is
	// reported, and then no netns label is emitted.
	Netns string
	// PodNamespace and Pod name the Kubernetes pod the namespace belongs
	// to (labels pod_namespace and pod, empty where there is none).
	PodNamespace, Pod string
	// Drifted counts the keys of the compared profile whose value here
	// differs (NewSnapshot fills it).
	Drifted int
	Values  keepalive.Settings
	// Net is the namespace's retransmission parameters, for the
	// data-in-flight bound (the zero value: the kernel's defaults).
	Net     detect.Net
	Sockets *sockdiag.Counts // nil: not counted (not root)
	// NodeTimers are the node's own timers that forget idle TCP flows in
	// the namespace (tcpka_node_idle_timeout_seconds).
	NodeTimers []NodeTimer
}

// NodeTimer is one of the node's idle timers: its kind and name (labels)
// and its idle timeout in seconds.
type NodeTimer struct {
	Kind, Name string
	Seconds    int
}

// labels are a sample's namespace labels: netns, and where the namespace
// is a Kubernetes pod's, pod_namespace and pod (a namespace without a pod
// is labelled by netns alone).
func (smp Sample) labels() []string {
	lv := []string{"netns", smp.Netns}
	if smp.Pod != "" {
		lv = append(lv, "pod_namespace", smp.PodNamespace, "pod", smp.Pod)
	}
	return lv
}

// Installed is the profile every sample is compared with: the installed
// one, or the one watch keeps.
type Installed struct {
	Name string
}

// Snapshot is everything one run of tcpka metrics reports.
type Snapshot struct {
	Samples   []Sample
	Installed *Installed // nil: no installed profile
	Version   string
	Revision  string
	GoVersion string
	Watch     *Watch // nil: not tcpka watch
}

// Watch is what tcpka watch adds: its counters since it started.
type Watch struct {
	// Corrections counts keys found drifted and written back, by sysctl
	// name (net.ipv4.tcp_keepalive_time); every key the profile sets is
	// present from the start, at 0.
	Corrections map[string]int
	Errors      int // checks that failed to read or correct the sysctls
}

// Family is one metric family as the text format writes it: a gauge or a
// counter with its samples sorted by label values.
type Family struct {
	Name, Help string
	Counter    bool // a counter family; a gauge otherwise
	Metrics    []Metric
}

// Metric is one sample: its labels, sorted by name, and its value.
type Metric struct {
	Labels []Label
	Value  float64
}

// Label is one label pair.
type Label struct{ Name, Value string }

// family collects the samples of one family; labels are kept in the order
// they are given and sorted by name when the family is built.
type family struct {
	name, help string
	counter    bool
	metrics    map[string]Metric // by label values: setting twice overwrites
}

func (f *family) set(v float64, labels ...string) {
	pairs := make([]Label, 0, len(labels)/2)
	for i := 0; i+1 < len(labels); i += 2 {
		pairs = append(pairs, Label{Name: labels[i], Value: labels[i+1]})
	}
	sort.Slice(pairs, func(i, j int) bool { return pairs[i].Name < pairs[j].Name })
	key := ""
	for _, p := range pairs {
		key += p.Name + "\xff" + p.Value + "\xff"
	}
	if f.metrics == nil {
		f.metrics = map[string]Metric{}
	}
	f.metrics[key] = Metric{Labels: pairs, Value: v}
}

// build returns the family with its metrics sorted by label values, as a
// Prometheus registry gathers them; ok is false when it has no metric.
func (f *family) build() (fam Family, ok bool) {
	if len(f.metrics) == 0 {
		return Family{}, false
	}
	ms := make([]Metric, 0, len(f.metrics))
	for _, m := range f.metrics {
		ms = append(ms, m)
	}
	sort.Slice(ms, func(i, j int) bool {
		a, b := ms[i].Labels, ms[j].Labels
		for k := 0; k < len(a) && k < len(b); k++ {
			if a[k].Value != b[k].Value {
				return a[k].Value < b[k].Value
			}
		}
		return len(a) < len(b)
	})
	return Family{Name: f.name, Help: f.help, Counter: f.counter, Metrics: ms}, true
}

// Gather returns the snapshot's metric families, sorted by name. Families
// without a sample (no namespace given, no socket source, no installed
// profile) are left out.
func Gather(s Snapshot) ([]Family, error) {
	gauge := func(name, help string) *family { return &family{name: name, help: help} }
	// One gauge per key of the table that names a metric: the namespace's
	// value.
	var keyFams []*family
	var keyOf []*keepalive.Key
	for _, k := range keepalive.SysctlKeys() {
		if k.Metric != "" {
			keyFams = append(keyFams, gauge(k.Metric, k.MetricHelp))
			keyOf = append(keyOf, k)
		}
	}
	kaDetect := gauge("tcpka_dead_peer_detection_seconds", "Time an idle connection takes to notice a silently dead peer: time + interval * probes.")
	dataDetect := gauge("tcpka_data_in_flight_detection_seconds", "Time a connection with unacknowledged data in flight takes to notice a silently dead peer: retransmission until tcp_retries2 gives up.")
	sockets := gauge("tcpka_sockets", "Live TCP sockets by keepalive state: off (SO_KEEPALIVE unset), sysctl (follows the sysctls), own (per-socket values).")
	nodeTimers := gauge("tcpka_node_idle_timeout_seconds", "The node's own timers that forget an idle TCP flow in this network namespace, by kind (conntrack, ipvs, nft-ct-timeout) and name: an idle connection must send a packet more often.")
	dying := gauge("tcpka_dying_connections", "Established TCP connections whose peer stopped answering, by reason: keepalive (probes unanswered), retransmit (data never acknowledged) or window (zero-window probes unanswered); tcpka sockets --dying lists them.")
	stale := gauge("tcpka_sockets_stale_timers", "Live TCP connections whose keepalive timer was armed with longer values than those in force (opened before the last change): they keep the old timing until it fires; tcpka apply --rearm makes the values hold now.")
	worst := gauge("tcpka_sockets_worst_detection_seconds", "Longest time a live TCP socket takes to notice a silently dead peer, by state: idle (keepalive, TCP_USER_TIMEOUT) or data (unacknowledged data in flight).")
	// One netns label on every sample as soon as any sample names its
	// namespace: a family's metrics all carry the same label names.
	withNetns := false
	for _, smp := range s.Samples {
		if smp.Netns != "" {
			withNetns = true
		}
	}
	for _, smp := range s.Samples {
		var lv []string
		if withNetns {
			lv = smp.labels()
		}
		v := smp.Values
		for i, k := range keyOf {
			// An optional key the proc tree lacks reads 0: unknown, no sample.
			if n := k.Get(v); n != 0 || !k.Optional {
				keyFams[i].set(float64(n), lv...)
			}
		}
		kaDetect.set(float64(detect.Idle(v)), lv...)
		if v.Retries2 > 0 {
			dataDetect.set(float64(smp.Net.Data(v)), lv...)
		}
		for _, t := range smp.NodeTimers {
			nodeTimers.set(float64(t.Seconds), append(lv, "kind", t.Kind, "name", t.Name)...)
		}
		if smp.Sockets != nil {
			c := *smp.Sockets
			sockets.set(float64(c.Off), append(lv, "keepalive", "off")...)
			sockets.set(float64(c.Sysctl), append(lv, "keepalive", "sysctl")...)
			sockets.set(float64(c.Own), append(lv, "keepalive", "own")...)
			for _, r := range []string{detect.ReasonKeepalive, detect.ReasonRetransmit, detect.ReasonWindow} {
				dying.set(float64(c.Dying[r]), append(lv, "reason", r)...)
			}
			stale.set(float64(c.Stale), lv...)
			if c.WorstIdle > 0 {
				worst.set(float64(c.WorstIdle), append(lv, "state", "idle")...)
			}
			if c.WorstData > 0 {
				worst.set(float64(c.WorstData), append(lv, "state", "data")...)
			}
		}
	}

	installed := gauge("tcpka_profile_installed", "1 if an installed profile (/etc/tcpka/profile.yaml) was found, 0 if not.")
	drift := gauge("tcpka_profile_drift", "1 if the kernel differs from the installed profile in any key it sets, 0 if it matches (per network namespace with --all-netns).")
	keys := gauge("tcpka_profile_drifted_keys", "Keys of the installed profile whose kernel value differs.")
	if s.Installed != nil {
		installed.set(1)
		for _, smp := range s.Samples {
			var lv []string
			if withNetns {
				lv = smp.labels()
			}
			d := 0.0
			if smp.Drifted > 0 {
				d = 1
			}
			drift.set(d, append(lv, "profile", s.Installed.Name)...)
			keys.set(float64(smp.Drifted), append(lv, "profile", s.Installed.Name)...)
		}
	} else {
		installed.set(0)
	}

	info := gauge("tcpka_build_info", "Always 1; labels say which tcpka build wrote the metrics.")
	info.set(1, "version", s.Version, "revision", s.Revision, "goversion", s.GoVersion)

	corrections := &family{name: "tcpka_watch_corrections_total", help: "Keys tcpka watch found drifted from the profile and wrote back.", counter: true}
	errs := &family{name: "tcpka_watch_errors_total", help: "Checks that failed to read or correct the sysctls.", counter: true}
	if s.Watch != nil {
		for k, n := range s.Watch.Corrections {
			corrections.set(float64(n), "key", k)
		}
		errs.set(float64(s.Watch.Errors))
	}

	var fams []Family
	for _, f := range append(keyFams, kaDetect, dataDetect, nodeTimers, sockets, dying, stale, worst, installed, drift, keys, info, corrections, errs) {
		if fam, ok := f.build(); ok {
			fams = append(fams, fam)
		}
	}
	sort.Slice(fams, func(i, j int) bool { return fams[i].Name < fams[j].Name })
	return fams, nil
}

// Write encodes the snapshot in the Prometheus text exposition format.
func Write(w io.Writer, s Snapshot) error {
	fams, err := Gather(s)
	if err != nil {
		return err
	}
	_, err = w.Write(AppendText(nil, fams))
	return err
}

// WriteTextfile writes the snapshot to dir/tcpka.prom with the one atomic
// writer (a hidden temp file in dir, which the textfile collector ignores,
// mode 0644, fsync, rename, fsync of dir): readers see the old file or the
// new one, never part of one; on error the old file is left as it was.
func WriteTextfile(dir string, s Snapshot) error {
	var b bytes.Buffer
	if err := Write(&b, s); err != nil {
		return err
	}
	if err := atomicfile.WriteFile(filepath.Join(dir, TextfileName), b.Bytes(), 0o644); err != nil {
		return fmt.Errorf("textfile: %w", err)
	}
	return nil
}

// FamilyJSON is one family in `tcpka metrics --json`: the same families,
// samples and labels as the text format.
type FamilyJSON struct {
	Name    string       `json:"name"`
	Help    string       `json:"help"`
	Type    string       `json:"type"`
	Metrics []MetricJSON `json:"metrics"`
}

// MetricJSON is one sample of a family.
type MetricJSON struct {
	Labels map[string]string `json:"labels"`
	Value  float64           `json:"value"`
}

// JSON is the snapshot's families for --json.
func JSON(s Snapshot) ([]FamilyJSON, error) {
	fams, err := Gather(s)
	if err != nil {
		return nil, err
	}
	out := []FamilyJSON{}
	for _, f := range fams {
		j := FamilyJSON{Name: f.Name, Help: f.Help, Type: "gauge", Metrics: []MetricJSON{}}
		if f.Counter {
			j.Type = "counter"
		}
		for _, m := range f.Metrics {
			labels := map[string]string{}
			for _, l := range m.Labels {
				labels[l.Name] = l.Value
			}
			j.Metrics = append(j.Metrics, MetricJSON{Labels: labels, Value: m.Value})
		}
		out = append(out, j)
	}
	return out, nil
}
