package plan

import (
	"errors"
	"fmt"
	"time"

	"github.com/tcpka/tcpka/internal/detect"
	"github.com/tcpka/tcpka/internal/human"
	"github.com/tcpka/tcpka/internal/keepalive"
)

// Ask is what the user wants from the path, in seconds (0: not asked).
type Ask struct {
	// IdleTimeout is the smallest idle timeout on the path: idle flows are
	// forgotten after it, so time must stay below it.
	IdleTimeout int
	// DetectWithin bounds the dead-peer detection time.
	DetectWithin int
	// IdleOnly bounds only an idle connection (keepalive), not one with
	// data in flight (tcp_retries2, TCP_USER_TIMEOUT).
	IdleOnly bool
}

// Plan is a solved Ask.
type Plan struct {
	Ask
	// Margin is the room left below IdleTimeout for timer lateness
	// (detect.Margin); TimeLimit = IdleTimeout - Margin is the largest
	// time that keeps the path open. Both 0 without an idle timeout.
	Margin, TimeLimit int
	// Settings are the chosen values: time, interval and probes; with a
	// detection bound (not IdleOnly) also tcp_retries2, where the kernel's
	// 15 would miss it, and TCP_USER_TIMEOUT.
	Settings keepalive.Settings
	// Why says in a sentence or two how the values were chosen.
	Why string
	// DataWhy says how the data-in-flight bound is met, and what it costs.
	DataWhy string
	// Idle and Data are the detection bands of the chosen values on a
	// kernel of any common tick rate, the peer dying at the worst moment
	// (detect.Worst); with a detection bound, their Upper is within it.
	// Data is for a socket without TCP_USER_TIMEOUT (tcp_retries2
	// decides); Never when the plan leaves tcp_retries2 to the kernel and
	// bounds nothing with data in flight (no bound, or IdleOnly).
	Idle, Data detect.Band
}

// ErrImpossible is wrapped when no valid profile meets the ask.
var ErrImpossible = errors.New("impossible ask")

// ErrNothingAsked is returned when the ask states neither bound.
var ErrNothingAsked = errors.New("nothing to plan for: give an idle timeout, a path or a detection bound")

// Probe sizes: a keepalive probe is an empty segment, and so is its ACK.
// With TCP timestamps (on by default) each is 20 (IPv4) + 20 + 12 bytes.
const probeBytesIPv4 = 52

// least is the shortest detection any valid profile promises: time 1 s +
// interval 1 s * 1 probe, at its latest on any common tick rate (worked
// out when asked, not at every start of tcpka).
func least() time.Duration {
	idle, _ := detect.Worst(keepalive.Settings{Time: 1, Intvl: 1, Probes: 1})
	return idle.Upper
}

// MinDetection is the shortest detection bound a plan can meet, in whole
// seconds: least rounded up (3 s).
func MinDetection() int { return int((least() + time.Second - 1) / time.Second) }

