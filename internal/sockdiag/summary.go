package sockdiag

import "time"

// Summary counts verdicts: the one-screen answer to "does my tuning reach
// my connections?".
type Summary struct {
	Total        int
	KeepaliveOn  int
	KeepaliveOff int
	// KeepaliveUnknown: another timer (retransmission) hides keepalive and
	// no options were read.
	KeepaliveUnknown int
	// Of KeepaliveOn, when options were read:
	Sysctl      int // idle/intvl/cnt equal to the sysctls
	Own         int // their own idle/intvl/cnt
	UserTimeout int // TCP_USER_TIMEOUT set (counted in Sysctl or Own too)
	// NoOptions: keepalive on, but the options could not be read (no
	// owner found, owner gone mid-scan, not permitted).
	NoOptions int
	// WorstS is the longest detection time among keepalive sockets whose
	// options were read, -1 when there is none.
	WorstS int
	// WorstDataS is the longest data-in-flight bound among sockets whose
	// options were read (keepalive on or off), -1 when there is none.
	WorstDataS int
	// Of the rows the one model judged (Scan.Model): Stale, keepalive
	// timers armed with longer values than those in force (options read),
	// the last of them firing StaleUntilS from the read; Dying, the
	// connections whose peer stopped answering, by detect.Reason*.
	Stale       int
	StaleUntilS int
	Dying       map[string]int
}

// NewSummary returns an empty summary.
func NewSummary() *Summary { return &Summary{WorstS: -1, WorstDataS: -1} }

// Add counts one socket.
func (s *Summary) Add(r *Row) {
	if r.Stale {
		s.Stale++
		s.StaleUntilS = max(s.StaleUntilS, int((r.StaleUntil+time.Second-1)/time.Second))
	}
	if r.IsDying {
		if s.Dying == nil {
			s.Dying = map[string]int{}
		}
		s.Dying[r.Dying.Reason]++
	}
	s.AddVerdict(r.Verdict)
}

// AddVerdict counts one socket from its verdict alone.
func (s *Summary) AddVerdict(v Verdict) {
	s.Total++
	s.WorstDataS = max(s.WorstDataS, v.Bounds.Data)
	switch v.Keepalive {
	case KeepaliveOff:
		s.KeepaliveOff++
		return
	case KeepaliveUnknown:
		s.KeepaliveUnknown++
		return
	}
	s.KeepaliveOn++
	if !v.HasOptions {
		s.NoOptions++
		return
	}
	if v.Own {
		s.Own++
	} else {
		s.Sysctl++
	}
	if v.Options.Settings.UserTimeout > 0 {
		s.UserTimeout++
	}
	if d := v.DetectionS(); d > s.WorstS {
		s.WorstS = d
	}
}
