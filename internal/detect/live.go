package detect

import (
	"fmt"
	"math"
	"strconv"
	"time"

	"github.com/tcpka/tcpka/internal/keepalive"
)

// Timer is the socket timer the kernel reports armed (inet_diag's
// idiag_timer).
type Timer uint8

// Timers, as inet_diag numbers them.
const (
	TimerNone       Timer = 0
	TimerRetransmit Timer = 1 // retransmission, tail loss probe or reordering
	TimerKeepalive  Timer = 2
	TimerTimeWait   Timer = 3
	TimerProbe0     Timer = 4 // zero-window probe (persist)
)

// Reasons a connection is dying, as Dying.Reason gives them.
const (
	ReasonKeepalive  = "keepalive"  // keepalive probes unanswered
	ReasonRetransmit = "retransmit" // data retransmitted, never acknowledged
	ReasonWindow     = "window"     // zero-window probes unanswered
)

// Live is one connection as the kernel shows it, the input of the model
// for what becomes of it while its peer is silent: the armed timer from
// sock_diag, the counters of tcp_info, and the values in force for it.
// sockdiag fills it from a dump (Socket.Live).
type Live struct {
	// Timer is the timer armed on the socket, Expires how long until its
	// expiry as it was asked for (idiag_expires): the timer wheel fires it
	// up to one granularity later.
	Timer   Timer
	Expires time.Duration
	// ArmedFor is the delay the keepalive timer was armed with, where the
	// caller knows it (a watcher that saw the sysctls change knows the old
	// tcp_keepalive_time); it sets the timer's wheel level, so how late it
	// can fire. 0: the longer of Expires and the value in force (time, or
	// the interval while probing), which is right for a timer armed with
	// the values in force.
	ArmedFor time.Duration
	// Out is icsk_probes_out (tcpi_probes, idiag_retrans of a keepalive or
	// zero-window timer): probes sent and not answered; any ACK from the
	// peer resets it.
	Out int
	// Retransmits is icsk_retransmits (tcpi_retransmits): RTO expiries
	// since data was last acknowledged; Backoff is icsk_backoff
	// (tcpi_backoff); RTO is icsk_rto (tcpi_rto), doubled by each RTO
	// retransmission.
	Retransmits, Backoff int
	RTO                  time.Duration
	// SinceRetransmit is the time since the first retransmission of the
	// current episode (retrans_stamp), when SinceRetransmitKnown:
	// tcpi_total_rto_time of a socket whose only RTO recovery is this one.
	// Otherwise it is worked out from Backoff and RTO.
	SinceRetransmit      time.Duration
	SinceRetransmitKnown bool
	// LastDataRecv and LastAckRecv are tcpi_last_data_recv and
	// tcpi_last_ack_recv: how long ago the peer's last data and last
	// acknowledgement came. The keepalive timer counts idleness from the
	// later of the two (keepalive_time_elapsed).
	LastDataRecv, LastAckRecv time.Duration
	// KeepaliveOn is SO_KEEPALIVE.
	KeepaliveOn bool
	// Settings are the values in force for the socket: its own
	// TCP_KEEPIDLE/INTVL/CNT over its namespace's sysctls, its namespace's
	// tcp_retries2 and its TCP_USER_TIMEOUT.
	Settings keepalive.Settings
	// Net is its namespace's RTO bounds and the kernel's tick rate.
	Net Net
}

// Silent is how long the peer has been silent: since its last data or
// acknowledgement, whichever came later.
func (l Live) Silent() time.Duration { return min(l.LastDataRecv, l.LastAckRecv) }

// Fate is what becomes of a connection whose peer is silent from now on,
// counted from now (the moment its state was read).
type Fate struct {
	// Never: nothing ends it while the peer is silent (idle without
	// SO_KEEPALIVE, no timer armed).
	Never bool
	// Reason is what drops it: ReasonKeepalive, ReasonRetransmit or
	// ReasonWindow.
	Reason string
	// FirstProbe is when the first keepalive probe goes out, when none is
	// out yet: the later of the armed timer's expiry and the last packet
	// + the time in force, each as late as the timer wheel fires it.
	// Never otherwise.
	FirstProbe Band
	// Drop is when the kernel drops the connection.
	Drop Band
	// Rule says in a few words which rule decides.
	Rule string
}

