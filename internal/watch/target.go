package watch

import (
	"context"
	"fmt"
	"log/slog"
	"strings"
	"time"

	"github.com/tcpka/tcpka/internal/enforce"
	"github.com/tcpka/tcpka/internal/human"
	"github.com/tcpka/tcpka/internal/keepalive"
	"github.com/tcpka/tcpka/internal/netscope"
	"github.com/tcpka/tcpka/internal/profile"
	"github.com/tcpka/tcpka/internal/rearm"
	"github.com/tcpka/tcpka/internal/sysctl"
)

// Target is what a watch keeps a profile applied to: one network
// namespace, or all of them.
type Target interface {
	// Apply brings every namespace of the target to s (the keys that
	// differ, all or none in each, under the apply lock) and returns the
	// keys it wrote; its error names the namespaces that failed, after the
	// others were corrected.
	Apply(s keepalive.Settings) ([]Correction, error)
	// Read returns the values of the namespace /metrics reports.
	Read() (keepalive.Settings, error)
	// Every says whether the target is every network namespace.
	Every() bool
}

// Correction is one key written in one namespace ("" for the namespace
// of a one-namespace target).
type Correction struct {
	Netns  string
	Change sysctl.Change
	// First: the namespace did not hold the profile before (it appeared
	// after watch started, or the profile was reloaded): the profile was
	// applied there, nothing drifted.
	First bool
}

// ScopeTarget is a Target over a command's handle, one namespace or all:
// each Apply is one netscope.Scope.Transact. Every namespace it writes
// gets its revert record before its first write, whenever it appears
// (a record is never overwritten, so a correction keeps the values from
// before tcpka), and revert and apply are refused while it runs.
type ScopeTarget struct {
	Scope *netscope.Scope
	// Profile names the profile in the revert records it writes.
	Profile string
	Log     *slog.Logger

	// held are the namespaces (by ID) that hold the profile since an
	// apply: a write there is a correction; anywhere else, a first apply.
	held map[string]bool
}

// SetProfile names a reloaded profile in the records written from now on;
// its first apply in each namespace is no correction.
func (t *ScopeTarget) SetProfile(p *profile.Profile) { t.Profile, t.held = p.Name, nil }

// hold marks the namespaces read or written without failure as holding
// the profile.
func (t *ScopeTarget) hold(ids ...string) {
	if t.held == nil {
		t.held = map[string]bool{}
	}
	for _, id := range ids {
		t.held[id] = true
	}
}

// Every says whether the scope is every network namespace.
func (t *ScopeTarget) Every() bool { return t.Scope.All() }

// Read reads the sysctls of the scope's own namespace.
func (t *ScopeTarget) Read() (keepalive.Settings, error) { return t.Scope.NS().Read() }

// Apply runs one transaction in every namespace of the scope. It reads
// first, without the lock: at every interval of a watch nothing has
// usually drifted, and then nothing is locked or written.
func (t *ScopeTarget) Apply(s keepalive.Settings) ([]Correction, error) {
	if rs, _, err := t.Scope.Read(); err == nil && !drifted(rs, s) {
		for _, r := range rs {
			if !r.Gone {
				t.hold(r.Member.ID)
			}
		}
		return nil, nil
	}
	outs, v, err := t.Scope.Transact(sysctl.Request{What: "watch", Want: s, Record: t.Profile})
	if err != nil {
		return nil, fmt.Errorf("watch: %w", err)
	}
	if v.Listing.Unreadable > 0 && t.Log != nil {
		t.Log.Warn("network namespaces not read", "processes", v.Listing.Unreadable, "reason", "permission denied")
	}
	var out []Correction
	var failed []string
	for _, o := range outs {
		if o.Failed() {
			failed = append(failed, o.Label())
			continue
		}
		first := !t.held[o.Member.ID]
		t.hold(o.Member.ID)
		if !o.Written {
			continue
		}
		label := ""
		if t.Scope.All() {
			label = o.Label()
		}
		for _, c := range o.Changes {
			out = append(out, Correction{Netns: label, Change: c, First: first})
		}
	}
	if len(failed) > 0 {
		return out, fmt.Errorf("watch: failed in %d of %d network namespaces: %s", len(failed), len(outs), strings.Join(failed, "; "))
	}
	return out, nil
}

