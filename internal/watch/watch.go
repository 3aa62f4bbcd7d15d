package watch

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"sync"
	"time"

	"github.com/tcpka/tcpka/internal/detect"
	"github.com/tcpka/tcpka/internal/keepalive"
	"github.com/tcpka/tcpka/internal/metrics"
	"github.com/tcpka/tcpka/internal/profile"
	"github.com/tcpka/tcpka/internal/sysctl"
)

// Kernel is the keepalive sysctls of one network namespace.
type Kernel interface {
	Read() (keepalive.Settings, error)
	// Apply writes the keys of s that differ, all or none (under the apply
	// lock), and returns what it changed; Result.Before is what it found.
	Apply(s keepalive.Settings) (sysctl.Result, error)
}

// Sweeper is a Kernel over many network namespaces (watch --all-netns):
// Sweep brings every namespace to the profile and returns the keys it wrote
// in each, with an error naming the namespaces that failed; Read gives the
// values /metrics reports (tcpka's own namespace).
type Sweeper interface {
	Kernel
	Sweep(s keepalive.Settings, first bool) ([]Correction, error)
}

// Correction is one key written in one namespace.
type Correction struct {
	Netns  string
	Change sysctl.Change
}

// Watcher keeps one profile applied to one Kernel.
type Watcher struct {
	profile  *profile.Profile
	interval time.Duration
	kernel   Kernel
	log      *slog.Logger
	base     func() (metrics.Snapshot, error)

	mu      sync.Mutex
	current keepalive.Settings // last values read or written
	problem error              // why the last check failed; nil: healthy
	checked bool               // a check (or the first apply) has succeeded
	// counters for /metrics
	corrections map[string]int // by sysctl name
	errors      int
}

// New makes a Watcher; Start applies the profile, Run keeps it applied.
// base, if not nil, gives the part of every /metrics snapshot that is not
// watch's own (build info, socket counts).
func New(p *profile.Profile, interval time.Duration, k Kernel, log *slog.Logger, base func() (metrics.Snapshot, error)) *Watcher {
	w := &Watcher{profile: p, interval: interval, kernel: k, log: log, base: base}
	w.initCounters()
	return w
}

// ErrDrift is wrapped when the kernel still differs after a correction.
var ErrDrift = errors.New("kernel still differs from the profile")

// Start applies the profile once. An error here is fatal: the caller exits
// before serving anything.
func (w *Watcher) Start() error {
	if sw, ok := w.kernel.(Sweeper); ok {
		return w.startSweep(sw)
	}
	res, err := w.kernel.Apply(w.profile.Settings)
	if err != nil {
		return err
	}
	after := w.profile.Over(res.Before)
	w.setState(after, nil)
	w.logApplied("profile applied", len(res.Changes), after)
	for _, c := range res.Changes {
		w.log.Info("set", "key", c.Key.Dotted(), "from", c.Old, "to", c.New)
	}
	return nil
}

// Run checks every interval until ctx is done.
func (w *Watcher) Run(ctx context.Context) {
	t := time.NewTicker(w.interval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			w.Check()
		}
	}
}

// Check reads the kernel once and corrects every key that drifted,
// logging one line per corrected key. It returns the problem, if any.
func (w *Watcher) Check() error {
	if sw, ok := w.kernel.(Sweeper); ok {
		return w.checkSweep(sw)
	}
	cur, err := w.kernel.Read()
	if err != nil {
		return w.fail("read", err)
	}
	if len(sysctl.Drift(w.profile.Settings, cur)) == 0 {
		w.setState(cur, nil)
		return nil
	}
	res, err := w.kernel.Apply(w.profile.Settings)
	if err != nil {
		return w.fail("correct", err)
	}
	for _, c := range res.Changes {
		w.corrected(c.Key)
		w.log.Warn("drift corrected", "key", c.Key.Dotted(), "from", c.Old, "to", c.New, "profile", w.profile.Name)
	}
	w.setState(w.profile.Over(res.Before), nil)
	return nil
}

// startSweep applies the profile in every namespace; any failure is fatal.
func (w *Watcher) startSweep(sw Sweeper) error {
	cs, err := sw.Sweep(w.profile.Settings, true)
	if err != nil {
		return err
	}
	cur, err := sw.Read()
	if err != nil {
		return err
	}
	w.setState(cur, nil)
	w.logApplied("profile applied in every network namespace", len(cs), w.profile.Over(cur))
	for _, c := range cs {
		w.log.Info("set", "netns", c.Netns, "key", c.Change.Key.Dotted(), "from", c.Change.Old, "to", c.Change.New)
	}
	return nil
}

// checkSweep corrects every namespace, logging and counting each key
// written; namespaces that failed make the check fail after the others
// were corrected.
func (w *Watcher) checkSweep(sw Sweeper) error {
	cs, serr := sw.Sweep(w.profile.Settings, false)
	for _, c := range cs {
		w.corrected(c.Change.Key)
		w.log.Warn("drift corrected", "netns", c.Netns, "key", c.Change.Key.Dotted(), "from", c.Change.Old, "to", c.Change.New, "profile", w.profile.Name)
	}
	if serr != nil {
		return w.fail("correct", serr)
	}
	cur, err := sw.Read()
	if err != nil {
		return w.fail("read", err)
	}
	w.setState(cur, nil)
	return nil
}

func (w *Watcher) fail(what string, err error) error {
	err = fmt.Errorf("%s: %w", what, err)
	w.failed()
	w.log.Error("check failed", "err", err.Error(), "profile", w.profile.Name)
	w.mu.Lock()
	w.problem = err
	w.mu.Unlock()
	return err
}

// logApplied logs the first apply with the values and their detection
// time under the field names every JSON output uses.
func (w *Watcher) logApplied(msg string, changed int, k keepalive.Settings) {
	d := detect.Idle(k)
	w.log.Info(msg, "profile", w.profile.Name, "changed", changed,
		"time_s", k.Time, "intvl_s", k.Intvl, "probes", k.Probes,
		"detection_s", d, "detection", detect.Words(d))
}

func (w *Watcher) setState(v keepalive.Settings, problem error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.current, w.problem, w.checked = v, problem, true
}

func (w *Watcher) state() (v keepalive.Settings, problem error, checked bool) {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.current, w.problem, w.checked
}

// Handler serves /metrics and /healthz. /healthz answers 200 "ok" while
// the last check succeeded, 503 with the reason when it failed.
func (w *Watcher) Handler() http.Handler {
	mux := http.NewServeMux()
	mux.Handle("/metrics", w.metricsHandler())
	mux.HandleFunc("/healthz", func(rw http.ResponseWriter, r *http.Request) {
		rw.Header().Set("Content-Type", "text/plain; charset=utf-8")
		_, problem, checked := w.state()
		switch {
		case !checked:
			rw.WriteHeader(http.StatusServiceUnavailable)
			fmt.Fprintln(rw, "not applied yet")
		case problem != nil:
			rw.WriteHeader(http.StatusServiceUnavailable)
			fmt.Fprintln(rw, problem.Error())
		default:
			fmt.Fprintln(rw, "ok")
		}
	})
	return mux
}
