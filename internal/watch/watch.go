package watch

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"sync"
	"time"

	"github.com/tcpka/tcpka/internal/detect"
	"github.com/tcpka/tcpka/internal/human"
	"github.com/tcpka/tcpka/internal/keepalive"
	"github.com/tcpka/tcpka/internal/metrics"
	"github.com/tcpka/tcpka/internal/profile"
)

// Watcher keeps one profile applied to one Target.
type Watcher struct {
	profile  *profile.Profile
	interval time.Duration
	target   Target
	log      *slog.Logger
	base     func() (metrics.Info, []metrics.Sample, error)

	// load re-reads the profile (nil: it never changes); reload asks Run
	// to do it now.
	load   func() (*profile.Profile, error)
	reload chan struct{}

	mu      sync.Mutex
	current keepalive.Settings // last values read or written
	problem error              // why the last check failed; nil: healthy
	checked bool               // a check (or the first apply) has succeeded
	// profileProblem is why the profile could not be reloaded: the last
	// good one stays applied, and /healthz says so.
	profileProblem error
	// counters for /metrics
	corrections map[string]int // by sysctl name
	errors      int
}

// New makes a Watcher; Start applies the profile, Run keeps it applied.
// base, if not nil, gives the part of every /metrics snapshot that is not
// watch's own: build info, and the samples of the watched namespaces.
func New(p *profile.Profile, interval time.Duration, t Target, log *slog.Logger, base func() (metrics.Info, []metrics.Sample, error)) *Watcher {
	w := &Watcher{profile: p, interval: interval, target: t, log: log, base: base, reload: make(chan struct{}, 1)}
	w.initCounters()
	return w
}

// Profile is the profile watch keeps applied now.
func (w *Watcher) Profile() *profile.Profile {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.profile
}

// SetLoader makes Run re-read the profile with load at every interval
// and on Reload: a profile whose text changed replaces the current one; one
// that does not load is logged and makes /healthz unhealthy, and the last
// good one stays applied.
func (w *Watcher) SetLoader(load func() (*profile.Profile, error)) { w.load = load }

// Reload asks Run to re-read the profile now (SIGHUP).
func (w *Watcher) Reload() {
	select {
	case w.reload <- struct{}{}:
	default:
	}
}

// profileSetter is a Target that names the profile in what it writes
// (revert records, BPF attachments).
type profileSetter interface{ SetProfile(*profile.Profile) }

// reloadProfile re-reads the profile; asked says whether a signal asked.
func (w *Watcher) reloadProfile(asked bool) {
	if w.load == nil {
		return
	}
	cur := w.Profile()
	p, err := w.load()
	if err != nil {
		w.mu.Lock()
		same := w.profileProblem != nil && w.profileProblem.Error() == err.Error()
		w.profileProblem = err
		w.mu.Unlock()
		if !same || asked {
			w.failed()
			w.log.Error("profile not reloaded", "err", err.Error(), "keeping", cur.Name)
		}
		return
	}
	w.mu.Lock()
	hadProblem := w.profileProblem != nil
	w.profileProblem = nil
	w.mu.Unlock()
	if bytes.Equal(p.Raw, cur.Raw) {
		if hadProblem || asked {
			w.log.Info("profile unchanged", "profile", cur.Name)
		}
		return
	}
	w.mu.Lock()
	w.profile = p
	w.mu.Unlock()
	w.initCounters()
	if ps, ok := w.target.(profileSetter); ok {
		ps.SetProfile(p)
	}
	k := p.Settings
	w.log.Info("profile reloaded", "profile", p.Name, "time_s", k.Time, "intvl_s", k.Intvl, "probes", k.Probes)
}

// ErrDrift is wrapped when the kernel still differs after a correction.
var ErrDrift = errors.New("kernel still differs from the profile")

// Start applies the profile once. An error here is fatal: the caller exits
// before serving anything.
func (w *Watcher) Start() error {
	cs, err := w.target.Apply(w.profile.Settings)
	if err != nil {
		return err
	}
	cur, err := w.target.Read()
	if err != nil {
		return err
	}
	w.setState(cur, nil)
	msg := "profile applied"
	if w.target.Every() {
		msg = "profile applied in every network namespace"
	}
	w.logApplied(msg, len(cs), w.profile.Applied(cur))
	for _, c := range cs {
		w.log.Info("set", c.attrs("key", c.Change.Key.Dotted(), "from", c.Change.Old, "to", c.Change.New)...)
	}
	return nil
}

