package watch

import (
	"net/http"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	"github.com/tcpka/tcpka/internal/sysctl"
)

// All of watch's Prometheus code is here. The keepalive gauges carry the
// names and help texts `tcpka metrics` uses, so dashboards work with both;
// the corrections and errors counters are watch's own.

type metrics struct {
	reg         *prometheus.Registry
	corrections *prometheus.CounterVec
	errors      prometheus.Counter
}

func newMetrics(w *Watcher) *metrics {
	m := &metrics{
		reg: prometheus.NewRegistry(),
		corrections: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "tcpka_watch_corrections_total",
			Help: "Keys tcpka watch found drifted from the profile and wrote back.",
		}, []string{"key"}),
		errors: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "tcpka_watch_errors_total",
			Help: "Checks that failed to read or correct the sysctls.",
		}),
	}
	// Every key the profile sets has a series from the start, at 0.
	for _, k := range sysctl.Keys {
		if _, ok := w.profile.Settings.Lookup(k); ok {
			m.corrections.WithLabelValues(k.Dotted())
		}
	}
	m.reg.MustRegister(m.corrections, m.errors, valuesCollector{w})
	return m
}

func (m *metrics) corrected(k sysctl.Key) { m.corrections.WithLabelValues(k.Dotted()).Inc() }
func (m *metrics) failed()                { m.errors.Inc() }

func (m *metrics) handler() http.Handler {
	return promhttp.HandlerFor(m.reg, promhttp.HandlerOpts{})
}

var (
	descTime   = prometheus.NewDesc("tcpka_keepalive_time_seconds", "net.ipv4.tcp_keepalive_time: idle time before the first keepalive probe.", nil, nil)
	descIntvl  = prometheus.NewDesc("tcpka_keepalive_interval_seconds", "net.ipv4.tcp_keepalive_intvl: time between unanswered keepalive probes.", nil, nil)
	descProbes = prometheus.NewDesc("tcpka_keepalive_probes", "net.ipv4.tcp_keepalive_probes: unanswered probes before the connection is reset.", nil, nil)
	descDetect = prometheus.NewDesc("tcpka_dead_peer_detection_seconds", "Time an idle connection takes to notice a silently dead peer: time + interval * probes.", nil, nil)
)

// valuesCollector reports the values of the last check.
type valuesCollector struct{ w *Watcher }

func (c valuesCollector) Describe(ch chan<- *prometheus.Desc) {
	ch <- descTime
	ch <- descIntvl
	ch <- descProbes
	ch <- descDetect
}

func (c valuesCollector) Collect(ch chan<- prometheus.Metric) {
	v, _, checked := c.w.state()
	if !checked {
		return
	}
	ch <- prometheus.MustNewConstMetric(descTime, prometheus.GaugeValue, float64(v.Time))
	ch <- prometheus.MustNewConstMetric(descIntvl, prometheus.GaugeValue, float64(v.Intvl))
	ch <- prometheus.MustNewConstMetric(descProbes, prometheus.GaugeValue, float64(v.Probes))
	ch <- prometheus.MustNewConstMetric(descDetect, prometheus.GaugeValue, float64(keepalive(v).IdleSeconds()))
}
