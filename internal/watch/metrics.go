package watch

import (
	"net/http"

	"github.com/tcpka/tcpka/internal/metrics"
	"github.com/tcpka/tcpka/internal/sysctl"
)

// What /metrics serves is a metrics.Snapshot, encoded by internal/metrics
// like `tcpka metrics` output: the same gauge names, plus watch's
// corrections and errors counters.

// Snapshot returns the base snapshot (build info and, as root, socket
// counts; from the caller) with the values of the last check, their drift
// from the watched profile and the counters.
func (w *Watcher) Snapshot() (metrics.Snapshot, error) {
	var s metrics.Snapshot
	if w.base != nil {
		var err error
		if s, err = w.base(); err != nil {
			return s, err
		}
	}
	v, _, checked := w.state()
	w.mu.Lock()
	counters := &metrics.Watch{Corrections: map[string]int{}, Errors: w.errors}
	for k, n := range w.corrections {
		counters.Corrections[k] = n
	}
	w.mu.Unlock()
	s.Watch = counters
	if !checked {
		s.Samples = nil
		return s, nil
	}
	if len(s.Samples) == 0 {
		s.Samples = []metrics.Sample{{}}
	}
	s.Samples[0].Values = v
	p := w.Profile()
	s.Installed = &metrics.Installed{Name: p.Name, Drifted: len(sysctl.Drift(p.Settings, v))}
	return s, nil
}

// initCounters gives every key the profile sets a corrections series at 0
// (a reloaded profile keeps the counts so far).
func (w *Watcher) initCounters() {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.corrections == nil {
		w.corrections = map[string]int{}
	}
	for _, k := range sysctl.SetKeys(w.profile.Settings) {
		if _, ok := w.corrections[k.Dotted()]; !ok {
			w.corrections[k.Dotted()] = 0
		}
	}
}

func (w *Watcher) corrected(k sysctl.Key) {
	w.mu.Lock()
	w.corrections[k.Dotted()]++
	w.mu.Unlock()
}

func (w *Watcher) failed() {
	w.mu.Lock()
	w.errors++
	w.mu.Unlock()
}

func (w *Watcher) metricsHandler() http.Handler { return metrics.Handler(w.Snapshot) }
