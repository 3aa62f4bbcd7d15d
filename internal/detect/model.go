package detect

import (
	"fmt"
	"math"
	"math/bits"
	"time"

	"github.com/tcpka/tcpka/internal/human"
	"github.com/tcpka/tcpka/internal/keepalive"
)

// Kernel constants from include/net/tcp.h.
const (
	// RTOMin is TCP_RTO_MIN (HZ/5): the floor under any RTO and the base
	// of tcp_model_timeout for an established connection.
	RTOMin = 200 * time.Millisecond
	// RTOMax is TCP_RTO_MAX, the default of tcp_rto_max_ms.
	RTOMax = 120 * time.Second
	// DefaultRetries2 is the compiled default of tcp_retries2.
	DefaultRetries2 = 15
)

// Slack is added to every band's upper end for what the timer wheel does
// not cover: softirq and scheduler delay before the failing read returns,
// on a machine that may be busy.
const Slack = 250 * time.Millisecond

// Retrans is what a network namespace (and a connection) add to
// tcp_retries2 for the fate of unacknowledged data: the RTO bounds and
// the tail loss probe. The zero value is the kernel's defaults.
type Retrans struct {
	RTO    time.Duration // the connection's RTO when the data goes out (0: MinRTO)
	RTOMin time.Duration // net.ipv4.tcp_rto_min_us (0: RTOMin)
	RTOMax time.Duration // net.ipv4.tcp_rto_max_ms (0: RTOMax)
	// PTO is the tail loss probe's delay: the first unanswered segment is
	// re-sent once by TLP before the RTO timer starts (0: the RTO, which is
	// what tcp_schedule_loss_probe gives one segment on a short path:
	// min(2*srtt + tcp_rto_min, RTO)).
	PTO time.Duration
	// NoTLP: tcp_early_retrans below 3, no tail loss probe.
	NoTLP bool
}

func (r Retrans) rtoMax() time.Duration {
	if r.RTOMax > 0 {
		return r.RTOMax
	}
	return RTOMax
}

// MinRTO is the smallest RTO a real connection gets: tcp_rto_min plus a
// round trip, rounded up to the next jiffy (204 ms at HZ=250).
func (r Retrans) MinRTO(hz int) time.Duration {
	min := r.RTOMin
	if min <= 0 {
		min = RTOMin
	}
	return time.Duration(toJiffies(min+time.Microsecond, hz)) * jiffy(hz)
}

// Budget is tcp_model_timeout(retries2, TCP_RTO_MIN): how long after the
// first retransmission the kernel keeps retransmitting.
func (r Retrans) Budget(retries2 int) time.Duration {
	thresh := bits.Len64(uint64(r.rtoMax()/RTOMin)) - 1 // ilog2
	if retries2 <= thresh {
		return time.Duration((int64(2)<<retries2)-1) * RTOMin
	}
	return time.Duration((int64(2)<<thresh)-1)*RTOMin + time.Duration(retries2-thresh)*r.rtoMax()
}

// Case is one connection whose peer went silent.
type Case struct {
	// Settings are the connection's effective values: its own options
	// over its namespace's sysctls, tcp_retries2 included, and its
	// TCP_USER_TIMEOUT.
	Settings     keepalive.Settings
	KeepaliveOff bool    // no SO_KEEPALIVE
	Data         bool    // unacknowledged data in flight
	Retrans      Retrans // used when Data is set
	HZ           int     // kernel tick rate (0: DefaultHZ)
}

// Band is a prediction: when the survivor's connection fails, counted
// from the moment the peer went silent (idle: keepalive switched on over
// a silent peer) or the data was sent.
type Band struct {
	// Never: nothing will notice (idle, no SO_KEEPALIVE, no data).
	Never bool
	// Lower is the earliest the kernel can report the failure: every
	// timer as early as the timer wheel files it.
	Lower time.Duration
	// Nominal is the failure with every timer in the middle of the
	// lateness the timer wheel gives it: what a measurement shows most.
	Nominal time.Duration
	// Upper is the latest: every timer as late as the timer wheel files
	// it, plus Slack.
	Upper time.Duration
	// Timers is how many timer expiries lead to the failure.
	Timers int
	// Rule names the case in a few words.
	Rule string
}

// Contains says whether a measured time lies in the band.
func (b Band) Contains(d time.Duration) bool {
	return !b.Never && d >= b.Lower && d <= b.Upper
}

// Confirms is the one answer to "does this measurement confirm the
// prediction": the measured detection lies in the band, between the
// earliest the kernel can report the failure and the latest, every timer
// as late as the timer wheel lets it fire, plus Slack for a busy machine.
// measure and the model's tests judge by it.
func Confirms(b Band, measured time.Duration) bool { return b.Contains(measured) }

