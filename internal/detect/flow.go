package detect

import (
	"time"

	"github.com/tcpka/tcpka/internal/keepalive"
)

// Flow is what an idle stretch does to a connection's flow through a
// middlebox (a NAT gateway, a load balancer) that forgets a flow after a
// timeout of silence.
type Flow int

const (
	// FlowKept: every silence ends before the timeout, late timers included.
	FlowKept Flow = iota
	// FlowLost: some silence reaches the timeout whatever the timers do.
	FlowLost
	// FlowAtRisk: it depends on how late a keepalive timer fires.
	FlowAtRisk
)

// Silence bounds the longest time without a packet on a connection held
// idle, and says what that does to its flow.
type Silence struct {
	Min, Max time.Duration
	Flow     Flow
	// Every is how far apart answered probes are: max(time, intvl)
	// (0 without keepalive).
	Every time.Duration
}

// IdleFlow predicts whether a connection whose peer answers, held idle for
// idle and then sending, keeps its flow through a middlebox that forgets a
// flow after timeout of silence and is itself exact to the jiffy (the
// kernel's conntrack). With keepaliveOn the first probe goes out s.Time
// after the last packet and, once answered, the next one max(s.Time,
// s.Intvl) after it: tcp_keepalive_timer, re-armed intvl after a probe,
// sends at once when the answer is already time old. Each probe timer is
// late by up to its timer-wheel granularity plus Slack, never early; the
// final stretch before the send is idle plus Slack at most.
//
// KeepsOpen is the rounder rule plan and profiles use for real paths,
// whose middleboxes keep time less exactly: time alone, Margin below the
// timeout. IdleFlow is what measure --nat-timeout checks on the kernel.
func IdleFlow(s keepalive.Settings, keepaliveOn bool, idle, timeout time.Duration, hz int) Silence {
	late := func(d time.Duration) time.Duration { return d + Granularity(d, hz) + Slack }
	t := secs(s.Time)
	var sl Silence
	on := keepaliveOn && s.Time > 0
	if on {
		sl.Every = secs(AnsweredEvery(s))
	}
	if !on || idle <= t {
		// No probe before the send.
		sl.Min, sl.Max = idle, idle+Slack
	} else {
		// The first stretch ends with the first probe or the send: at
		// least time. The later ones lie between the first probe and the
		// send, each at most a late probe interval.
		sl.Max = max(min(idle+Slack, late(t)), min(idle-t+Slack, late(sl.Every)))
		// The stretch after the first probe lasts until the next probe
		// or the send, whichever comes first.
		sl.Min = max(t, min(sl.Every, idle-late(t)))
	}
	switch {
	case sl.Max < timeout:
		sl.Flow = FlowKept
	case sl.Min > timeout:
		sl.Flow = FlowLost
	default:
		sl.Flow = FlowAtRisk
	}
	return sl
}
