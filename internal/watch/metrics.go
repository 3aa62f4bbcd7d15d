package watch

import (
	"net/http"

	"github.com/tcpka/tcpka/internal/metrics"
	"github.com/tcpka/tcpka/internal/sysctl"
)

// What /metrics serves is a metrics.Snapshot, encoded by internal/metrics
// like `tcpka metrics` output: the same gauge names, plus watch's
// corrections and errors counters.

// Snapshot is what /metrics serves, made by the one builder `tcpka
// metrics` uses (metrics.NewSnapshot): the samples of the watched
// namespaces (from the caller), compared with the watched profile, and
// watch's counters. Without a base, the values of the last check.
func (w *Watcher) Snapshot() (metrics.Snapshot, error) {
	var info metrics.Info
	var samples []metrics.Sample
	v, _, checked := w.state()
	if w.base != nil {
		var err error
		if info, samples, err = w.base(); err != nil {
			return metrics.Snapshot{}, err
		}
	} else if checked {
		samples = []metrics.Sample{{Values: v}}
	}
	w.mu.Lock()
	counters := &metrics.Watch{Corrections: map[string]int{}, Errors: w.errors}
	for k, n := range w.corrections {
		counters.Corrections[k] = n
	}
	w.mu.Unlock()
	if !checked {
		return metrics.NewSnapshot(info, nil, nil, counters), nil
	}
	return metrics.NewSnapshot(info, samples, w.Profile(), counters), nil
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
