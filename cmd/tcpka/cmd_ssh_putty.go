package main

import (
	"fmt"
	"io"
	"strings"

	"github.com/tcpka/tcpka/internal/detect"
	"github.com/tcpka/tcpka/internal/human"
	"github.com/tcpka/tcpka/internal/jsonout"
	"github.com/tcpka/tcpka/internal/keepalive"
	"github.com/tcpka/tcpka/internal/plan"
	"github.com/tcpka/tcpka/internal/sshcfg"
)

// puttySessionJSON is one saved session in tcpka ssh --putty --json;
// *_s fields are null for "never".
type puttySessionJSON struct {
	Name          string   `json:"name"`
	PingIntervalS int      `json:"ping_interval_s"`
	TCPKeepalives bool     `json:"tcp_keepalives"`
	Survives      bool     `json:"survives"`
	IdlePath      string   `json:"idle_path"`
	IdlePacketS   *int     `json:"idle_packet_every_s"`
	First         string   `json:"first"`
	DetectionS    *int     `json:"detection_s"`
	Fix           []string `json:"fix"`
}

// puttyClientJSON is the client OS whose values judged the sessions
// ("windows" at its documented defaults, or "linux", this machine): its
// retransmission bound and its TCP keepalive values.
type puttyClientJSON struct {
	OS                 string `json:"os"`
	DocumentedDefaults bool   `json:"documented_defaults"`
	jsonout.Settings
}

type puttyJSONOut struct {
	Putty         string             `json:"putty"`
	IdleTimeoutS  int                `json:"idle_timeout_s"`
	Path          string             `json:"path,omitempty"`
	DetectWithinS int                `json:"detect_within_s"`
	Client        puttyClientJSON    `json:"client"`
	Sessions      []puttySessionJSON `json:"sessions"`
	Missed        int                `json:"missed"`
}

// runPuTTY is tcpka ssh --putty: read the saved sessions, judge each on
// its client, render; exit 1 when any session does not survive the path.
func runPuTTY(env *Env, f sshFlags, idle, within int, box *plan.Middlebox, pathWhy string) error {
	ps, err := sshcfg.ReadPuTTY(f.putty)
	if err != nil {
		return fmt.Errorf("ssh: %w", err)
	}
	var k keepalive.Settings
	if ps.Client == sshcfg.PuTTYUnix { // Unix PuTTY runs on this machine
		if k, err = env.NS().Read(); err != nil {
			return fmt.Errorf("ssh: %w", err)
		}
	}
	r, err := sshcfg.EvaluatePuTTY(ps, sshcfg.ClientTCPFor(ps.Client, k), idle, within)
	if err != nil {
		return fmt.Errorf("ssh: %w", err)
	}
	if f.json {
		err = jsonout.Write(env.Stdout, newPuTTYJSON(r, box))
	} else {
		printPuTTY(env.Stdout, r, pathWhy)
	}
	if err == nil && r.Missed() > 0 {
		return exitCode(exitFailure)
	}
	return err
}

func newPuTTYJSON(r *sshcfg.PuTTYReport, box *plan.Middlebox) puttyJSONOut {
	out := puttyJSONOut{
		Putty: r.Source.Path, IdleTimeoutS: r.IdleTimeout, DetectWithinS: r.DetectWithin,
		Client: puttyClientJSON{OS: strings.ToLower(r.TCP.OS), DocumentedDefaults: r.TCP.Documented,
			Settings: jsonout.New(r.TCP.Keepalive.Keepalive(), detect.Bounds{Idle: detect.Idle(r.TCP.Keepalive), Data: r.TCP.Retx})},
		Sessions: []puttySessionJSON{}, Missed: r.Missed(),
	}
	if box != nil {
		out.Path = box.Name
	}
	for _, j := range r.Sessions {
		s := puttySessionJSON{Name: j.Name, PingIntervalS: j.PingInterval, TCPKeepalives: j.TCPKeepalives,
			Survives: j.Survives(), IdlePath: string(j.Verdict), First: string(j.First), Fix: []string{}}
		if j.Every > 0 {
			s.IdlePacketS = ptr(j.Every)
		}
		if j.Detect > 0 {
			s.DetectionS = ptr(j.Detect)
		}
		if fix := r.Fix(j); fix != "" {
			s.Fix = append(s.Fix, fix)
		}
		out.Sessions = append(out.Sessions, s)
	}
	return out
}

