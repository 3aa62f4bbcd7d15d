package metrics

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/google/go-cmp/cmp"
	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"

	"github.com/tcpka/tcpka/internal/keepalive"
	"github.com/tcpka/tcpka/internal/sockdiag"
	"github.com/tcpka/tcpka/internal/testkit"
)

// flat is one parsed sample: "name{l=v,...} value" with its family type.
type flat map[string]string

// parse decodes the exposition text with expfmt's parser and flattens it
// to "TYPE name{labels}" -> value.
func parse(t *testing.T, text []byte) flat {
	t.Helper()
	p := expfmt.NewTextParser(model.UTF8Validation)
	fams, err := p.TextToMetricFamilies(bytes.NewReader(text))
	if err != nil {
		t.Fatalf("expfmt cannot parse the output: %v\n%s", err, text)
	}
	out := flat{}
	for name, mf := range fams {
		if mf.GetHelp() == "" {
			t.Errorf("%s has no HELP", name)
		}
		for _, m := range mf.GetMetric() {
			var ls []string
			for _, l := range m.GetLabel() {
				ls = append(ls, l.GetName()+"="+l.GetValue())
			}
			key := mf.GetType().String() + " " + name + "{" + strings.Join(ls, ",") + "}"
			var v float64
			switch mf.GetType() {
			case dto.MetricType_GAUGE:
				v = m.GetGauge().GetValue()
			default:
				t.Errorf("%s: unexpected type %s", name, mf.GetType())
			}
			out[key] = model.SampleValue(v).String()
		}
	}
	return out
}

