package metrics

import (
	"bytes"
	"math"
	"testing"

	"github.com/google/go-cmp/cmp"
	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"

	"github.com/tcpka/tcpka/internal/keepalive"
	"github.com/tcpka/tcpka/internal/sockdiag"
)

// expfmtText encodes fams with prometheus/common/expfmt, through
// client_model's structs, as tcpka did before it wrote the format itself.
func expfmtText(t *testing.T, fams []Family) string {
	t.Helper()
	var b bytes.Buffer
	enc := expfmt.NewEncoder(&b, expfmt.NewFormat(expfmt.TypeTextPlain))
	for _, f := range fams {
		typ := dto.MetricType_GAUGE
		if f.Counter {
			typ = dto.MetricType_COUNTER
		}
		mf := &dto.MetricFamily{Name: ptr(f.Name), Help: ptr(f.Help), Type: typ.Enum()}
		for _, m := range f.Metrics {
			dm := &dto.Metric{}
			for _, l := range m.Labels {
				dm.Label = append(dm.Label, &dto.LabelPair{Name: ptr(l.Name), Value: ptr(l.Value)})
			}
			if f.Counter {
				dm.Counter = &dto.Counter{Value: ptr(m.Value)}
			} else {
				dm.Gauge = &dto.Gauge{Value: ptr(m.Value)}
			}
			mf.Metric = append(mf.Metric, dm)
		}
		if err := enc.Encode(mf); err != nil {
			t.Fatalf("expfmt: %v", err)
		}
	}
	return b.String()
}

func ptr[T any](v T) *T { return &v }

// TestAppendTextMatchesExpfmt: AppendText writes what expfmt's encoder
// writes for the same families, for every snapshot shape tcpka produces and
// for the values and strings that need care (escapes, NaN, infinities,
// exponents, negative zero).
func TestAppendTextMatchesExpfmt(t *testing.T) {
	ssh := keepalive.Settings{Time: 60, Intvl: 15, Probes: 4}
	snaps := map[string]Snapshot{
		"empty": {},
		"one netns": {Samples: []Sample{{Values: keepalive.KernelDefaults}},
			Version: "v1.2.3", Revision: "abc123", GoVersion: "go1.26.8"},
		"installed, drifted, sockets": {Samples: []Sample{{Values: ssh, Drifted: 2, Sockets: &sockdiag.Counts{Off: 3, Sysctl: 2, Own: 1, WorstIdle: 7875, WorstData: 939}}},
			Installed: &Installed{Name: "ssh"}},
		"all netns, odd names": {Samples: []Sample{
			{Netns: "host", Values: ssh, Sockets: &sockdiag.Counts{Off: 3}},
			{Netns: "a\"b\\c\nd", Values: keepalive.KernelDefaults},
			{Netns: "ünïcode €", Values: ssh},
		}},
		"watch": {Samples: []Sample{{Values: ssh}}, Installed: &Installed{Name: "x\\y"},
			Watch: &Watch{Corrections: map[string]int{"net.ipv4.tcp_keepalive_time": 3, "net.ipv4.tcp_keepalive_intvl": 0}, Errors: 1}},
	}
	for name, s := range snaps {
		t.Run(name, func(t *testing.T) {
			fams, err := Gather(s)
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(expfmtText(t, fams), string(AppendText(nil, fams))); diff != "" {
				t.Errorf("(-expfmt +AppendText):\n%s", diff)
			}
		})
	}
	t.Run("values and escapes", func(t *testing.T) {
		var ms []Metric
		for i, v := range []float64{0, 1, -1, 0.5, 1e21, 1e-7, 123456789012, -3.25, math.Copysign(0, -1), math.MaxFloat64, math.SmallestNonzeroFloat64, math.NaN(), math.Inf(1), math.Inf(-1)} {
			ms = append(ms, Metric{Labels: []Label{{"a", string(rune('a' + i))}, {"b", "q\"\\\n\t"}}, Value: v})
		}
		fams := []Family{
			{Name: "x_total", Help: "back\\slash\nnew \"line\"", Counter: true, Metrics: []Metric{{Value: 2}}},
			{Name: "y:z", Help: "", Metrics: ms},
		}
		if diff := cmp.Diff(expfmtText(t, fams), string(AppendText(nil, fams))); diff != "" {
			t.Errorf("(-expfmt +AppendText):\n%s", diff)
		}
	})
}

// TestNamesAreLegacy: AppendText writes names unquoted, which is right only
// for legacy Prometheus names; every family and label tcpka emits is one.
func TestNamesAreLegacy(t *testing.T) {
	fams, _ := Gather(Snapshot{
		Samples:   []Sample{{Netns: "n", Values: keepalive.KernelDefaults, Sockets: &sockdiag.Counts{WorstIdle: 1, WorstData: 1}}},
		Installed: &Installed{Name: "p"},
		Watch:     &Watch{Corrections: map[string]int{"k": 1}},
	})
	if len(fams) != 16 {
		t.Errorf("%d families, want all 16", len(fams))
	}
	for _, f := range fams {
		if !model.LegacyValidation.IsValidMetricName(f.Name) {
			t.Errorf("family name %q is not a legacy name", f.Name)
		}
		for _, m := range f.Metrics {
			for _, l := range m.Labels {
				if !model.LegacyValidation.IsValidLabelName(l.Name) {
					t.Errorf("%s: label name %q is not a legacy name", f.Name, l.Name)
				}
			}
		}
	}
}
