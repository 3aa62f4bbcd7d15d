package watch

import (
	"errors"
	"fmt"
	"slices"
	"sync"
	"time"

	"github.com/tcpka/tcpka/internal/metrics"
)

// errStale is returned by a Sweep whose last result is older than its
// bound: the sweep behind it has not finished for that long.
var errStale = errors.New("the last sweep is too old")

// Sweep runs an expensive snapshot (the socket scan behind /metrics) at
// most once per Every and hands every caller the last result with its
// age: a scrape costs an encoding, not a scan, however many scrapers
// there are and however many sockets the scan walks. A stale result is
// refreshed in the background by the first caller to see it stale; the
// callers meanwhile get the last one. Only the very first call waits for
// a sweep.
type Sweep[T any] struct {
	every, maxAge time.Duration
	run           func() (T, error)

	mu      sync.Mutex
	last    T
	err     error
	at      time.Time     // when the last sweep finished; zero: none yet
	running chan struct{} // closed when the sweep in progress ends; nil: none
	sweeps  int
}

// NewSweep makes a sweep of run, at most once per every. A result older
// than maxAge (0: three times every, and at least a minute) is refused
// with errStale: a stuck scan shows up as an error, not as old numbers.
func NewSweep[T any](every, maxAge time.Duration, run func() (T, error)) *Sweep[T] {
	if maxAge <= 0 {
		maxAge = max(3*every, time.Minute)
	}
	return &Sweep[T]{every: every, maxAge: maxAge, run: run}
}

// Get returns the last result, its error and its age, starting a new
// sweep in the background when the result is older than every. The first
// call waits for the first sweep.
func (s *Sweep[T]) Get() (T, time.Duration, error) {
	s.mu.Lock()
	if s.at.IsZero() {
		wait := s.startLocked()
		s.mu.Unlock()
		<-wait
		s.mu.Lock()
	} else if time.Since(s.at) >= s.every {
		s.startLocked()
	}
	v, err, age := s.last, s.err, time.Since(s.at)
	s.mu.Unlock()
	if err == nil && age > s.maxAge {
		err = fmt.Errorf("%w: %s old, the bound is %s", errStale, age.Round(time.Second), s.maxAge)
	}
	return v, age, err
}

// Sweeps says how many sweeps have finished.
func (s *Sweep[T]) Sweeps() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.sweeps
}

// startLocked starts a sweep unless one is running, and returns the
// channel closed when the running one ends. The caller holds mu.
func (s *Sweep[T]) startLocked() <-chan struct{} {
	if s.running != nil {
		return s.running
	}
	done := make(chan struct{})
	s.running = done
	go func() {
		v, err := s.run()
		s.mu.Lock()
		s.last, s.err, s.at = v, err, time.Now()
		s.sweeps++
		s.running = nil
		s.mu.Unlock()
		close(done)
	}()
	return done
}

// LastSweep is the base of watch's /metrics snapshots (watch.New's base)
// from a sweep of base at most every interval: each call gets its own
// copy of the last sweep's samples, which Watcher.Snapshot fills in.
func LastSweep(every time.Duration, base func() (metrics.Info, []metrics.Sample, error)) func() (metrics.Info, []metrics.Sample, error) {
	type swept struct {
		info    metrics.Info
		samples []metrics.Sample
	}
	s := NewSweep(every, 0, func() (swept, error) {
		info, samples, err := base()
		return swept{info, samples}, err
	})
	return func() (metrics.Info, []metrics.Sample, error) {
		r, _, err := s.Get()
		return r.info, slices.Clone(r.samples), err
	}
}