func TestWrite(t *testing.T) {
	ssh := keepalive.Settings{Time: 60, Intvl: 15, Probes: 4}
	build := func(s Snapshot) Snapshot {
		s.Version, s.Revision, s.GoVersion = "v1.2.3", "abc123", "go1.26.8"
		return s
	}
	info := "GAUGE tcpka_build_info{goversion=go1.26.8,revision=abc123,version=v1.2.3}"
	tests := []struct {
		name string
		snap Snapshot
		want flat
	}{{
		name: "one netns, no installed profile, no socket source",
		snap: build(Snapshot{Samples: []Sample{{Values: keepalive.KernelDefaults}}}),
		want: flat{
			"GAUGE tcpka_keepalive_time_seconds{}":           "7200",
			"GAUGE tcpka_keepalive_interval_seconds{}":       "75",
			"GAUGE tcpka_keepalive_probes{}":                 "9",
			"GAUGE tcpka_dead_peer_detection_seconds{}":      "7875",
			"GAUGE tcpka_tcp_retries2{}":                     "15",
			"GAUGE tcpka_data_in_flight_detection_seconds{}": "939",
			"GAUGE tcpka_profile_installed{}":                "0",
			info:                                             "1",
		},
	}, {
		name: "installed profile drifted in two keys",
		snap: build(Snapshot{Samples: []Sample{{Values: keepalive.KernelDefaults, Drifted: 2}}, Installed: &Installed{Name: "ssh"}}),
		want: flat{
			"GAUGE tcpka_keepalive_time_seconds{}":           "7200",
			"GAUGE tcpka_keepalive_interval_seconds{}":       "75",
			"GAUGE tcpka_keepalive_probes{}":                 "9",
			"GAUGE tcpka_dead_peer_detection_seconds{}":      "7875",
			"GAUGE tcpka_tcp_retries2{}":                     "15",
			"GAUGE tcpka_data_in_flight_detection_seconds{}": "939",
			"GAUGE tcpka_profile_installed{}":                "1",
			"GAUGE tcpka_profile_drift{profile=ssh}":         "1",
			"GAUGE tcpka_profile_drifted_keys{profile=ssh}":  "2",
			info: "1",
		},
	}, {
		name: "installed profile matches",
		snap: build(Snapshot{Samples: []Sample{{Values: ssh}}, Installed: &Installed{Name: "ssh"}}),
		want: flat{
			"GAUGE tcpka_keepalive_time_seconds{}":          "60",
			"GAUGE tcpka_keepalive_interval_seconds{}":      "15",
			"GAUGE tcpka_keepalive_probes{}":                "4",
			"GAUGE tcpka_dead_peer_detection_seconds{}":     "120",
			"GAUGE tcpka_profile_installed{}":               "1",
			"GAUGE tcpka_profile_drift{profile=ssh}":        "0",
			"GAUGE tcpka_profile_drifted_keys{profile=ssh}": "0",
			info: "1",
		},
	}, {
		name: "all netns with socket summaries",
		snap: build(Snapshot{Samples: []Sample{
			{Netns: "host", Values: ssh, Sockets: &sockdiag.Counts{Off: 3, Sysctl: 2, Own: 1, Stale: 2, Dying: map[string]int{"keepalive": 1}}},
			{Netns: "blue", Values: keepalive.KernelDefaults, Sockets: &sockdiag.Counts{}},
		}}),
		want: flat{
			"GAUGE tcpka_keepalive_time_seconds{netns=host}":           "60",
			"GAUGE tcpka_keepalive_interval_seconds{netns=host}":       "15",
			"GAUGE tcpka_keepalive_probes{netns=host}":                 "4",
			"GAUGE tcpka_dead_peer_detection_seconds{netns=host}":      "120",
			"GAUGE tcpka_keepalive_time_seconds{netns=blue}":           "7200",
			"GAUGE tcpka_keepalive_interval_seconds{netns=blue}":       "75",
			"GAUGE tcpka_keepalive_probes{netns=blue}":                 "9",
			"GAUGE tcpka_dead_peer_detection_seconds{netns=blue}":      "7875",
			"GAUGE tcpka_tcp_retries2{netns=blue}":                     "15",
			"GAUGE tcpka_data_in_flight_detection_seconds{netns=blue}": "939",
			"GAUGE tcpka_sockets{keepalive=off,netns=host}":            "3",
			"GAUGE tcpka_sockets{keepalive=sysctl,netns=host}":         "2",
			"GAUGE tcpka_sockets{keepalive=own,netns=host}":            "1",
			"GAUGE tcpka_sockets{keepalive=off,netns=blue}":            "0",
			"GAUGE tcpka_sockets{keepalive=sysctl,netns=blue}":         "0",
			"GAUGE tcpka_sockets{keepalive=own,netns=blue}":            "0",
			// the model's view of the live connections
			"GAUGE tcpka_dying_connections{netns=host,reason=keepalive}":  "1",
			"GAUGE tcpka_dying_connections{netns=host,reason=retransmit}": "0",
			"GAUGE tcpka_dying_connections{netns=host,reason=window}":     "0",
			"GAUGE tcpka_dying_connections{netns=blue,reason=keepalive}":  "0",
			"GAUGE tcpka_dying_connections{netns=blue,reason=retransmit}": "0",
			"GAUGE tcpka_dying_connections{netns=blue,reason=window}":     "0",
			"GAUGE tcpka_sockets_stale_timers{netns=host}":                "2",
			"GAUGE tcpka_sockets_stale_timers{netns=blue}":                "0",
			"GAUGE tcpka_profile_installed{}":                             "0",
			info:                                                          "1",
		},
	}}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var b bytes.Buffer
			if err := Write(&b, tt.snap); err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(tt.want, parse(t, b.Bytes())); diff != "" {
				t.Errorf("metrics (-want +got):\n%s\n%s", diff, b.String())
			}
		})
	}
}

func TestWriteTextfile(t *testing.T) {
	dir := t.TempDir()
	snap := Snapshot{Samples: []Sample{{Values: keepalive.KernelDefaults}}}
	if err := WriteTextfile(dir, snap); err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(dir, TextfileName)
	st, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	if st.Mode().Perm() != 0o644 {
		t.Errorf("mode %v, want 0644 (node_exporter runs as another user)", st.Mode().Perm())
	}
	data, _ := os.ReadFile(path)
	if got := parse(t, data)["GAUGE tcpka_dead_peer_detection_seconds{}"]; got != "7875" {
		t.Errorf("detection in file = %q, want 7875", got)
	}
	assertOnlyProm(t, dir)
}

// assertOnlyProm fails if anything but tcpka.prom is left in dir.
func assertOnlyProm(t *testing.T, dir string) {
	t.Helper()
	ents, _ := os.ReadDir(dir)
	for _, e := range ents {
		if e.Name() != TextfileName {
			t.Errorf("left behind in the textfile dir: %s", e.Name())
		}
	}
}