func printPuTTY(w io.Writer, r *sshcfg.PuTTYReport, pathWhy string) {
	c, idle, within := r.TCP, r.IdleTimeout, r.DetectWithin
	fmt.Fprintf(w, "path: idle timeout %s: %s\n", human.Seconds(idle), pathWhy)
	fmt.Fprintf(w, "goal: an idle session stays open (PuTTY's setting decides), and a dead server is noticed within %s (the client's retransmission decides)\n", human.Seconds(within))
	what := "a Windows registry export"
	if r.Source.Client == sshcfg.PuTTYUnix {
		what = "a Unix PuTTY sessions directory"
	}
	fmt.Fprintf(w, "putty: %d sessions in %s, %s\n", len(r.Sessions), human.Safe(r.Source.Path), what)
	if c.Documented {
		fmt.Fprintf(w, "client: %s at its documented defaults (tcpka cannot read them): unacknowledged data is retransmitted for about %s (%s); TCP keepalive after %s idle (%s)\n",
			c.OS, human.Seconds(c.Retx), c.RetxRule, human.Duration(c.Keepalive.Time), c.KeepaliveKnob)
	} else {
		k := c.Keepalive
		fmt.Fprintf(w, "client: %s, this machine: unacknowledged data is retransmitted for %s (%s); tcp_keepalive %d s / %d s / %d: TCP keepalive gives up after %s\n",
			c.OS, human.Seconds(c.Retx), c.RetxRule, k.Time, k.Intvl, k.Probes, human.Seconds(detect.Idle(k)))
	}
	fmt.Fprintln(w, "  PuTTY's keepalive is SSH_MSG_IGNORE data the server never answers: when the server dies, the next one goes")
	fmt.Fprintf(w, "  unacknowledged and the client's retransmission notices it, not TCP keepalive; only %s bounds that time\n", c.RetxKnob)

	pathLabel := human.Duration(idle) + " path:"
	for _, j := range r.Sessions {
		fmt.Fprintf(w, "\nsession %q\n", j.Name)
		saved := ""
		if j.PingMinutes > 0 {
			saved = fmt.Sprintf(" (saved as PingInterval %d min + PingIntervalSecs %d)", j.PingMinutes, j.PingSecs)
		}
		tcp := "off"
		if j.TCPKeepalives {
			tcp = "on"
		}
		puttyLine(w, "settings:", "Seconds between keepalives %d%s, TCP keepalives %s", j.PingInterval, saved, tcp)

		packet := "an idle session sends nothing"
		switch {
		case j.Every > 0 && j.By == sshcfg.LayerSSH:
			packet = fmt.Sprintf("an idle session sends a packet every %s (PuTTY keepalive)", human.Duration(j.Every))
		case j.Every > 0 && j.Verdict == sshcfg.Dropped:
			packet = fmt.Sprintf("an idle session sends nothing until TCP keepalive after %s (%s): any path shorter than that drops it", human.Duration(j.Every), c.KeepaliveKnob)
		case j.Every > 0:
			packet = fmt.Sprintf("an idle session sends a packet every %s (TCP keepalive, %s)", human.Duration(j.Every), c.KeepaliveKnob)
		}
		switch j.Verdict {
		case sshcfg.Survives:
			puttyLine(w, pathLabel, "survives: %s", packet)
		case sshcfg.AtRisk:
			puttyLine(w, pathLabel, "AT RISK: %s, within %d s of the timeout (timer lateness)", packet, detect.Margin(idle))
		default:
			puttyLine(w, pathLabel, "DROPPED: %s", packet)
		}

		over := ""
		if j.Detect > within {
			over = fmt.Sprintf(": over the %s goal", human.Duration(within))
		}
		switch j.First {
		case sshcfg.LayerRetx:
			puttyLine(w, "dead server:", "noticed within %s: the next keepalive goes out within %s, then %s retransmits it for %s%s",
				human.Seconds(j.Detect), human.Duration(j.PingInterval), c.OS, human.Duration(c.Retx), over)
		case sshcfg.LayerTCP:
			puttyLine(w, "dead server:", "noticed after %s: TCP keepalive, the client's values above%s", human.Seconds(j.Detect), over)
		default:
			puttyLine(w, "dead server:", "never noticed on an idle session")
		}
		if fix := r.Fix(j); fix != "" {
			puttyLine(w, "verdict:", "misses the goal: the session does not keep the path open")
			puttyLine(w, "fix:", "%s (then save the session)", fix)
		} else {
			puttyLine(w, "verdict:", "ok")
		}
	}
	if n := r.Missed(); n > 0 {
		fmt.Fprintf(w, "\n%d of %d sessions do not keep the %s path open: set %s to %d in each\n", n, len(r.Sessions), human.Duration(idle), sshcfg.PuTTYSetting, r.Interval)
	} else {
		fmt.Fprintf(w, "\nevery session keeps the %s path open\n", human.Duration(idle))
	}
}

// puttyLine prints one labelled line of a session block, the values
// aligned.
func puttyLine(w io.Writer, label, format string, args ...any) {
	fmt.Fprintf(w, "  %-13s%s\n", label, fmt.Sprintf(format, args...))
}