// Dying is a connection whose peer has stopped answering: what it is
// waiting for, for how long, and when the kernel gives up.
type Dying struct {
	// Reason is ReasonKeepalive (keepalive probes out), ReasonRetransmit
	// (data retransmitted by the RTO timer) or ReasonWindow (zero-window
	// probes out).
	Reason string
	// Unanswered is how many probes or retransmissions are out.
	Unanswered int
	// Silent is how long the peer has been silent.
	Silent time.Duration
	// DropIn is when, from now, the kernel drops the connection.
	DropIn Band
	// Rule says in a few words which rule decides.
	Rule string
}

// Why says it in words: "2 keepalive probes unanswered", "1
// retransmission unanswered".
func (d Dying) Why() string {
	what := map[string]string{ReasonKeepalive: "keepalive probe", ReasonRetransmit: "retransmission", ReasonWindow: "zero-window probe"}[d.Reason]
	if d.Unanswered != 1 {
		what += "s"
	}
	return strconv.Itoa(d.Unanswered) + " " + what + " unanswered"
}

// Dying says whether the peer has stopped answering, and if so when the
// kernel drops the connection: keepalive probes out (keepalive timer),
// retransmissions out (retransmit timer with icsk_retransmits), or
// zero-window probes out (persist timer). A tail loss probe or a first
// RTO still pending, and a probe answered, are not dying.
func (l Live) Dying() (Dying, bool) {
	var d Dying
	switch {
	case l.Timer == TimerKeepalive && l.Out > 0:
		d.Reason, d.Unanswered = ReasonKeepalive, l.Out
	case l.Timer == TimerRetransmit && l.Retransmits > 0:
		d.Reason, d.Unanswered = ReasonRetransmit, l.Retransmits
	case l.Timer == TimerProbe0 && l.Out > 0:
		d.Reason, d.Unanswered = ReasonWindow, l.Out
	default:
		return d, false
	}
	f := l.Fate()
	d.Silent, d.DropIn, d.Rule = l.Silent(), f.Drop, f.Rule
	return d, true
}

// Stale says whether the socket's keepalive timer was armed with values
// older than those in force, and until when it keeps them: a timer armed
// with the values in force fires at most time (or, with a probe out, the
// interval) after it was armed, so one that fires later was armed with
// longer values the sysctls had before. When it fires the kernel weighs
// the idle time against the values then in force. until is the expiry
// (Expires); the timer wheel may fire it up to a granularity later.
func (l Live) Stale() (stale bool, until time.Duration) {
	if l.Timer != TimerKeepalive || !l.KeepaliveOn {
		return false, 0
	}
	limit := secs(l.Settings.Time)
	if l.Out > 0 {
		limit = secs(l.Settings.Intvl)
	}
	hz := l.hz()
	if l.Expires > limit+jiffy(hz)+time.Millisecond {
		return true, l.Expires
	}
	return false, 0
}

func (l Live) hz() int {
	if l.Net.HZ > 0 {
		return l.Net.HZ
	}
	return DefaultHZ
}

// Fate replays the kernel's handler for the armed timer from the socket's
// state, the peer silent from now on: tcp_keepalive_timer for the
// keepalive timer (the armed expiry first, then time after the last packet
// as the values in force say, then the probes, each interval as late as
// the timer wheel makes it, dropped after the probe count or at the first
// timer at or past TCP_USER_TIMEOUT with a probe out);
// tcp_retransmit_timer for the retransmit timer (until tcp_retries2's
// budget or the user timeout is spent since the first retransmission);
// tcp_probe_timer for the zero-window probe timer (dropped once
// tcp_retries2 probes are out, or the user timeout has passed since the
// first).
func (l Live) Fate() Fate {
	switch l.Timer {
	case TimerKeepalive:
		return l.keepaliveFate()
	case TimerRetransmit:
		return l.retransmitFate()
	case TimerProbe0:
		return l.windowFate()
	}
	return Fate{Never: true, FirstProbe: Band{Never: true}, Drop: Band{Never: true}, Rule: "no timer armed: an idle connection without SO_KEEPALIVE is never dropped"}
}

