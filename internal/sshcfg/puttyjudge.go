package sshcfg

import (
	"errors"
	"fmt"
	"time"

	"github.com/tcpka/tcpka/internal/detect"
	"github.com/tcpka/tcpka/internal/human"
	"github.com/tcpka/tcpka/internal/keepalive"
)

// PuTTYSetting is where PuTTY's keepalive interval is set: the Connection
// panel's "Seconds between keepalives (0 to turn off)" (config.c).
const PuTTYSetting = "Connection > Seconds between keepalives"

// ClientTCP is what a PuTTY client's operating system does for its
// sessions: its TCP keepalive, and how long it retransmits data the
// server does not acknowledge before it closes the connection.
type ClientTCP struct {
	OS string // "Windows" or "Linux"
	// Documented: the OS's documented defaults, not values read from the
	// machine (tcpka cannot read a Windows client).
	Documented bool
	Keepalive  keepalive.Settings
	// KeepaliveKnob names what sets Keepalive.Time.
	KeepaliveKnob string
	// Retx is the retransmission bound in seconds; RetxRule the values
	// behind it, RetxKnob the setting that changes it.
	Retx               int
	RetxRule, RetxKnob string
}

// WindowsTCP is a Windows client at its documented defaults
// (detect.WindowsDefaults).
func WindowsTCP() ClientTCP {
	w := detect.WindowsDefaults
	return ClientTCP{
		OS: "Windows", Documented: true,
		Keepalive: w.Keepalive(), KeepaliveKnob: "KeepAliveTime",
		Retx:     w.Data(),
		RetxRule: fmt.Sprintf("TcpMaxDataRetransmissions %d, timer doubling from %s", w.MaxDataRetransmissions, human.Seconds(int(w.RTO/time.Second))),
		RetxKnob: `Windows' TcpMaxDataRetransmissions (HKLM\SYSTEM\CurrentControlSet\Services\Tcpip\Parameters)`,
	}
}

// LinuxTCP is Unix PuTTY on this machine, whose kernel values are k.
func LinuxTCP(k keepalive.Settings) ClientTCP {
	r2, retx := retransmission(k)
	return ClientTCP{
		OS: "Linux", Keepalive: k, KeepaliveKnob: keepalive.Time.Sysctl,
		Retx: retx, RetxRule: fmt.Sprintf("%s %d", keepalive.Retries2.Sysctl, r2), RetxKnob: "the kernel's " + keepalive.Retries2.Sysctl,
	}
}

// ClientTCPFor is the client that saved sessions of kind c: Windows for a
// registry export, this machine (kernel values k) for a Unix directory.
func ClientTCPFor(c PuTTYClient, k keepalive.Settings) ClientTCP {
	if c == PuTTYUnix {
		return LinuxTCP(k)
	}
	return WindowsTCP()
}

// PuTTYJudgment is one saved session judged against a path.
type PuTTYJudgment struct {
	PuTTYSession
	IdleTimeout int
	// Every is how often an idle session with a live server sends a
	// packet (0: never), By which layer: LayerSSH for PuTTY's keepalive.
	Every   int
	By      Layer
	Verdict Verdict
	// First is what notices a dead server: LayerRetx (the client's
	// retransmission of PuTTY's next keepalive), LayerTCP or LayerNone;
	// Detect is when, at most, in seconds (0: never).
	First  Layer
	Detect int
}

// JudgePuTTY works out whether an idle session s survives a path idle
// timeout of idle seconds on client c, and when it notices a dead server.
//
// PuTTY sends its keepalive every PingInterval seconds whatever the
// traffic (pinger.c reschedules itself) as SSH_MSG_IGNORE (SS_PING in
// ssh/connection2.c), which the server acknowledges at the TCP level but
// never answers, and PuTTY never counts unanswered ones. When the server
// dies, the next keepalive, up to one interval later, stays
// unacknowledged: the client's retransmission gives up on it and closes
// the connection, and TCP keepalive stands down while data is in flight.
// So the bound is the interval plus the client's retransmission bound.
// Without PuTTY keepalives, TCPKeepalives leaves it to the OS's TCP
// keepalive (detect.Idle of the client's values); with neither, a dead
// server is never noticed on an idle session.
func JudgePuTTY(s PuTTYSession, c ClientTCP, idle int) PuTTYJudgment {
	j := PuTTYJudgment{PuTTYSession: s, IdleTimeout: idle, First: LayerNone}
	switch {
	case s.PingInterval > 0:
		j.Every, j.By = s.PingInterval, LayerSSH
		j.First, j.Detect = LayerRetx, s.PingInterval+c.Retx
	case s.TCPKeepalives:
		j.First, j.Detect = LayerTCP, detect.Idle(c.Keepalive)
	}
	if s.TCPKeepalives && (j.Every == 0 || c.Keepalive.Time < j.Every) {
		j.Every, j.By = c.Keepalive.Time, LayerTCP
	}
	j.Verdict = verdict(j.Every, idle)
	return j
}

// Survives says whether the session keeps the path open: the one goal
// PuTTY's settings decide (no PuTTY setting bounds the time to notice a
// dead server; the client's retransmission does).
func (j PuTTYJudgment) Survives() bool { return j.Verdict == Survives }

// PuTTYReport is every saved session judged.
type PuTTYReport struct {
	Source       PuTTYSessions
	TCP          ClientTCP
	IdleTimeout  int
	DetectWithin int
	// Interval is the "Seconds between keepalives" to set where a session
	// does not survive: Recommend's ServerAliveInterval for the same ask.
	Interval int
	Sessions []PuTTYJudgment
}

// EvaluatePuTTY judges the sessions in ps on client c against a path with
// the given idle timeout and detection goal.
func EvaluatePuTTY(ps PuTTYSessions, c ClientTCP, idle, detectWithin int) (*PuTTYReport, error) {
	rec, err := Recommend(idle, detectWithin)
	// sshd's interval, half the client's, may not fit a short bound where
	// PuTTY's still does.
	if err != nil && (rec.ClientInterval < 1 || !errors.Is(err, ErrImpossible)) {
		return nil, err
	}
	r := &PuTTYReport{Source: ps, TCP: c, IdleTimeout: idle, DetectWithin: detectWithin, Interval: rec.ClientInterval}
	for _, s := range ps.Sessions {
		r.Sessions = append(r.Sessions, JudgePuTTY(s, c, idle))
	}
	return r, nil
}

// Fix is the setting to change for session j ("" when it survives).
func (r *PuTTYReport) Fix(j PuTTYJudgment) string {
	if j.Survives() {
		return ""
	}
	return fmt.Sprintf("%s: %d", PuTTYSetting, r.Interval)
}

// Missed counts the sessions that do not survive the path.
func (r *PuTTYReport) Missed() int {
	n := 0
	for _, j := range r.Sessions {
		if !j.Survives() {
			n++
		}
	}
	return n
}