// TestWriteTextfileAtomic rewrites the file with changing values while a
// reader keeps opening it: every read must be one whole exposition.
func TestWriteTextfileAtomic(t *testing.T) {
	testkit.Slow(t, "kills writers mid-write")
	dir := t.TempDir()
	path := filepath.Join(dir, TextfileName)
	if err := WriteTextfile(dir, Snapshot{Samples: []Sample{{Values: keepalive.KernelDefaults}}}); err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	done := make(chan struct{})
	wg.Add(1)
	go func() {
		defer wg.Done()
		defer close(done)
		for i := 1; i <= 300; i++ {
			v := keepalive.Settings{Time: i, Intvl: i, Probes: 1}
			// Many samples make each file large enough to be written in
			// several chunks, so a non-atomic write would be caught.
			var smp []Sample
			for n := 0; n < 50; n++ {
				smp = append(smp, Sample{Netns: "ns" + string(rune('a'+n%26)) + string(rune('a'+n/26)), Values: v})
			}
			if err := WriteTextfile(dir, Snapshot{Samples: smp}); err != nil {
				t.Error(err)
				return
			}
		}
	}()
	reads := 0
	for {
		select {
		case <-done:
			wg.Wait()
			if reads == 0 {
				t.Fatal("reader never ran")
			}
			assertOnlyProm(t, dir)
			return
		default:
		}
		data, err := os.ReadFile(path)
		if err != nil {
			t.Fatalf("read %d: %v", reads, err)
		}
		got := parse(t, data)
		if got["GAUGE tcpka_profile_installed{}"] != "0" || got["GAUGE tcpka_build_info{goversion=,revision=,version=}"] != "1" {
			t.Fatalf("read %d saw a partial file (%d bytes)", reads, len(data))
		}
		reads++
	}
}

// TestWriteTextfileFailure: when the rename cannot happen, the error is
// returned and no temp file is left for the collector to trip over.
func TestWriteTextfileFailure(t *testing.T) {
	dir := t.TempDir()
	if err := os.Mkdir(filepath.Join(dir, TextfileName), 0o755); err != nil {
		t.Fatal(err)
	}
	err := WriteTextfile(dir, Snapshot{Samples: []Sample{{Values: keepalive.KernelDefaults}}})
	if err == nil {
		t.Fatal("no error renaming over a directory")
	}
	ents, _ := os.ReadDir(dir)
	if len(ents) != 1 {
		t.Errorf("temp file left behind: %v", ents)
	}
	for _, bad := range []string{filepath.Join(dir, "missing"), filepath.Join(dir, TextfileName, "x")} {
		if err := WriteTextfile(bad, Snapshot{}); err == nil {
			t.Errorf("WriteTextfile(%s): no error", bad)
		}
	}
	f := filepath.Join(dir, "file")
	os.WriteFile(f, nil, 0o644)
	if err := WriteTextfile(f, Snapshot{}); err == nil || !strings.Contains(err.Error(), "not a directory") {
		t.Errorf("WriteTextfile(file) = %v, want not a directory", err)
	}
}

// TestWriteExact compares byte for byte with testdata/all_netns.prom, the
// text client_golang's registry wrote for the same snapshot before tcpka
// built the families itself: same order, escaping and number format.
func TestWriteExact(t *testing.T) {
	ssh := keepalive.Settings{Time: 60, Intvl: 15, Probes: 4}
	snap := Snapshot{Samples: []Sample{
		{Netns: "host", Values: ssh, Sockets: &sockdiag.Counts{Off: 3, Sysctl: 2, Own: 1, Stale: 2, Dying: map[string]int{"keepalive": 1}}},
		{Netns: "blue", Values: keepalive.KernelDefaults.Keepalive(), Sockets: &sockdiag.Counts{}}, // no tcp_retries2: the file predates it
		{Netns: "a\"b\\c\nd", Values: ssh},
	}}
	want, err := os.ReadFile("testdata/all_netns.prom")
	if err != nil {
		t.Fatal(err)
	}
	var b bytes.Buffer
	if err := Write(&b, snap); err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(string(want), b.String()); diff != "" {
		t.Errorf("exposition (-want +got):\n%s", diff)
	}
}