// jspan turns a duration the kernel reported in milliseconds from a count
// of jiffies back into jiffies: exact where HZ divides 1000, within a
// jiffy elsewhere.
func jspan(d time.Duration, hz int) span {
	j := float64(d) / float64(jiffy(hz))
	if 1000%hz == 0 {
		return pt(math.Round(j))
	}
	return span{math.Floor(j) - 1, math.Ceil(j) + 1}
}

// remaining is how long until the armed timer's expiry, in jiffies, for a
// timer of granularity g: Expires, or when that is 0 (the expiry has come
// and the timer waits for its bucket, which comes up to a granularity
// after it) anything back to g-1 jiffies past.
func (l Live) remaining(w wheel, g int64) span {
	if l.Expires > 0 {
		return w.pick(jspan(l.Expires, w.hz))
	}
	return w.pick(span{float64(1 - g), 0})
}

// next is when the armed timer fires: its expiry, 1 jiffy to g later, and
// not before now.
func (l Live) next(w wheel, g int64) span {
	x := l.remaining(w, g).add(w.lateness(1, float64(g)))
	x.lo = math.Max(x.lo, 0)
	x.hi = math.Max(x.hi, x.lo)
	return x
}

func (w wheel) pick(s span) span {
	if w.nominal {
		return pt(s.mid())
	}
	return s
}

func (l Live) keepaliveFate() Fate {
	hz := l.hz()
	s := l.Settings
	armed := l.ArmedFor
	if armed <= 0 {
		armed = max(l.Expires, secs(s.Time))
		if l.Out > 0 {
			armed = max(l.Expires, secs(s.Intvl))
		}
	}
	g := gran(toJiffies(armed, hz), false, hz)
	run := func(nominal bool) outcome {
		w := wheel{hz: hz, nominal: nominal}
		k := kaSim{w: w, t: int64(s.Time) * int64(hz), i: int64(s.Intvl) * int64(hz), probes: s.Probes,
			user: userJiffies(s.UserTimeout, hz), silent: w.pick(jspan(l.Silent(), hz))}
		// The armed timer fires 1 jiffy to a granularity after its
		// expiry, on a boundary of its level.
		x := l.next(w, g)
		k.fire(x, g, l.Out, 0, span{}, l.Out > 0)
		return k.out
	}
	rng, nom := run(false), run(true)
	drop, first := band(rng, nom, hz)
	f := Fate{Reason: ReasonKeepalive, Drop: drop, FirstProbe: first}
	if l.Out > 0 {
		f.FirstProbe = Band{Never: true, Rule: "probing already"}
	}
	switch {
	case s.UserTimeout > 0:
		f.Rule = fmt.Sprintf("keepalive %d/%d/%d with TCP_USER_TIMEOUT %s: dropped at the first probe timer at or past it", s.Time, s.Intvl, s.Probes, keepalive.FormatUserTimeout(s.UserTimeout))
	default:
		f.Rule = fmt.Sprintf("keepalive %d/%d/%d: dropped when the timer finds %d probes unanswered", s.Time, s.Intvl, s.Probes, s.Probes)
	}
	if stale, until := l.Stale(); stale {
		f.Rule += fmt.Sprintf("; its timer, armed with older values, fires first in %s", roundMS(until))
	}
	return f
}

func roundMS(d time.Duration) string { return d.Round(time.Millisecond).String() }

// sinceRetransmit works out the time from the first retransmission to now
// from the backoff: the RTO timers after it doubled from the RTO before
// the episode (icsk_rto >> backoff, where rto_max did not cap it), each
// as late as the timer wheel fires it, and the current one has run for
// its delay less Expires.
func (l Live) sinceRetransmit(w wheel, rtoJ, rtoMax int64) span {
	hz := w.hz
	if l.SinceRetransmitKnown {
		s := float64(l.SinceRetransmit) / float64(jiffy(hz))
		slop := slopMS / w.ms()
		if w.nominal {
			return pt(s)
		}
		return span{s - slop, s + slop}
	}
	k := max(l.Retransmits, 1)
	shift := min(l.Backoff, k)
	base := rtoJ >> shift
	if rtoJ >= rtoMax {
		base = max(toJiffies(RTOMin, hz), rtoMax>>shift)
	}
	x, align := pt(0), int64(1)
	for i := 1; i < k; i++ {
		x, align = w.arm(x, min(base<<i, rtoMax), align, true)
	}
	armed := min(base<<k, rtoMax)
	return x.add(pt(float64(armed)).add(l.remaining(w, gran(armed, true, hz)).neg()))
}

