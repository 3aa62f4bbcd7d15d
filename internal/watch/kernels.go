package watch

import (
	"fmt"
	"log/slog"
	"strings"

	"github.com/tcpka/tcpka/internal/enforce"
	"github.com/tcpka/tcpka/internal/keepalive"
	"github.com/tcpka/tcpka/internal/netns"
	"github.com/tcpka/tcpka/internal/netscope"
	"github.com/tcpka/tcpka/internal/profile"
	"github.com/tcpka/tcpka/internal/sysctl"
)

// NSKernel is the sysctls of the namespace a command's handle is bound
// to, written in transactions under the lock. Only the first apply keeps a
// revert record: a correction must not overwrite the values from before
// tcpka with the drifted ones.
type NSKernel struct {
	NS       *netscope.NS
	State    sysctl.State
	Profile  string
	recorded bool
}

// SetProfile names a reloaded profile in the records written from now on.
func (k *NSKernel) SetProfile(p *profile.Profile) { k.Profile = p.Name }

// Read reads the namespace's sysctls.
func (k *NSKernel) Read() (keepalive.Settings, error) { return k.NS.Read() }

// Apply writes the keys of s that differ, all or none, under the lock.
func (k *NSKernel) Apply(s keepalive.Settings) (sysctl.Result, error) {
	unlock, err := k.State.Lock()
	if err != nil {
		return sysctl.Result{}, fmt.Errorf("watch: %w", err)
	}
	defer unlock()
	rec := ""
	if !k.recorded {
		rec, k.recorded = k.Profile, true
	}
	return k.NS.Transact(k.State, sysctl.Request{What: "watch", Want: s, Record: rec})
}

// AllKernel is watch --all-netns: Sweep visits every network namespace
// under one lock and runs a transaction in each, as apply --all-netns
// does; Read and Apply are the handle's own namespace's.
type AllKernel struct {
	NSKernel
	Log *slog.Logger
}

// Sweep brings every namespace to s; first records the values for revert.
func (k *AllKernel) Sweep(s keepalive.Settings, first bool) ([]Correction, error) {
	unlock, err := k.State.Lock()
	if err != nil {
		return nil, fmt.Errorf("watch: %w", err)
	}
	defer unlock()
	var out []Correction
	visits, l, err := netscope.Every(k.NS.ProcRoot(), netns.DefaultRunDir, func(v *netscope.Visit, fs sysctl.FS) error {
		rec := ""
		if first { // as for one namespace: only the first apply is recorded
			rec = k.Profile
		}
		var id sysctl.NSID
		if k.NS.RealProc() {
			id = netscope.IdentityHere()
		}
		res, err := k.State.Transact(fs, sysctl.Request{What: "watch", Want: s, Record: rec, NS: id})
		if err != nil {
			return err
		}
		for _, c := range res.Changes {
			out = append(out, Correction{Netns: v.Label(), Change: c})
		}
		return nil
	})
	if err != nil {
		return out, fmt.Errorf("watch: %w", err)
	}
	if l.Unreadable > 0 && k.Log != nil {
		k.Log.Warn("network namespaces not read", "processes", l.Unreadable, "reason", "permission denied")
	}
	var failed []string
	for i := range visits {
		// A namespace that went away since it was listed (its last
		// process exited) is not a failure: there is nothing to keep.
		if visits[i].Err != nil && !visits[i].Gone {
			failed = append(failed, visits[i].Label())
		}
	}
	if len(failed) > 0 {
		return out, fmt.Errorf("watch: failed in %d of %d network namespaces: %s", len(failed), len(visits), strings.Join(failed, "; "))
	}
	return out, nil
}

// Enforcing keeps the profile's BPF program attached to a cgroup ahead of
// every read and apply of the sysctls. Attach is idempotent ("unchanged"
// when the pinned program already has the values); a cgroup made again
// has a new id, so it gets a new attachment and the stale pin is removed.
// A failure fails the check: /healthz says why.
type Enforcing struct {
	Kernel
	Dir     string
	Store   enforce.Store
	Profile *profile.Profile
	Log     *slog.Logger
}

// SetProfile enforces a reloaded profile from the next check on.
func (k *Enforcing) SetProfile(p *profile.Profile) {
	k.Profile = p
	if ps, ok := k.Kernel.(profileSetter); ok {
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
	return k.Kernel.Read()
}

// Apply attaches if needed, then applies.
func (k *Enforcing) Apply(s keepalive.Settings) (sysctl.Result, error) {
	if err := k.ensure(); err != nil {
		return sysctl.Result{}, err
	}
	return k.Kernel.Apply(s)
}

// EnforcingSweeper is Enforcing over watch --all-netns.
type EnforcingSweeper struct {
	*Enforcing
	Sweeper Sweeper
}

// Sweep attaches if needed, then sweeps.
func (k *EnforcingSweeper) Sweep(s keepalive.Settings, first bool) ([]Correction, error) {
	if err := k.ensure(); err != nil {
		return nil, err
	}
	return k.Sweeper.Sweep(s, first)
}

// WithEnforcement wraps k so that the profile stays enforced on cgroup dir.
func WithEnforcement(k Kernel, dir string, st enforce.Store, p *profile.Profile, log *slog.Logger) Kernel {
	e := &Enforcing{Kernel: k, Dir: dir, Store: st, Profile: p, Log: log}
	if sw, ok := k.(Sweeper); ok {
		return &EnforcingSweeper{Enforcing: e, Sweeper: sw}
	}
	return e
}