// attrs are a log line's attributes, led by the namespace where the
// target is every namespace.
func (c Correction) attrs(kv ...any) []any {
	if c.Netns == "" {
		return kv
	}
	return append([]any{"netns", c.Netns}, kv...)
}

// Run re-reads the profile (SetLoader) and checks every interval, and at
// once on Reload, until ctx is done.
func (w *Watcher) Run(ctx context.Context) {
	t := time.NewTicker(w.interval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-w.reload:
			w.reloadProfile(true)
			w.Check()
		case <-t.C:
			w.reloadProfile(false)
			w.Check()
		}
	}
}

// Check brings every namespace back to the profile, logging and counting
// one line per corrected key; namespaces that failed make the check fail
// after the others were corrected. It returns the problem, if any.
func (w *Watcher) Check() error {
	p := w.Profile()
	cs, aerr := w.target.Apply(p.Settings)
	for _, c := range cs {
		if c.First { // a namespace new to watch, or a reloaded profile: not drift
			w.log.Info("set", c.attrs("key", c.Change.Key.Dotted(), "from", c.Change.Old, "to", c.Change.New, "profile", p.Name)...)
			continue
		}
		w.corrected(c.Change.Key)
		w.log.Warn("drift corrected", c.attrs("key", c.Change.Key.Dotted(), "from", c.Change.Old, "to", c.Change.New, "profile", p.Name)...)
	}
	if aerr != nil {
		return w.fail("correct", aerr)
	}
	cur, err := w.target.Read()
	if err != nil {
		return w.fail("read", err)
	}
	w.setState(cur, nil)
	return nil
}

func (w *Watcher) fail(what string, err error) error {
	err = fmt.Errorf("%s: %w", what, err)
	w.failed()
	w.log.Error("check failed", "err", err.Error(), "profile", w.Profile().Name)
	w.mu.Lock()
	w.problem = err
	w.mu.Unlock()
	return err
}

// logApplied logs the first apply with the values and their detection
// time under the field names every JSON output uses.
func (w *Watcher) logApplied(msg string, changed int, k keepalive.Settings) {
	d := detect.Idle(k)
	attrs := []any{"profile", w.profile.Name, "changed", changed,
		"time_s", k.Time, "intvl_s", k.Intvl, "probes", k.Probes,
		"detection_s", d, "detection", human.Duration(d)}
	if k.Retries2 > 0 {
		attrs = append(attrs, "retries2", k.Retries2, "data_in_flight_s", detect.Net{}.Data(k))
	}
	w.log.Info(msg, attrs...)
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
	return paths{"/metrics": w.metricsHandler(), "/healthz": http.HandlerFunc(w.healthz)}
}

// HealthHandler serves /healthz alone: what --health-listen serves, so
// that a liveness probe has a listener no /metrics client can crowd out.
func (w *Watcher) HealthHandler() http.Handler {
	return paths{"/healthz": http.HandlerFunc(w.healthz)}
}

// paths serves a few exact paths, 404 for any other: all watch needs of a
// router (http.ServeMux links its pattern parser into every command).
type paths map[string]http.Handler

func (p paths) ServeHTTP(rw http.ResponseWriter, r *http.Request) {
	if h, ok := p[r.URL.Path]; ok {
		h.ServeHTTP(rw, r)
		return
	}
	http.NotFound(rw, r)
}

// healthz answers 200 "ok" while the profile holds, 503 with the reason
// otherwise.
func (w *Watcher) healthz(rw http.ResponseWriter, _ *http.Request) {
	rw.Header().Set("Content-Type", "text/plain; charset=utf-8")
	_, problem, checked := w.state()
	w.mu.Lock()
	if pp := w.profileProblem; pp != nil {
		problem = errors.Join(problem, fmt.Errorf("profile not reloaded: %w; keeping profile %s", pp, w.profile.Name))
	}
	w.mu.Unlock()
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
}
