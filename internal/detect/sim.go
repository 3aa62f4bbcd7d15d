package detect

import (
	"math"
	"time"
)

// The simulations below replay net/ipv4/tcp_timer.c over the timer wheel:
// each timer fires where kernel/time/timer.c files it, and each handler
// decides as the kernel's does. A timer's lateness is exact when it is
// re-armed on a boundary of its level and a range otherwise, so a run
// tracks a range of moments (a span, in jiffies) and, where a decision
// falls inside it, follows both outcomes with the range split. The
// result is the earliest and latest moment the connection can be
// dropped. A second run with every range at its middle gives the nominal
// moment.

// span is a range of moments or durations, in jiffies.
type span struct{ lo, hi float64 }

func pt(x float64) span          { return span{x, x} }
func (s span) add(o span) span   { return span{s.lo + o.lo, s.hi + o.hi} }
func (s span) neg() span         { return span{-s.hi, -s.lo} }
func (s span) mid() float64      { return (s.lo + s.hi) / 2 }
func (s span) union(o span) span { return span{math.Min(s.lo, o.lo), math.Max(s.hi, o.hi)} }

// split divides x by whether x+off reaches th: below holds the part of x
// where x+off < th is possible, above the part where x+off >= th is. A
// single point falls wholly on one side.
func split(x, off span, th float64) (below, above span, isBelow, isAbove bool) {
	isBelow = x.lo+off.lo < th
	isAbove = x.hi+off.hi >= th
	below = span{x.lo, math.Min(x.hi, th-off.lo)}
	above = span{math.Max(x.lo, th-off.hi), x.hi}
	return below, above, isBelow, isAbove
}

// maxSteps bounds a simulation's handler runs, branches included.
const maxSteps = 1 << 16

// wheel arms timers on the timer wheel of a kernel at hz; nominal puts
// every timer at the middle of its lateness.
type wheel struct {
	hz      int
	nominal bool
}

// ms is one jiffy in milliseconds.
func (w wheel) ms() float64 { return 1000 / float64(w.hz) }

func (w wheel) lateness(lo, hi float64) span {
	if w.nominal {
		m := (lo + hi) / 2
		return pt(m)
	}
	return span{lo, hi}
}

// arm is a timer armed at x, a moment aligned to align jiffies (the
// granularity of the timer that fired there, or 1 when not known), for
// delay jiffies. It returns when the timer fires and the alignment of
// that moment.
func (w wheel) arm(x span, delay, align int64, fromTimer bool) (span, int64) {
	delay = max(delay, 1)
	g := gran(delay, fromTimer, w.hz)
	lo, hi := late(delay, align, g)
	return x.add(w.lateness(float64(delay+lo), float64(delay+hi))), g
}

// armUntil is a timer armed at x to expire at until, a moment aligned to
// nothing known (a time counted from the last packet received, a user
// timeout): it fires 1 jiffy to one granularity after until.
func (w wheel) armUntil(x, until span, fromTimer bool) (span, int64) {
	d := until.add(x.neg())
	gHi := gran(int64(math.Ceil(math.Max(d.hi, 1))), fromTimer, w.hz)
	gLo := gran(int64(math.Max(math.Floor(d.lo), 1)), fromTimer, w.hz)
	return until.add(w.lateness(1, float64(gHi))), gLo
}

// outcome collects the ends a simulation reaches.
type outcome struct {
	drop   span // when the connection is dropped
	first  span // when the first keepalive probe goes out
	probed bool // a first probe was sent
	timers int  // timer expiries up to the drop (the last run's)
	some   bool
	cut    bool // maxSteps reached: the range is incomplete
	steps  int
	off    span // added to every recorded moment
}

func (o *outcome) step() bool {
	o.steps++
	if o.steps > maxSteps {
		o.cut = true
		return false
	}
	return true
}

func (o *outcome) add(drop, first span, probed bool, timers int) {
	drop = drop.add(o.off)
	first = first.add(o.off)
	if !o.some {
		o.drop, o.some, o.timers = drop, true, timers
	} else {
		o.drop = o.drop.union(drop)
	}
	if probed {
		if !o.probed {
			o.first, o.probed = first, true
		} else {
			o.first = o.first.union(first)
		}
	}
}