func (l Live) retransmitFate() Fate {
	hz := l.hz()
	r := l.Net.Retrans
	s := l.Settings
	rto := l.RTO
	if rto <= 0 {
		rto = r.MinRTO(hz)
	}
	rtoJ, rtoMax := toJiffies(rto, hz), toJiffies(r.rtoMax(), hz)
	limit, rule := r.Budget(s.Retries2), fmt.Sprintf("retransmission: tcp_retries2 %d, budget %s after the first retransmission", s.Retries2, roundMS(r.Budget(s.Retries2)))
	if s.UserTimeout > 0 {
		limit, rule = s.UserTimeout, fmt.Sprintf("retransmission with TCP_USER_TIMEOUT %s after the first retransmission", keepalive.FormatUserTimeout(s.UserTimeout))
	}
	g := gran(rtoJ, true, hz)
	run := func(nominal bool) outcome {
		w := wheel{hz: hz, nominal: nominal}
		sim := rtxSim{w: w, rtoMax: rtoMax, limit: float64(limit) / float64(time.Millisecond), user: s.UserTimeout > 0}
		next := l.next(w, g)
		if l.Retransmits > 0 {
			sim.since = l.sinceRetransmit(w, rtoJ, rtoMax)
			sim.fire(next, g, l.Retransmits, rtoJ, 0)
			return sim.out
		}
		// Nothing retransmitted by the RTO timer yet: the timer is the
		// first RTO, or a tail loss probe with the RTO timer after it.
		sim.out.off = next
		sim.fire(pt(0), g, 0, rtoJ, 0)
		if !nominal {
			x, g2 := w.arm(next, rtoJ, g, true)
			sim.out.off = x
			sim.fire(pt(0), g2, 0, rtoJ, 1)
		}
		return sim.out
	}
	drop, _ := band(run(false), run(true), hz)
	return Fate{Reason: ReasonRetransmit, Drop: drop, FirstProbe: Band{Never: true}, Rule: rule}
}

func (l Live) windowFate() Fate {
	hz := l.hz()
	r := l.Net.Retrans
	s := l.Settings
	base := toJiffies(max(l.RTO, RTOMin), hz)
	rtoMax := toJiffies(r.rtoMax(), hz)
	when := func(backoff int) int64 { return min(base<<min(backoff, maxProbe0Shift), rtoMax) }
	g := gran(when(l.Backoff), true, hz)
	run := func(nominal bool) outcome {
		w := wheel{hz: hz, nominal: nominal}
		z := zwpSim{w: w, base: base, rtoMax: rtoMax, retries2: s.Retries2, user: userJiffies(s.UserTimeout, hz)}
		// icsk_probes_tstamp: the first probe timer of the episode. The
		// probes out were sent at the timers before this one, each after
		// the backoff then; with answered probes before them (a backoff
		// past the count) it is earlier still, by how much not known.
		x, align := pt(0), int64(1)
		for b := l.Backoff - l.Out + 1; b < l.Backoff; b++ {
			x, align = w.arm(x, when(b), align, true)
		}
		z.stamp = x.add(pt(float64(when(l.Backoff)))).add(l.remaining(w, g).neg())
		if l.Backoff > l.Out && !nominal {
			z.stamp.hi = math.Inf(1)
		}
		z.fire(l.next(w, g), g, l.Out, l.Backoff, 0)
		return z.out
	}
	drop, _ := band(run(false), run(true), hz)
	rule := fmt.Sprintf("zero-window probes: dropped once tcp_retries2 %d are unanswered", s.Retries2)
	if s.UserTimeout > 0 {
		rule += fmt.Sprintf(", or at the first probe timer %s after the first", s.UserTimeout)
	}
	return Fate{Reason: ReasonWindow, Drop: drop, FirstProbe: Band{Never: true}, Rule: rule}
}