// Predict gives the band for a case: the kernel's timer handlers replayed
// over the timer wheel of a kernel at c.HZ.
func Predict(c Case) Band {
	hz := c.HZ
	if hz <= 0 {
		hz = DefaultHZ
	}
	if c.Data {
		return c.retransmission(hz)
	}
	if c.KeepaliveOff {
		return Band{Never: true, Rule: "no SO_KEEPALIVE: an idle dead peer is never noticed"}
	}
	s := c.Settings
	run := func(nominal bool) outcome {
		w := wheel{hz: hz, nominal: nominal}
		k := kaSim{w: w, t: int64(s.Time) * int64(hz), i: int64(s.Intvl) * int64(hz), probes: s.Probes,
			user: userJiffies(s.UserTimeout, hz), silent: measureSilence(w)}
		// SO_KEEPALIVE switched on: the timer is armed for time, from a
		// system call (not a timer), at a moment aligned to nothing.
		x, g := w.arm(pt(0), k.t, 1, false)
		k.fire(x, g, 0, 0, span{}, false)
		return k.out
	}
	b, _ := band(run(false), run(true), hz)
	b.Rule = "keepalive: time + intvl*probes, each timer late as the timer wheel files it"
	if ut := s.UserTimeout; ut > 0 {
		b.Rule = fmt.Sprintf("keepalive with TCP_USER_TIMEOUT %s: first probe timer at or past it (probes ignored)", keepalive.FormatUserTimeout(ut))
	}
	return b
}

// measureSilence is how long the peer has been silent when a measurement
// switches keepalive on: its last packet came a moment before (up to 5 ms
// or a jiffy).
func measureSilence(w wheel) span {
	s := span{0, math.Max(1, 5/w.ms())}
	if w.nominal {
		return pt(s.mid())
	}
	return s
}

// userJiffies is msecs_to_jiffies(TCP_USER_TIMEOUT).
func userJiffies(ut time.Duration, hz int) int64 {
	if ut <= 0 {
		return 0
	}
	return toJiffies(ut.Truncate(time.Millisecond), hz)
}

// retransmission replays tcp_schedule_loss_probe and tcp_retransmit_timer:
// a tail loss probe after the PTO, then the RTO timer; its first expiry
// retransmits and stamps retrans_stamp; each later expiry doubles the RTO
// up to rto_max, and the connection is dropped at the first that finds
// the budget (tcp_model_timeout of tcp_retries2, in milliseconds) or the
// user timeout, to which the timer is clamped, spent since that stamp.
// Which expiry that is depends on how late the timer wheel makes each
// timer: with a 204 ms RTO tcp_retries2 3 and 4 end at the same one.
func (c Case) retransmission(hz int) Band {
	r := c.Retrans
	rto := r.RTO
	if rto <= 0 {
		rto = r.MinRTO(hz)
	}
	ut := c.Settings.UserTimeout
	retries2 := c.Settings.Retries2
	limit, rule := r.Budget(retries2), fmt.Sprintf("retransmission: tcp_retries2 %d, budget %s after the first retransmission", retries2, human.Tenths(r.Budget(retries2)))
	if ut > 0 {
		limit, rule = ut, fmt.Sprintf("retransmission with TCP_USER_TIMEOUT %s: first retransmission + user timeout", keepalive.FormatUserTimeout(ut))
	}
	rtoJ := toJiffies(rto, hz)
	run := func(nominal bool) outcome {
		w := wheel{hz: hz, nominal: nominal}
		x, align, fromTimer, timers := pt(0), int64(1), false, 0
		if !r.NoTLP {
			pto := r.PTO
			if pto <= 0 {
				pto = rto
			}
			// The tail loss probe, armed when the data goes out; the RTO
			// timer starts when it fires.
			x, align = w.arm(x, toJiffies(pto, hz), 1, false)
			fromTimer, timers = true, 1
		}
		x, align = w.arm(x, rtoJ, align, fromTimer)
		sim := rtxSim{w: w, rtoMax: toJiffies(r.rtoMax(), hz), limit: float64(limit) / float64(time.Millisecond), user: ut > 0}
		// The first expiry stamps retrans_stamp: moments from here are
		// counted from it, and the outcome from the data's send.
		sim.out.off = x
		sim.fire(pt(0), align, 0, rtoJ, timers)
		return sim.out
	}
	b, _ := band(run(false), run(true), hz)
	b.Rule = rule
	return b
}

// AnyHZ is the band of c on a kernel of any of the common tick rates
// (CommonHZ): the earliest Lower and the latest Upper among them, the
// nominal of DefaultHZ. A bound promised for machines tcpka does not run
// on (a plan, a shipped profile) must hold with its Upper. With data in
// flight and no RTO given, each rate's MinRTO is used.
func AnyHZ(c Case) Band {
	c.HZ = DefaultHZ
	out := Predict(c)
	for _, hz := range CommonHZ {
		c.HZ = hz
		b := Predict(c)
		out.Lower = min(out.Lower, b.Lower)
		out.Upper = max(out.Upper, b.Upper)
	}
	return out
}

func secs(n int) time.Duration { return time.Duration(n) * time.Second }
