package rearm

import (
	"context"
	"time"

	"github.com/tcpka/tcpka/internal/netscope"
	"github.com/tcpka/tcpka/internal/sysctl"
)

// Visited is one namespace's pass of Scope.
type Visited struct {
	*netscope.Member
	Result
	// Latest is, of the connections re-armed (a dry run: that would be),
	// how long the old timer had left: until then they kept the values
	// from before the last change.
	Latest time.Duration
}

// Scope runs a pass (a dry run with dry) in every network namespace of
// the handle, one after the other on one locked thread inside each,
// keeping the loaded programs across them. A namespace whose pass fails
// has the error in its Member.Err; for one namespace it is also returned.
func Scope(ctx context.Context, sc *netscope.Scope, opt Options, dry bool) ([]Visited, error) {
	if opt.ProcRoot == "" {
		opt.ProcRoot = sc.ProcRoot()
	}
	r := New(opt)
	defer r.Close()
	return r.Scope(ctx, sc, dry)
}

// Scope is the package's Scope with what r loaded: a watch keeps one
// Rearmer and makes a pass at every check.
func (r *Rearmer) Scope(ctx context.Context, sc *netscope.Scope, dry bool) ([]Visited, error) {
	var latest time.Duration
	each := r.opt.Each
	r.mu.Lock()
	r.opt.Each = func(s Socket) {
		if s.Verdict == Rearmed && s.DueIn > latest {
			latest = s.DueIn
		}
		if each != nil {
			each(s)
		}
	}
	r.mu.Unlock()
	defer func() { r.mu.Lock(); r.opt.Each = each; r.mu.Unlock() }()
	got := map[*netscope.Member]Visited{}
	v, err := sc.Visit(func(m *netscope.Member, _ sysctl.FS) error {
		latest = 0
		var res Result
		var err error
		if dry {
			res, err = r.DryRun(ctx)
		} else {
			res, err = r.Namespace(ctx)
		}
		got[m] = Visited{Member: m, Result: res, Latest: latest}
		return err
	})
	out := make([]Visited, 0, len(v.Members))
	for i := range v.Members {
		m := &v.Members[i]
		x, ok := got[m]
		if !ok {
			x = Visited{Member: m}
		}
		out = append(out, x)
	}
	return out, err
}
