package detect

import (
	"fmt"
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
// from the moment the peer went silent (idle) or the data was sent.
type Band struct {
	// Never: nothing will notice (idle, no SO_KEEPALIVE, no data).
	Never bool
	// Lower is the earliest the kernel can report the failure.
	Lower time.Duration
	// Nominal is the time with every timer on time: the prediction.
	Nominal time.Duration
	// Upper is the latest, with every timer as late as the timer wheel
	// allows, plus Slack.
	Upper time.Duration
	// Timers is how many timer expiries lead to the failure.
	Timers int
	// Rule names the case in a few words.
	Rule string
	// Early is set when a late timer can end the connection one timer
	// sooner than Nominal, at about Lower: the retransmission budget ends
	// within the timer lateness after a retransmission (so the kernel's
	// check may or may not find it spent there).
	Early bool
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

// chain turns a run of timer delays into a band.
func chain(hz int, lower time.Duration, delays ...time.Duration) Band {
	var b Band
	for _, d := range delays {
		b.Nominal += d
		b.Upper += d + Granularity(d, hz)
	}
	b.Upper += Slack
	b.Timers = len(delays)
	b.Lower = min(lower, b.Nominal)
	if lower <= 0 {
		b.Lower = b.Nominal
	}
	return b
}

// Predict gives the band for a case.
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
	t, iv := secs(s.Time), secs(s.Intvl)
	if ut := s.UserTimeout; ut > 0 {
		b := chain(hz, max(t+iv, ut), repeat(t, iv, probeTimers(s))...)
		b.Rule = fmt.Sprintf("keepalive with TCP_USER_TIMEOUT %s: first probe timer at or past it (probes ignored)", ut)
		return b
	}
	b := chain(hz, 0, repeat(t, iv, probeTimers(s))...)
	b.Rule = "keepalive: time + intvl*probes"
	return b
}

// retransmission simulates tcp_schedule_loss_probe and
// tcp_retransmit_timer: a tail loss probe after the PTO, then a timer at the
// RTO, doubling up to rto_max; its first expiry retransmits and stamps
// retrans_stamp; the connection dies at the first expiry that finds the
// budget (or the user timeout, to which the timer is clamped) elapsed since
// that stamp.
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
		limit, rule = ut, fmt.Sprintf("retransmission with TCP_USER_TIMEOUT %s: first retransmission + user timeout", ut)
	}
	var delays []time.Duration
	if !r.NoTLP {
		pto := r.PTO
		if pto <= 0 {
			pto = rto
		}
		delays = append(delays, pto) // the tail loss probe; the RTO timer starts after it
	}
	delays = append(delays, rto) // the first RTO expiry retransmits and stamps retrans_stamp
	first := len(delays)
	var since time.Duration // time since the first retransmission
	for since < limit && len(delays) < 1000 {
		rto = min(2*rto, r.rtoMax())
		next := rto
		if ut > 0 {
			next = min(next, ut-since) // tcp_clamp_rto_to_user_timeout
		}
		delays = append(delays, next)
		since += next
	}
	var before time.Duration
	for _, d := range delays[:first] {
		before += d
	}
	b := chain(hz, before+limit, delays...)
	b.Rule = rule
	// The expiry before the last one found `since - last` < limit; if the
	// timers up to it can be late by the difference, it may be the last.
	if n := len(delays); n-1 > first {
		prev := chain(hz, 0, delays[:n-1]...)
		if prev.Upper >= before+limit && ut == 0 {
			b.Early = true
		}
	}
	return b
}

func repeat(first, then time.Duration, n int) []time.Duration {
	out := []time.Duration{first}
	for range n {
		out = append(out, then)
	}
	return out
}

func secs(n int) time.Duration { return time.Duration(n) * time.Second }