// kaSim is tcp_keepalive_timer on a connection whose peer is silent.
type kaSim struct {
	w      wheel
	t, i   int64 // keepalive_time_when, keepalive_intvl_when (jiffies)
	probes int   // keepalive_probes
	user   int64 // msecs_to_jiffies(TCP_USER_TIMEOUT); 0: none
	// silent is how long the peer had been silent at moment 0:
	// keepalive_time_elapsed at moment x is x+silent.
	silent span
	out    outcome
}

// fire runs the handler at x (aligned to align), with out probes
// unanswered so far.
func (k *kaSim) fire(x span, align int64, out, timers int, first span, probed bool) {
	if !k.out.step() {
		return
	}
	timers++
	below, above, isBelow, isAbove := split(x, k.silent, float64(k.t))
	if isBelow {
		// Idle for less than time (the timer was armed before the last
		// packet came): re-armed for the rest, time after that packet.
		until := pt(float64(k.t)).add(k.silent.neg())
		nx, g := k.w.armUntil(below, until, true)
		k.fire(nx, g, out, timers, first, probed)
	}
	if !isAbove {
		return
	}
	x = above
	if k.user > 0 {
		if out > 0 {
			// TCP_USER_TIMEOUT: dropped once silent that long with a
			// probe out, whatever the probe count says.
			b, a, isB, isA := split(x, k.silent, float64(k.user))
			if isA {
				k.out.add(a, first, probed, timers)
			}
			if !isB {
				return
			}
			x = b
		}
	} else if out >= k.probes {
		k.out.add(x, first, probed, timers)
		return
	}
	if !probed {
		first, probed = x, true
	}
	nx, g := k.w.arm(x, k.i, align, true)
	k.fire(nx, g, out+1, timers, first, probed)
}

// rtxSim is tcp_retransmit_timer on unacknowledged data the peer never
// acknowledges.
type rtxSim struct {
	w      wheel
	rtoMax int64
	// limit is how long after the first retransmission (retrans_stamp)
	// the connection may keep retransmitting, in milliseconds:
	// tcp_model_timeout, or TCP_USER_TIMEOUT when user is set (then the
	// timer is also clamped to it).
	limit float64
	user  bool
	// since is the time from the first retransmission to moment 0,
	// widened by the millisecond clock's rounding (retransmits_timed_out
	// compares millisecond stamps).
	since span
	out   outcome
}

// slop is how far the kernel's millisecond stamps can differ from the
// jiffies between two timer runs: each is truncated to the millisecond
// and taken a little after its tick.
const slopMS = 1.0

// decision is the offset from moment x to the time since the first
// retransmission that the kernel compares, with the stamps' rounding.
func (r *rtxSim) decision() span {
	if r.w.nominal {
		return r.since
	}
	s := slopMS / r.w.ms()
	return r.since.add(span{-s, s})
}

// fire runs the handler at x (aligned to align) after k retransmissions,
// rto being icsk_rto before this run doubles it. Each run arms the next in
// a loop, not a call: tcpka show runs this model, and a call per
// retransmission grew its stack, whose copy walked every frame (about 14
// page faults of a start). Only where a user timeout splits the moment in
// two does the earlier part run in a call of its own.
func (r *rtxSim) fire(x span, align int64, k int, rto int64, timers int) {
	for ; r.out.step(); k++ {
		timers++
		off := r.decision()
		lim := r.limit / r.w.ms()
		if k > 0 {
			// retransmits_timed_out: the first retransmission is limit or
			// more ago.
			below, above, isBelow, isAbove := split(x, off, lim)
			if isAbove {
				r.out.add(above, span{}, false, timers)
			}
			if !isBelow {
				return
			}
			x = below
		}
		// Retransmit; icsk_rto doubles up to rto_max.
		rto = min(2*rto, r.rtoMax)
		if !r.user {
			x, align = r.w.arm(x, rto, align, true)
			continue
		}
		// tcp_clamp_rto_to_user_timeout: armed for min(rto, the time left
		// to the user timeout), at least a jiffy.
		th := lim - float64(rto-1)
		open, clamped, isOpen, isClamped := split(x, off, th)
		if isOpen {
			nx, g := r.w.arm(open, rto, align, true)
			r.fire(nx, g, k+1, rto, timers)
		}
		if !isClamped {
			return
		}
		x = clamped
		var until span
		if r.w.nominal {
			e := (x.lo + off.lo) * r.w.ms()
			until = pt(x.lo + math.Max(1, math.Ceil((r.limit-e)/r.w.ms())))
		} else {
			// x + msecs_to_jiffies(limit - elapsed): the user timeout, within
			// the stamps' rounding (in off) and the jiffy msecs_to_jiffies
			// rounds up.
			until = span{lim, lim + 1}.add(off.neg())
			if x.hi+off.hi >= lim {
				until = until.union(x.add(pt(1))) // passed already: a jiffy
			}
			until.lo = math.Max(until.lo, x.lo+1)
		}
		x, align = r.w.armUntil(x, until, true)
	}
}