// Solve picks time, interval and probes for the ask.
//
// The idle time is the largest "round" value that fits both below the idle
// timeout (with profile.Margin for timer lateness) and, when a detection
// bound is asked, in half of it; it never exceeds the kernel default 7200 s
// (a longer idle time only delays detection). The other half of the bound
// goes to the probes: 4 probes while that leaves at most 75 s (the kernel
// default interval) between them, more (up to 9) beyond. Without a bound,
// 5 probes a tenth of the idle time apart (at most 30 s), and the kernel
// defaults when they already fit.
//
// A bound is a promise for every machine the profile goes to: it holds
// with every timer as late as the timer wheel files it on a kernel of any
// common tick rate (detect.Worst), the peer dying at the worst moment.
// Where the values above would miss it, the interval goes down first,
// then the idle time, then the probes.
func Solve(a Ask) (Plan, error) {
	p := Plan{Ask: a}
	if a.IdleTimeout < 0 || a.DetectWithin < 0 {
		return p, fmt.Errorf("%w: durations must be positive", ErrImpossible)
	}
	if a.IdleTimeout == 0 && a.DetectWithin == 0 {
		return p, ErrNothingAsked
	}
	def := keepalive.KernelDefaults
	tcap := def.Time
	if a.IdleTimeout > 0 {
		p.Margin = detect.Margin(a.IdleTimeout)
		p.TimeLimit = a.IdleTimeout - p.Margin
		if p.TimeLimit < 1 {
			return p, fmt.Errorf("%w: an idle timeout of %s leaves no room: the idle time must stay %d s below it for timer lateness, and at least 1 s",
				ErrImpossible, human.Seconds(a.IdleTimeout), p.Margin)
		}
		tcap = min(tcap, p.TimeLimit)
	}
	if a.DetectWithin > 0 && a.DetectWithin < MinDetection() {
		return p, fmt.Errorf("%w: detect-within %s is shorter than any valid profile allows: the least is time 1 s + interval 1 s * 1 probe, which the timer wheel stretches to %s",
			ErrImpossible, human.Seconds(a.DetectWithin), human.Tenths(least()))
	}
	k := &p.Settings
	switch {
	case a.DetectWithin == 0 && p.TimeLimit >= def.Time:
		*k = def.Keepalive()
		p.Why = fmt.Sprintf("the kernel defaults already keep the path open: time %d s is below %s with room to spare; a longer time would only delay detection",
			def.Time, human.Seconds(a.IdleTimeout))
	case a.DetectWithin == 0:
		k.Time = roundDown(tcap)
		k.Intvl = min(30, max(1, roundDown(k.Time/10)))
		k.Probes = 5
		p.Why = fmt.Sprintf("time %d s is the largest round value below the %d s the path allows; 5 probes %d s apart, so one lost probe or ACK does not reset a live connection",
			k.Time, p.TimeLimit, k.Intvl)
	default:
		w := a.DetectWithin
		k.Time = max(1, roundDown(min(tcap, w/2)))
		phase := w - k.Time
		if phase <= 4*def.Intvl {
			k.Probes = min(4, phase)
			k.Intvl = phase / k.Probes
		} else {
			k.Probes = min(9, (phase+def.Intvl-1)/def.Intvl)
			k.Intvl = min(def.Intvl, phase/k.Probes)
		}
		if a.IdleTimeout > 0 && k.Intvl > p.TimeLimit {
			// Answered probes come every max(time, interval): the
			// interval must keep the path open too.
			k.Intvl = p.TimeLimit
			k.Probes = min(keepalive.Probes.Max, phase/k.Intvl)
		}
		bound := "half of the " + human.Duration(w) + " bound"
		switch {
		case tcap >= w/2:
		case a.IdleTimeout > 0 && tcap == p.TimeLimit:
			bound = fmt.Sprintf("the largest round value below the %d s the path allows", p.TimeLimit)
		default:
			bound = "the kernel default (a longer idle time only delays detection)"
		}
		was := *k
		late := p.fit()
		switch {
		case late == "":
			p.Why = fmt.Sprintf("time %d s is %s; the rest goes to %d probes %d s apart", k.Time, bound, k.Probes, k.Intvl)
		case k.Time == was.Time && k.Probes == was.Probes:
			p.Why = fmt.Sprintf("time %d s is %s; the rest goes to %d probes %d s apart, not %d s: %s", k.Time, bound, k.Probes, k.Intvl, was.Intvl, late)
		default:
			p.Why = fmt.Sprintf("time %d s, %s %d s apart, not %d/%d/%d: %s", k.Time, probesWord(k.Probes), k.Intvl, was.Time, was.Intvl, was.Probes, late)
		}
		if a.IdleTimeout > 0 && k.Time < roundDown(p.TimeLimit) {
			p.Why += fmt.Sprintf("; the path alone would allow %d s (%.0f probes an hour instead of %.0f) but then a dead peer is noticed after more than %s",
				roundDown(p.TimeLimit), ProbesPerHour(roundDown(p.TimeLimit)), ProbesPerHour(k.Time), human.Duration(w))
		}
	}
	if a.DetectWithin > 0 && !a.IdleOnly {
		if err := p.boundData(); err != nil {
			return p, err
		}
	}
	p.Idle, p.Data = detect.Worst(p.Settings.Over(keepalive.KernelDefaults).Sysctls())
	if a.DetectWithin == 0 || a.IdleOnly {
		p.Data = detect.Band{Never: true, Rule: "not bounded"}
	}
	if err := p.check(); err != nil {
		return p, err
	}
	return p, nil
}

// fit lowers the interval, then the idle time, then the probes until the
// worst case of an idle connection meets the bound. It returns the reason
// to give instead of Why when it changed anything.
func (p *Plan) fit() string {
	k := &p.Settings
	was := *k
	over := worstIdle(*k)
	for worstIdle(*k) > secs(p.DetectWithin) {
		switch {
		case k.Intvl > 1:
			k.Intvl--
		case k.Time > 1:
			k.Time = max(1, roundDown(k.Time-1))
		case k.Probes > 1:
			k.Probes--
		default:
			return "" // MinDetection refused this ask already
		}
	}
	if *k == was {
		return ""
	}
	return fmt.Sprintf("those would meet %s only with every timer on time; as late as the timer wheel can fire them on a kernel of any common tick rate they take up to %s, these up to %s",
		human.Duration(p.DetectWithin), human.Tenths(over), human.Tenths(worstIdle(*k)))
}

func probesWord(n int) string {
	if n == 1 {
		return "1 probe"
	}
	return fmt.Sprintf("%d probes", n)
}

// worstIdle is the latest an idle connection with k notices a dead peer
// on any common tick rate.
func worstIdle(k keepalive.Settings) time.Duration {
	idle, _ := detect.Worst(k.Keepalive())
	return idle.Upper
}

// worstData is the latest a connection with data in flight and s
// (tcp_retries2 or TCP_USER_TIMEOUT) gives up on a dead peer, on any
// common tick rate.
func worstData(s keepalive.Settings) time.Duration {
	_, data := detect.Worst(s)
	return data.Upper
}

