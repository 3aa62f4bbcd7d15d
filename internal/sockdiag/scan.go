package sockdiag

import (
	"errors"
	"time"

	"github.com/tcpka/tcpka/internal/detect"
	"github.com/tcpka/tcpka/internal/keepalive"
	"github.com/tcpka/tcpka/internal/sockopt"
)

// OwnerSource maps inodes to processes: an *Owners, or a test's fake.
type OwnerSource interface {
	Owner(inode uint32) (Owner, bool)
	Comm(pid int) string
}

// OptionSource reads a socket's options from its owner: an *OptionReader,
// or a test's fake.
type OptionSource interface {
	Read(o Owner, inode uint32) (sockopt.Options, error)
}

// Filter selects sockets.
type Filter struct {
	States      States
	Port        int  // local or peer port (0: any)
	PID         int  // held by this process (0: any; needs Owners)
	NoKeepalive bool // keepalive off only
	// Dying: only connections whose peer has stopped answering
	// (detect.Live.Dying: keepalive probes, retransmissions or zero-window
	// probes out). Decided from the dump before any owner is looked up.
	Dying bool
}

// Scan is one pass over a namespace's TCP sockets: the sock_diag dump,
// each socket's owner and options where asked, the verdict of the one
// model, and the filters. tcpka sockets and tcpka metrics both run it.
type Scan struct {
	Lister  Lister
	Owners  OwnerSource  // nil: owners not looked up
	Options OptionSource // nil: options not read (needs Owners)
	Sysctls keepalive.Settings
	Net     detect.Net
	Filter  Filter
	// Model judges every row by the one model (Row.Live, Row.Dying and,
	// where the socket's options were read, Row.Stale and the detection
	// figure its armed timer gives it). Filter.Dying implies it.
	Model bool
	// NotPermitted counts sockets whose options could not be read: not
	// permitted (another user namespace, an LSM).
	NotPermitted int
}

// Row is one socket with everything the scan knows about it. fn gets the
// same Row (and Socket) each time: copy what it keeps.
type Row struct {
	Socket   *Socket
	Verdict  Verdict
	Owner    Owner
	HasOwner bool
	Command  string // the owner's command, when options are read

	// With Scan.Model: the model's input, with the socket's own values
	// where they were read and the namespace's sysctls elsewhere.
	Live detect.Live
	// IsDying: the peer stopped answering; Dying says why and when the
	// kernel drops the connection.
	Dying   detect.Dying
	IsDying bool
	// Stale (options read): the keepalive timer was armed with longer
	// values than those in force and fires StaleUntil from the read;
	// Verdict.Bounds.Idle then counts from that timer.
	Stale      bool
	StaleUntil time.Duration
}

// Run streams the sockets through the filters into fn; it runs in the
// network namespace of the calling thread (the dump answers for that one).
func (sc *Scan) Run(fn func(*Row) error) error {
	f := sc.Filter
	var row Row
	return sc.Lister.Each(f.States, func(s *Socket) error {
		if f.Port != 0 && int(s.Local.Port()) != f.Port && int(s.Peer.Port()) != f.Port {
			return nil
		}
		row = Row{Socket: s}
		model := sc.Model || f.Dying
		if f.Dying {
			// Whether the peer answers is in the dump; the values (the
			// owner's, read below) only say when the kernel gives up.
			if _, dying := s.Live(sc.Sysctls, false, sc.Net).Dying(); !dying {
				return nil
			}
		}
		if sc.Owners != nil {
			row.Owner, row.HasOwner = sc.Owners.Owner(s.Inode)
			if f.PID > 0 && (!row.HasOwner || row.Owner.PID != f.PID) {
				return nil
			}
		}
		var opts *sockopt.Options
		if row.HasOwner && sc.Options != nil {
			row.Command = sc.Owners.Comm(row.Owner.PID)
			o, err := sc.Options.Read(row.Owner, s.Inode)
			switch {
			case err == nil:
				opts = &o
			case errors.Is(err, sockopt.ErrNotPermitted):
				sc.NotPermitted++
			}
			// ErrProcessGone, ErrNoSuchFD: the owner exited or closed the
			// socket mid-scan; the socket is listed without options.
		}
		row.Verdict = Judge(s, opts, sc.Sysctls, sc.Net)
		if f.NoKeepalive && row.Verdict.Keepalive != KeepaliveOff {
			return nil
		}
		if model {
			row.JudgeLive(sc.Sysctls, sc.Net)
		}
		return fn(&row)
	})
}

// JudgeLive runs the one model on the row: whether it is dying and, with
// its options read, whether its keepalive timer still runs on older values
// and what that makes its idle detection: the drop the armed timer leads
// to when the peer falls silent now, if that is later than the values
// alone give.
func (r *Row) JudgeLive(sys keepalive.Settings, net detect.Net) {
	v := &r.Verdict
	eff, on := sys, v.Keepalive == KeepaliveOn
	if v.HasOptions {
		eff = v.Effective
	}
	r.Live = r.Socket.Live(eff, on, net)
	r.Dying, r.IsDying = r.Live.Dying()
	if !v.HasOptions {
		return
	}
	if r.Stale, r.StaleUntil = r.Live.Stale(); r.Stale {
		if d := r.Live.Fate().Drop; !d.Never {
			v.Bounds.Idle = max(v.Bounds.Idle, int((d.Nominal+time.Second/2)/time.Second))
		}
	}
}

// Counts is the live-socket summary tcpka metrics exports: established
// TCP sockets with keepalive off, following the sysctls, or with their
// own values (sockets whose options could not be read count in none), and
// the longest bound among them per state, idle and data in flight, in
// seconds (0 or -1: none known).
type Counts struct {
	Off, Sysctl, Own     int
	WorstIdle, WorstData int
	// Stale: keepalive timers still armed with older, longer values.
	Stale int
	// Dying: connections whose peer stopped answering, by reason.
	Dying map[string]int
}

// Count runs a scan of the established sockets with every owner's options
// (root) and counts them.
func Count(lister Lister, owners OwnerSource, options OptionSource, sys keepalive.Settings, net detect.Net) (Counts, error) {
	states, _ := ParseStates("established")
	sum := NewSummary()
	sc := Scan{Lister: lister, Owners: owners, Options: options, Sysctls: sys, Net: net, Filter: Filter{States: states}, Model: true}
	if err := sc.Run(func(r *Row) error { sum.Add(r); return nil }); err != nil {
		return Counts{}, err
	}
	return Counts{Off: sum.KeepaliveOff, Sysctl: sum.Sysctl, Own: sum.Own, WorstIdle: sum.WorstS, WorstData: sum.WorstDataS,
		Stale: sum.Stale, Dying: sum.Dying}, nil
}