// zwpSim is tcp_probe_timer on a zero window the peer never reopens nor
// answers.
type zwpSim struct {
	w        wheel
	base     int64 // tcp_probe0_base: max(icsk_rto, TCP_RTO_MIN), jiffies
	rtoMax   int64
	retries2 int
	user     int64 // msecs_to_jiffies(TCP_USER_TIMEOUT); 0: none
	// stamp is the time from icsk_probes_tstamp (the first probe timer of
	// the episode) to moment 0.
	stamp span
	out   outcome
}

// maxProbe0Shift is ilog2(TCP_RTO_MAX / TCP_RTO_MIN) + 1, the most
// tcp_probe0_when shifts the base by.
const maxProbe0Shift = 10

// fire runs the handler at x (aligned to align) with out probes
// unanswered and backoff icsk_backoff.
func (z *zwpSim) fire(x span, align int64, out, backoff, timers int) {
	if !z.out.step() {
		return
	}
	timers++
	if z.user > 0 {
		below, above, isBelow, isAbove := split(x, z.stamp, float64(z.user))
		if isAbove {
			z.out.add(above, span{}, false, timers)
		}
		if !isBelow {
			return
		}
		x = below
	}
	if out >= z.retries2 {
		z.out.add(x, span{}, false, timers)
		return
	}
	// tcp_send_probe0: one more probe, a longer wait.
	out++
	if backoff < z.retries2 {
		backoff++
	}
	when := min(z.base<<min(backoff, maxProbe0Shift), z.rtoMax)
	if z.user == 0 {
		nx, g := z.w.arm(x, when, align, true)
		z.fire(nx, g, out, backoff, timers)
		return
	}
	// tcp_clamp_probe0_to_user_timeout: no later than the user timeout
	// (at least TCP_TIMEOUT_MIN, 2 jiffies).
	open, clamped, isOpen, isClamped := split(x, z.stamp, float64(z.user-when))
	if isOpen {
		nx, g := z.w.arm(open, when, align, true)
		z.fire(nx, g, out, backoff, timers)
	}
	if isClamped {
		until := pt(float64(z.user)).add(z.stamp.neg())
		until.lo = math.Max(until.lo, clamped.lo+2)
		until.hi = math.Max(until.hi, clamped.hi+2)
		nx, g := z.w.armUntil(clamped, until, true)
		z.fire(nx, g, out, backoff, timers)
	}
}

// band turns the outcomes of a ranged run and a nominal run, in jiffies
// from a moment inside jiffy 0, into durations: the moment lies anywhere
// in its jiffy, so the earliest is a jiffy less.
func band(rng, nom outcome, hz int) (b Band, first Band) {
	j := float64(jiffy(hz))
	d := func(x float64) time.Duration { return time.Duration(math.Max(x, 0) * j) }
	b = Band{Lower: d(rng.drop.lo - 1), Nominal: d(nom.drop.lo - 0.5), Upper: d(rng.drop.hi) + Slack, Timers: nom.timers}
	b.Nominal = min(max(b.Nominal, b.Lower), b.Upper)
	if rng.probed {
		first = Band{Lower: d(rng.first.lo - 1), Nominal: d(nom.first.lo - 0.5), Upper: d(rng.first.hi) + Slack}
		first.Nominal = min(max(first.Nominal, first.Lower), first.Upper)
	}
	return b, first
}
