package sshcfg

import (
	"errors"
	"fmt"

	"github.com/tcpka/tcpka/internal/detect"
	"github.com/tcpka/tcpka/internal/human"
	"github.com/tcpka/tcpka/internal/keepalive"
	"github.com/tcpka/tcpka/internal/plan"
)

// Layer is what closes a session whose peer fell silent.
type Layer string

const (
	LayerSSH  Layer = "ssh" // the SSH keepalive count ran out
	LayerTCP  Layer = "tcp" // the kernel's keepalive probes ran out
	LayerRetx Layer = "retransmission"
	LayerNone Layer = "none"
)

// Verdict says whether an idle session survives a path's idle timeout.
type Verdict string

const (
	Survives Verdict = "survives"
	AtRisk   Verdict = "at-risk" // within the timer-lateness margin
	Dropped  Verdict = "dropped"
)

// Judgment is one side's keepalive behaviour.
type Judgment struct {
	Settings
	Kernel      keepalive.Settings
	IdleTimeout int // the path's, in seconds
	// SSHDetect is the latest the SSH layer closes the session after the
	// peer falls silent; SSHDetectMin the earliest (the first keepalive
	// goes out up to one interval after the last packet). 0: never.
	SSHDetect, SSHDetectMin int
	// SSHOff says why the SSH layer never gives up ("" when it does).
	SSHOff string
	// TCPDetect is the kernel's detection time (0: TCPKeepAlive no).
	TCPDetect int
	// First is the layer that closes the session; Detect when (seconds,
	// at most; 0: never).
	First  Layer
	Detect int
	// Retries2 is the tcp_retries2 behind Detect when First is LayerRetx.
	Retries2 int
	// Every is how often an idle session with a live peer sends a packet
	// (0: never), and By which layer.
	Every   int
	By      Layer
	Verdict Verdict
}

// Period is the time between SSH keepalive checks on an idle session: the
// interval for ssh, twice it for sshd (see Judge). 0 when off.
func (s Settings) Period() int {
	if s.Side == Server {
		return 2 * s.Interval
	}
	return s.Interval
}

// Judge works out when side s notices a dead peer with the kernel values k,
// and whether an idle session survives a path idle timeout of idle seconds.
//
// OpenSSH counts a keepalive at each check without an answer and gives up
// when the count exceeds CountMax. The client checks every interval, so it
// closes the session between CountMax and CountMax+1 intervals after the
// server fell silent (measured with OpenSSH 9.2p1: ServerAliveInterval 2,
// CountMax 3 -> 6.3 and 7.5 s). sshd compares whole seconds strictly
// (now > last + interval) after a poll of exactly one interval, so on an
// idle session it checks only every other interval: measured
// ClientAliveInterval 2, CountMax 3 -> 16.0 s, twice the client's. tcpka
// takes the later bound for both. sshd never gives up with
// ClientAliveCountMax 0. Once an SSH keepalive is in flight
// unacknowledged, the kernel's keepalive timer stands down (retransmission
// governs), so TCP keepalive decides only when it finishes before the
// first SSH keepalive goes out.
func Judge(s Settings, k keepalive.Settings, idle int) Judgment {
	j := Judgment{Settings: s, Kernel: k, IdleTimeout: idle}
	period := s.Period()
	switch {
	case s.Interval == 0:
		j.SSHOff = s.Side.Keyword("interval") + " 0: no SSH keepalives"
	case s.Side == Server && s.CountMax == 0:
		j.SSHOff = "ClientAliveCountMax 0: sshd sends keepalives but never gives up"
	default:
		j.SSHDetect = (s.CountMax + 1) * period
		j.SSHDetectMin = s.CountMax * s.Interval
	}
	if s.TCPKeepAlive {
		j.TCPDetect = detect.Idle(k)
	}
	switch {
	case j.TCPDetect > 0 && (s.Interval == 0 || j.TCPDetect <= period):
		j.First, j.Detect = LayerTCP, j.TCPDetect
	case j.SSHDetect > 0:
		j.First, j.Detect = LayerSSH, j.SSHDetect
	case s.Interval > 0:
		// keepalives go out and are never given up on: the kernel
		// retransmits them until tcp_retries2 runs out.
		j.First = LayerRetx
		j.Retries2, j.Detect = retransmission(k)
	default:
		j.First = LayerNone
	}
	if s.Interval > 0 {
		j.Every, j.By = period, LayerSSH
	}
	// TCP keepalive sends every max(time, interval) once its probes are
	// answered.
	if tcp := detect.AnsweredEvery(k); s.TCPKeepAlive && (j.Every == 0 || tcp < j.Every) {
		j.Every, j.By = tcp, LayerTCP
	}
	j.Verdict = verdict(j.Every, idle)
	return j
}

