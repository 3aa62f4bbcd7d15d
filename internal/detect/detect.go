package detect

import (
	"time"

	"github.com/tcpka/tcpka/internal/keepalive"
)

// Idle is the one answer to "after how many seconds does an idle
// connection with s notice a silently dead peer": Time + Intvl*Probes, or
// with TCP_USER_TIMEOUT the first keepalive timer at or past it. Every
// command that prints an idle detection time calls it (Predict builds its
// band from the same timers), so two commands cannot disagree.
func Idle(s keepalive.Settings) int { return s.Time + s.Intvl*probeTimers(s) }

// probeTimers is how many probe intervals pass before the keepalive timer
// resets the connection. tcp_keepalive_timer resets it once Probes probes
// are unanswered; with TCP_USER_TIMEOUT U it resets it instead at the
// first timer that finds a probe out and the connection silent for U,
// whatever Probes says: the first Time + k*Intvl >= U with k >= 1.
func probeTimers(s keepalive.Settings) int {
	if s.UserTimeout <= 0 {
		return s.Probes
	}
	iv := secs(s.Intvl)
	rest := s.UserTimeout - secs(s.Time)
	if rest <= 0 || iv <= 0 {
		return 1
	}
	return max(1, int((rest+iv-1)/iv))
}

// AnsweredEvery is the one answer to "how often does an idle connection
// with s send a packet while its peer answers": the first probe after
// Time, then, each probe answered, the next max(Time, Intvl) later
// (tcp_keepalive_timer re-arms Intvl after a probe and sends at once when
// the answer is already Time old). A path must carry a packet that often.
func AnsweredEvery(s keepalive.Settings) int { return max(s.Time, s.Intvl) }

// KeepsOpenWith says whether an idle connection with s keeps a flow open
// through a middlebox that forgets it after idleTimeout seconds of
// silence (KeepsOpen of AnsweredEvery).
func KeepsOpenWith(s keepalive.Settings, idleTimeout int) bool {
	return KeepsOpen(AnsweredEvery(s), idleTimeout)
}

// Bounds is how long a silently dead peer can hold a connection with
// given settings, per state, in whole seconds.
type Bounds struct {
	// Idle: nothing in flight, keepalive decides; -1 when the socket has
	// no SO_KEEPALIVE (never noticed).
	Idle int
	// Data: unacknowledged data in flight, retransmission decides
	// (tcp_retries2, or TCP_USER_TIMEOUT); -1 when tcp_retries2 is not
	// known and no user timeout bounds it.
	Data int
}

// Net is what a network namespace adds to a socket's settings when data is
// in flight: the retransmission parameters and the kernel's tick rate.
// The zero value is the kernel's defaults.
type Net struct {
	Retrans Retrans
	HZ      int // 0: DefaultHZ
}

// Bounds gives both bounds for settings s (complete: a socket's effective
// values with its namespace's tcp_retries2), keepalive on or off.
func (n Net) Bounds(s keepalive.Settings, keepaliveOn bool) Bounds {
	b := Bounds{Idle: -1, Data: -1}
	if keepaliveOn {
		b.Idle = Idle(s)
	}
	if s.Retries2 > 0 || s.UserTimeout > 0 {
		b.Data = n.Data(s)
	}
	return b
}

// Data is the time, in whole seconds, until a connection with
// unacknowledged data in flight notices a silently dead peer: Predict's
// nominal time for the retransmission case.
func (n Net) Data(s keepalive.Settings) int {
	b := Predict(Case{Settings: s, Data: true, Retrans: n.Retrans, HZ: n.HZ})
	return int((b.Nominal + time.Second/2) / time.Second)
}

// Margin is the room an idle time must leave below a path's idle timeout:
// idleTimeout - OpenLimit(idleTimeout), at least 10 % of the timeout and
// 10 s, more where a timer that long can fire later than that.
func Margin(idleTimeout int) int { return idleTimeout - OpenLimit(idleTimeout) }

// OpenLimit is the longest period, in whole seconds, that keeps a flow open
// through a middlebox forgetting it after idleTimeout seconds: 10 % (at
// least 10 s) below the timeout for middleboxes that keep time loosely,
// and short enough that the timer, fired as late as the timer wheel lets
// it on any common tick rate (up to 8/63 of its delay, see Granularity),
// still comes before the timeout. 0 when no period fits.
func OpenLimit(idleTimeout int) int {
	t := idleTimeout - max(idleTimeout/10, 10)
	for ; t > 0; t-- {
		if secs(t)+worstLate(secs(t)) < secs(idleTimeout) {
			break
		}
	}
	return max(t, 0)
}

// worstLate is the latest a timer armed d ahead fires, over the tick rates
// kernels are built with, plus the slack of a wake-up.
func worstLate(d time.Duration) time.Duration {
	var g time.Duration
	for _, hz := range []int{100, 250, 300, 1000} {
		g = max(g, Granularity(d, hz))
	}
	return g + Slack
}

// KeepsOpen is the one test of "fits under the idle timeout": a packet
// every `every` seconds (a keepalive timer's period, max(time, interval)
// once probes are answered; an SSH keepalive period) keeps a flow open
// through a middlebox that forgets it after idleTimeout seconds, late
// timers included.
func KeepsOpen(every, idleTimeout int) bool {
	return every > 0 && every <= OpenLimit(idleTimeout)
}

// Worst gives the bands of a connection with settings s (complete: with
// tcp_retries2, and TCP_USER_TIMEOUT if any) whose peer dies at the worst
// moment, on a kernel of any common tick rate (AnyHZ): idle, the peer
// dies right after its last packet, so the first unanswered probe comes
// max(time, intvl) later (answered probes are that far apart) and the
// rest intvl apart; with data in flight, the data leaves at the least RTO
// of a short path. Their Upper is what a promise made for machines tcpka
// does not run on (a plan, a shipped profile) must hold to.
func Worst(s keepalive.Settings) (idle, data Band) {
	if s.Time > 0 && s.Intvl > 0 {
		first := s
		first.Time = AnsweredEvery(s) // the last answered probe's timer, re-armed
		idle = AnyHZ(Case{Settings: first})
	} else {
		idle = Band{Never: true, Rule: "keepalive values not known"}
	}
	if s.Retries2 > 0 || s.UserTimeout > 0 {
		data = AnyHZ(Case{Settings: s, Data: true})
	} else {
		data = Band{Never: true, Rule: "tcp_retries2 not known"}
	}
	return idle, data
}

// Latest is Bounds at their worst (Worst's Upper), in whole seconds
// rounded up: the figures a bound promised for other machines is checked
// against. Idle is -1 without SO_KEEPALIVE, Data -1 when tcp_retries2 is
// not known and no user timeout bounds it.
func Latest(s keepalive.Settings, keepaliveOn bool) Bounds {
	idle, data := Worst(s)
	b := Bounds{Idle: -1, Data: -1}
	if keepaliveOn && !idle.Never {
		b.Idle = ceilSecs(idle.Upper)
	}
	if !data.Never {
		b.Data = ceilSecs(data.Upper)
	}
	return b
}

func ceilSecs(d time.Duration) int { return int((d + time.Second - 1) / time.Second) }