// Enforcing keeps the profile's BPF program attached to a cgroup ahead of
// every read and apply of the sysctls. Attach is idempotent ("unchanged"
// when the pinned program already has the values); a cgroup made again
// has a new id, so it gets a new attachment and the stale pin is removed.
// A failure fails the check: /healthz says why.
type Enforcing struct {
	Target
	Dir     string
	Store   enforce.Store
	Profile *profile.Profile
	Log     *slog.Logger
}

// SetProfile enforces a reloaded profile from the next check on.
func (k *Enforcing) SetProfile(p *profile.Profile) {
	k.Profile = p
	if ps, ok := k.Target.(profileSetter); ok {
		ps.SetProfile(p)
	}
}

func (k *Enforcing) ensure() error {
	cg, err := enforce.OpenCgroup(k.Dir)
	if err != nil {
		return fmt.Errorf("enforce: %w", err)
	}
	res, err := k.Store.Attach(cg, k.Profile.Name, k.Profile.Settings, false)
	if err != nil {
		return fmt.Errorf("enforce: %w", err)
	}
	if res.Action != "unchanged" {
		k.Log.Info("enforcement attached", "cgroup", k.Dir, "action", res.Action, "pin", res.Pin, "profile", k.Profile.Name)
	}
	return nil
}

// Read attaches if needed, then reads.
func (k *Enforcing) Read() (keepalive.Settings, error) {
	if err := k.ensure(); err != nil {
		return keepalive.Settings{}, err
	}
	return k.Target.Read()
}

// Apply attaches if needed, then applies.
func (k *Enforcing) Apply(s keepalive.Settings) ([]Correction, error) {
	if err := k.ensure(); err != nil {
		return nil, err
	}
	return k.Target.Apply(s)
}

// drifted says whether any namespace read differs from s in a key s sets,
// or could not be read (then the transaction says why).
func drifted(rs []netscope.Reading, s keepalive.Settings) bool {
	for _, r := range rs {
		switch {
		case r.Gone:
		case r.Err != nil, len(sysctl.Drift(s, r.Values)) > 0:
			return true
		}
	}
	return false
}

// Rearming re-arms, after every apply, the keepalive timers of live
// connections still armed with values from before the last change (watch
// --rearm): one pass of internal/rearm over the scope, which re-arms only
// timers due later than tcp_keepalive_time allows, so a pass with nothing
// stale changes nothing. A failed pass fails the check: /healthz says why.
type Rearming struct {
	Target
	Scope   *netscope.Scope
	Rearmer *rearm.Rearmer
	Log     *slog.Logger
}

// Apply applies, then re-arms.
func (k *Rearming) Apply(s keepalive.Settings) ([]Correction, error) {
	cs, err := k.Target.Apply(s)
	if err != nil {
		return cs, err
	}
	vs, err := k.Rearmer.Scope(context.Background(), k.Scope, false)
	failed := 0
	for _, v := range vs {
		if v.Result.Rearmed > 0 || v.Result.Failed > 0 {
			attrs := []any{"rearmed", v.Result.Rearmed, "failed", v.Result.Failed, "method", string(v.Result.Method), "old_timers_until_s", v.Latest.Round(time.Millisecond).Seconds()}
			if k.Scope.All() {
				attrs = append([]any{"netns", v.Label()}, attrs...)
			}
			k.Log.Info("keepalive timers re-armed", attrs...)
		}
		failed += v.Result.Failed
	}
	switch {
	case err != nil:
		return cs, fmt.Errorf("re-arm: %w", err)
	case failed > 0:
		return cs, fmt.Errorf("re-arm: the kernel refused %d %s", failed, human.Plural(failed, "socket"))
	}
	return cs, nil
}