// boundData bounds a connection with unacknowledged data in flight, which
// keepalive does not: tcp_retries2 for every socket of the namespace (the
// largest whose worst case fits the bound, unset when the kernel's 15
// already does), and TCP_USER_TIMEOUT for the sockets tcpka enforce
// reaches: time + interval x probes, which keeps keepalive's meaning on an
// idle connection, less what the first retransmission and the timer
// wheel add where that would miss the bound.
func (p *Plan) boundData() error {
	w := secs(p.DetectWithin)
	def := keepalive.KernelDefaults.Retries2
	k := &p.Settings
	full := detect.Idle(k.Keepalive())
	u := full
	for u > 1 && worstData(keepalive.Settings{UserTimeout: secs(u)}) > w {
		u--
	}
	if worstData(keepalive.Settings{UserTimeout: secs(u)}) > w {
		return fmt.Errorf("%w: detect-within %s is shorter than retransmission allows even with a user timeout of 1 s (%s): use --idle-only to bound idle connections only",
			ErrImpossible, human.Seconds(p.DetectWithin), human.Tenths(worstData(keepalive.Settings{UserTimeout: time.Second})))
	}
	k.UserTimeout = secs(u)
	ut := fmt.Sprintf("user_timeout %s (time + interval x probes)", human.Duration(u))
	if u < full {
		ut = fmt.Sprintf("user_timeout %s (time + interval x probes less the first retransmission and the timers' lateness)", human.Duration(u))
	}
	if d := worstData(keepalive.Settings{Retries2: def}); d <= w {
		p.DataWhy = fmt.Sprintf("data in flight: the kernel's tcp_retries2 %d already gives up within %s (at most %s); %s bounds the sockets tcpka enforce reaches at about the same as an idle one",
			def, human.Duration(p.DetectWithin), human.Tenths(d), ut)
		return nil
	}
	r := 0
	for n := def - 1; n >= 1; n-- {
		if worstData(keepalive.Settings{Retries2: n}) <= w {
			r = n
			break
		}
	}
	if r == 0 {
		return fmt.Errorf("%w: detect-within %s is shorter than retransmission allows even at tcp_retries2 1 (up to %s): use --idle-only to bound idle connections only",
			ErrImpossible, human.Seconds(p.DetectWithin), human.Tenths(worstData(keepalive.Settings{Retries2: 1})))
	}
	k.Retries2 = r
	d := worstData(keepalive.Settings{Retries2: r})
	p.DataWhy = fmt.Sprintf("data in flight: tcp_retries2 %d gives up on unacknowledged data within %s at the latest (the kernel's %d takes up to %s), for every socket; %s bounds the sockets tcpka enforce reaches",
		r, human.Tenths(d), def, human.Tenths(worstData(keepalive.Settings{Retries2: def})), ut)
	if r < 8 {
		p.DataWhy += fmt.Sprintf("; below 8 it is under the 100 s RFC 1122 asks for: a network outage longer than %s breaks busy connections too, not only dead peers", human.Tenths(d))
	}
	return nil
}

// check holds a plan to its own ask; Solve calls it so that a bug in the
// choice above cannot hand out values that break the promise.
func (p Plan) check() error {
	k := p.Settings
	if err := k.Validate(); err != nil {
		return fmt.Errorf("plan: internal error: %w", err)
	}
	if p.IdleTimeout > 0 && !detect.KeepsOpenWith(k, p.IdleTimeout) {
		return fmt.Errorf("plan: internal error: time %d s or interval %d s above limit %d s", k.Time, k.Intvl, p.TimeLimit)
	}
	w := secs(p.DetectWithin)
	if d := p.Idle.Upper; p.DetectWithin > 0 && d > w {
		return fmt.Errorf("plan: internal error: detection up to %s, past the bound %s", d, w)
	}
	if p.DetectWithin > 0 && !p.IdleOnly {
		eff := k.Over(keepalive.KernelDefaults)
		if d := worstData(eff.Sysctls()); d > w {
			return fmt.Errorf("plan: internal error: data in flight up to %s, past the bound %s", d, w)
		}
		if d := worstData(keepalive.Settings{UserTimeout: k.UserTimeout}); d > w {
			return fmt.Errorf("plan: internal error: data in flight with user_timeout up to %s, past the bound %s", d, w)
		}
	}
	return nil
}

func secs(n int) time.Duration { return time.Duration(n) * time.Second }

// roundDown rounds n down to a value people read easily: whole seconds
// below 20 s, 5 s steps below 2 min, 30 s steps below 20 min, whole
// minutes beyond.
func roundDown(n int) int {
	switch {
	case n < 20:
		return n
	case n < 120:
		return n - n%5
	case n < 1200:
		return n - n%30
	}
	return n - n%60
}

// ProbesPerHour is how many keepalive probes an idle connection with a
// live peer sends in an hour: one each time idle seconds pass (the ACK
// restarts the idle clock).
func ProbesPerHour(time int) float64 { return 3600 / float64(time) }

// BytesPerHour is the IPv4 traffic of those probes and their ACKs.
func BytesPerHour(time int) int { return 3600 * 2 * probeBytesIPv4 / time }