// verdict is what a packet every `every` seconds (0: never) does on a
// path that forgets idle flows after idle seconds.
func verdict(every, idle int) Verdict {
	switch {
	case every == 0 || every > idle:
		return Dropped
	case !detect.KeepsOpen(every, idle):
		return AtRisk
	}
	return Survives
}

// retransmission is how long this kernel retransmits an unanswered
// keepalive before it closes the connection: the one model's
// data-in-flight bound at the minimum RTO, for k's tcp_retries2 (the
// kernel's default when it could not be read).
func retransmission(k keepalive.Settings) (retries2, seconds int) {
	retries2 = k.Retries2
	if retries2 == 0 {
		retries2 = keepalive.KernelDefaults.Retries2
	}
	return retries2, detect.Net{}.Data(keepalive.Settings{Retries2: retries2})
}

// Meets says whether the side both keeps the path open and closes a dead
// session within detectWithin seconds.
func (j Judgment) Meets(detectWithin int) bool {
	return j.Verdict == Survives && j.Detect > 0 && j.Detect <= detectWithin
}

// SSHMeets is Meets for the SSH layer alone: what the ssh/sshd settings
// achieve whatever the kernel values.
func (j Judgment) SSHMeets(detectWithin int) bool {
	return j.Interval > 0 && detect.KeepsOpen(j.Period(), j.IdleTimeout) &&
		j.SSHDetect > 0 && j.SSHDetect <= detectWithin
}

// Recommendation is what both layers should be set to for a path.
type Recommendation struct {
	// ClientInterval (ServerAliveInterval), ServerInterval
	// (ClientAliveInterval) and CountMax for both.
	ClientInterval, ServerInterval, CountMax int
	// Profile is the TCP layer's values, for sessions without SSH
	// keepalives.
	Profile plan.Plan
}

// RecommendCountMax is the count recommended on both sides: the middle of
// the widely given 3-5, low enough that the checks fit the bound.
const RecommendCountMax = 3

// ErrImpossible is wrapped when no SSH settings meet the ask.
var ErrImpossible = errors.New("impossible ask")

// Recommend picks SSH keepalive settings that keep a path with the given
// idle timeout open and close a dead session within detectWithin seconds
// (CountMax+1 checks fit in the bound and a check comes before the idle
// timeout less its margin; sshd checks every other interval, so its
// interval is half the client's), and the tcpka profile for the TCP layer
// (plan.Solve of the same ask).
func Recommend(idle, detectWithin int) (Recommendation, error) {
	p, err := plan.Solve(plan.Ask{IdleTimeout: idle, DetectWithin: detectWithin})
	if err != nil {
		return Recommendation{}, err
	}
	r := Recommendation{CountMax: RecommendCountMax, Profile: p}
	r.ClientInterval = min(detectWithin/(r.CountMax+1), p.TimeLimit)
	r.ServerInterval = min(detectWithin/(2*(r.CountMax+1)), p.TimeLimit/2)
	if r.ServerInterval < 1 {
		return r, fmt.Errorf("%w: sshd's %d keepalive checks within %s would need a ClientAliveInterval below 1 s",
			ErrImpossible, r.CountMax+1, human.Seconds(detectWithin))
	}
	return r, nil
}

// Interval is the recommended interval for side.
func (r Recommendation) Interval(side Side) int {
	if side == Server {
		return r.ServerInterval
	}
	return r.ClientInterval
}

// Full is every line that sets side as r recommends.
func (r Recommendation) Full(side Side) []string {
	return []string{
		fmt.Sprintf("%s %d", side.Keyword("interval"), r.Interval(side)),
		fmt.Sprintf("%s %d", side.Keyword("countmax"), r.CountMax),
		"TCPKeepAlive yes",
	}
}

// Fix is the lines a judged side lacks: the SSH keepalive settings when
// they do not keep the path open or notice a dead peer within
// detectWithin, and TCPKeepAlive yes when it is off (the kernel's
// keepalive is the backstop for the SSH layer, and sshd's default).
func (r Recommendation) Fix(j Judgment, detectWithin int) []string {
	var out []string
	if !j.SSHMeets(detectWithin) {
		out = append(out, r.Full(j.Side)[:2]...)
	}
	if !j.TCPKeepAlive {
		out = append(out, "TCPKeepAlive yes")
	}
	return out
}
