package metrics

import (
	"fmt"
	"io"
	"os"
	"path/filepath"

	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"

	"github.com/tcpka/tcpka/internal/detect"
	"github.com/tcpka/tcpka/internal/sysctl"
)

// TextfileName is the file written below --textfile-dir; node_exporter's
// textfile collector reads every *.prom there.
const TextfileName = "tcpka.prom"

// SocketCounts is the live-socket summary of one network namespace: how
// many TCP sockets have keepalive off, follow the sysctls, or carry their
// own per-socket values.
type SocketCounts struct {
	Off    int
	Sysctl int
	Own    int
}

// SocketSource yields the socket summary of the namespace tcpka runs in.
// The sockets package (internal/sockdiag) provides one; without a source
// the tcpka_sockets gauge is not emitted at all.
type SocketSource interface {
	SocketCounts() (SocketCounts, error)
}

// Sample is one network namespace's state.
type Sample struct {
	// Netns labels the sample (netns="NAME"); "" when a single namespace is
	// reported, and then no netns label is emitted.
	Netns   string
	Values  sysctl.Values
	Sockets *SocketCounts // nil: no summary source
}

// Installed is the installed profile compared with the current namespace.
type Installed struct {
	Name    string
	Drifted int // keys the profile sets that differ from the kernel
}

// Snapshot is everything one run of tcpka metrics reports.
type Snapshot struct {
	Samples   []Sample
	Installed *Installed // nil: no installed profile
	Version   string
	Revision  string
	GoVersion string
}

// Registry builds a fresh registry holding the snapshot's metrics.
func Registry(s Snapshot) (*prometheus.Registry, error) {
	reg := prometheus.NewRegistry()
	var labels []string
	for _, smp := range s.Samples {
		if smp.Netns != "" {
			labels = []string{"netns"}
		}
	}
	gauge := func(name, help string, extra ...string) *prometheus.GaugeVec {
		g := prometheus.NewGaugeVec(prometheus.GaugeOpts{Name: name, Help: help}, append(append([]string{}, labels...), extra...))
		reg.MustRegister(g)
		return g
	}
	kaTime := gauge("tcpka_keepalive_time_seconds", "net.ipv4.tcp_keepalive_time: idle time before the first keepalive probe.")
	kaIntvl := gauge("tcpka_keepalive_interval_seconds", "net.ipv4.tcp_keepalive_intvl: time between unanswered keepalive probes.")
	kaProbes := gauge("tcpka_keepalive_probes", "net.ipv4.tcp_keepalive_probes: unanswered probes before the connection is reset.")
	kaDetect := gauge("tcpka_dead_peer_detection_seconds", "Time an idle connection takes to notice a silently dead peer: time + interval * probes.")
	var sockets *prometheus.GaugeVec
	for _, smp := range s.Samples {
		if smp.Sockets != nil && sockets == nil {
			sockets = gauge("tcpka_sockets", "Live TCP sockets by keepalive state: off (SO_KEEPALIVE unset), sysctl (follows the sysctls), own (per-socket values).", "keepalive")
		}
	}
	for _, smp := range s.Samples {
		var lv []string
		if labels != nil {
			lv = []string{smp.Netns}
		}
		v := smp.Values
		kaTime.WithLabelValues(lv...).Set(float64(v.Time))
		kaIntvl.WithLabelValues(lv...).Set(float64(v.Intvl))
		kaProbes.WithLabelValues(lv...).Set(float64(v.Probes))
		kaDetect.WithLabelValues(lv...).Set(float64(detect.Keepalive{Time: v.Time, Intvl: v.Intvl, Probes: v.Probes}.IdleSeconds()))
		if smp.Sockets != nil {
			c := *smp.Sockets
			sockets.WithLabelValues(append(lv, "off")...).Set(float64(c.Off))
			sockets.WithLabelValues(append(lv, "sysctl")...).Set(float64(c.Sysctl))
			sockets.WithLabelValues(append(lv, "own")...).Set(float64(c.Own))
		}
	}

	installed := prometheus.NewGauge(prometheus.GaugeOpts{Name: "tcpka_profile_installed", Help: "1 if an installed profile (/etc/tcpka/profile.yaml) was found, 0 if not."})
	reg.MustRegister(installed)
	if s.Installed != nil {
		installed.Set(1)
		drift := prometheus.NewGaugeVec(prometheus.GaugeOpts{Name: "tcpka_profile_drift", Help: "1 if the kernel differs from the installed profile in any key it sets, 0 if it matches."}, []string{"profile"})
		keys := prometheus.NewGaugeVec(prometheus.GaugeOpts{Name: "tcpka_profile_drifted_keys", Help: "Keys of the installed profile whose kernel value differs."}, []string{"profile"})
		reg.MustRegister(drift, keys)
		d := 0.0
		if s.Installed.Drifted > 0 {
			d = 1
		}
		drift.WithLabelValues(s.Installed.Name).Set(d)
		keys.WithLabelValues(s.Installed.Name).Set(float64(s.Installed.Drifted))
	}

	info := prometheus.NewGaugeVec(prometheus.GaugeOpts{Name: "tcpka_build_info", Help: "Always 1; labels say which tcpka build wrote the metrics."}, []string{"version", "revision", "goversion"})
	reg.MustRegister(info)
	info.WithLabelValues(s.Version, s.Revision, s.GoVersion).Set(1)
	return reg, nil
}

// Gather returns the snapshot's metric families, sorted by name.
func Gather(s Snapshot) ([]*dto.MetricFamily, error) {
	reg, err := Registry(s)
	if err != nil {
		return nil, err
	}
	return reg.Gather()
}

// Write encodes the snapshot in the Prometheus text exposition format.
func Write(w io.Writer, s Snapshot) error {
	mfs, err := Gather(s)
	if err != nil {
		return err
	}
	enc := expfmt.NewEncoder(w, expfmt.NewFormat(expfmt.TypeTextPlain))
	for _, mf := range mfs {
		if err := enc.Encode(mf); err != nil {
			return fmt.Errorf("encode %s: %w", mf.GetName(), err)
		}
	}
	return nil
}

// WriteTextfile writes the snapshot to dir/tcpka.prom atomically: a hidden
// temp file in dir (which the textfile collector ignores), fsync, mode
// 0644, rename over tcpka.prom, fsync dir. Readers see the old file or the
// new one, never part of one; on error the old file is left as it was.
func WriteTextfile(dir string, s Snapshot) (err error) {
	st, err := os.Stat(dir)
	if err != nil {
		return fmt.Errorf("textfile dir: %w", err)
	}
	if !st.IsDir() {
		return fmt.Errorf("textfile dir %s: not a directory", dir)
	}
	tmp, err := os.CreateTemp(dir, "."+TextfileName+".tmp*")
	if err != nil {
		return fmt.Errorf("textfile: %w", err)
	}
	defer func() {
		if err != nil {
			tmp.Close()
			os.Remove(tmp.Name())
		}
	}()
	if err := Write(tmp, s); err != nil {
		return err
	}
	if err := tmp.Chmod(0o644); err != nil {
		return fmt.Errorf("textfile: %w", err)
	}
	if err := tmp.Sync(); err != nil {
		return fmt.Errorf("textfile: %w", err)
	}
	if err := tmp.Close(); err != nil {
		return fmt.Errorf("textfile: %w", err)
	}
	dst := filepath.Join(dir, TextfileName)
	if err := os.Rename(tmp.Name(), dst); err != nil {
		return fmt.Errorf("textfile: %w", err)
	}
	if d, err := os.Open(dir); err == nil {
		d.Sync()
		d.Close()
	}
	return nil
}
