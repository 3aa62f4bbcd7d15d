package main

import (
	"errors"
	"fmt"
	"io"
	"os"
	"strconv"
	"strings"

	"github.com/tcpka/tcpka/internal/caps"
	"github.com/tcpka/tcpka/internal/human"
	"github.com/tcpka/tcpka/internal/jsonout"
	"github.com/tcpka/tcpka/internal/sockdiag"
	"github.com/tcpka/tcpka/internal/sshcfg"
	"github.com/tcpka/tcpka/internal/sysctl"
)

// sessionJSON is one session in tcpka ssh --sessions --json; *_s fields
// are null where unknown (or never).
type sessionJSON struct {
	Side        string `json:"side"`
	PID         int    `json:"pid"`
	PIDs        []int  `json:"pids"`
	Title       string `json:"title"`
	User        string `json:"user"`
	Local       string `json:"local"`
	Peer        string `json:"peer"`
	State       string `json:"state"`
	Destination string `json:"destination,omitempty"`
	HostName    string `json:"hostname,omitempty"`
	RemoteUser  string `json:"remote_user,omitempty"`
	// IdleS: since data last went either way (tcp_info); null unknown.
	IdleS     *int   `json:"idle_s"`
	Keepalive string `json:"keepalive"`
	// TCP is the socket's own keepalive values and what they give it, in
	// the one shape (null where its options were not read).
	TCP            *jsonout.Settings `json:"tcp"`
	AliveIntervalS *int              `json:"alive_interval_s,omitempty"`
	AliveCountMax  *int              `json:"alive_count_max,omitempty"`
	SSHDetectionS  *int              `json:"ssh_detection_s"`
	ConfigSource   string            `json:"config_source,omitempty"`
	ConfigNote     string            `json:"config_note,omitempty"`
	First          string            `json:"first"`
	DetectionS     *int              `json:"detection_s"`
	// Dying: as in tcpka sockets --json; null while the peer answers.
	Dying     *dyingJSON `json:"dying"`
	Killed    bool       `json:"killed"`
	KillError string     `json:"kill_error,omitempty"`
}

type sessionsJSONOut struct {
	Netns    string           `json:"netns,omitempty"`
	Sysctl   jsonout.Settings `json:"sysctl"`
	Sessions []sessionJSON    `json:"sessions"`
}

// killed is what --kill-dying did to one session: nothing, or a close
// that worked (err nil) or failed. A connection that ended by itself
// between the scan and the close (sockdiag.ErrGone) is not a failure.
type killed struct {
	tried bool
	err   error
}

func (k killed) gone() bool   { return k.tried && errors.Is(k.err, sockdiag.ErrGone) }
func (k killed) failed() bool { return k.tried && k.err != nil && !k.gone() }

// runSessions is tcpka ssh --sessions [--kill-dying].
func runSessions(env *Env, f sshFlags) error {
	if f.killDying {
		if err := caps.Require("ssh --kill-dying", caps.NetAdmin); err != nil {
			return err
		}
	}
	ns := env.NS()
	sys, err := ns.Read()
	if err != nil {
		return fmt.Errorf("ssh: %w", err)
	}
	root := os.Geteuid() == 0
	sc := &sshcfg.SessionScan{ProcRoot: env.ProcRoot(), Lister: sockdiag.Netlink{}, Sysctls: sys, Net: ns.ReadNet(),
		SSHBin: f.sshBin, SSHDBin: f.sshdBin, MayRunSSHD: root, AsUser: root}
	if caps.Has(caps.SysPtrace) {
		r := sockdiag.NewOptionReader()
		defer r.Close()
		sc.Options = r
	}
	var ss []sshcfg.Session
	var kills []killed
	// The dump and the closes answer for the namespace they run in.
	err = ns.In(func(sysctl.FS) error {
		var err error
		if ss, err = sc.Sessions(); err != nil {
			return err
		}
		kills = make([]killed, len(ss))
		for i := range ss {
			if f.killDying && ss[i].Dying != nil {
				kills[i] = killed{true, ss[i].Kill()}
			}
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("ssh: %w", err)
	}
	if f.json {
		out := sessionsJSONOut{Netns: ns.ID(), Sysctl: jsonout.Of(sys, sc.Net), Sessions: []sessionJSON{}}
		for i, s := range ss {
			out.Sessions = append(out.Sessions, newSessionJSON(s, kills[i]))
		}
		err = jsonout.Write(env.Stdout, out)
	} else {
		printSessions(env.Stdout, ss, kills)
	}
	failed := 0
	for i, k := range kills {
		if k.failed() {
			failed++
			fmt.Fprintf(env.Stderr, "tcpka: ssh: could not close the %s session of pid %d: %v\n", ss[i].Side, ss[i].PIDs[0], k.err)
		}
	}
	if err == nil && failed > 0 {
		return exitCode(exitFailure)
	}
	return err
}

func knownSeconds(n int) *int {
	if n < 0 {
		return nil
	}
	return &n
}

func newSessionJSON(s sshcfg.Session, k killed) sessionJSON {
	o := sessionJSON{
		Side: s.Side.String(), PID: s.PIDs[0], PIDs: s.PIDs, Title: s.Title, User: s.User,
		Local: s.Socket.Local.String(), Peer: s.Socket.Peer.String(), State: s.Socket.State.String(),
		Destination: s.Destination, HostName: s.HostName, RemoteUser: s.RemoteUser,
		IdleS: knownSeconds(s.IdleS), Keepalive: s.TCP.Keepalive.String(),
		ConfigSource: s.ConfigSource, ConfigNote: s.ConfigNote,
		First:  string(s.EndsBy),
		Killed: k.tried && k.err == nil,
	}
	if s.DetectS > 0 { // null: never (first "none") or unknown (first "unknown")
		o.DetectionS = &s.DetectS
	}
	if v := s.TCP; v.HasOptions {
		settings := jsonout.New(v.Options.Settings, v.Bounds)
		o.TCP = &settings
	}
	if s.SSH != nil {
		o.AliveIntervalS, o.AliveCountMax = &s.SSH.Interval, &s.SSH.CountMax
	}
	if j := s.Judgment; j != nil && j.SSHDetect > 0 {
		o.SSHDetectionS = &j.SSHDetect
	}
	if s.Dying != nil {
		o.Dying = newDyingJSON(*s.Dying)
	}
	if k.failed() {
		o.KillError = k.err.Error()
	}
	return o
}

// printSessions prints one aligned line per session (fixed columns, to
// fit 100), and under it what is too long for a column: where the client
// connects, each layer's keepalive, why it is dying, what --kill-dying
// did. Then the notes on a side's SSH layer.
func printSessions(w io.Writer, ss []sshcfg.Session, kills []killed) {
	if len(ss) == 0 {
		fmt.Fprintln(w, "no SSH sessions in this network namespace")
		return
	}
	const row = "%-6s %-8s %-10s %-21s %-21s %-7s %-5s %-9s %s\n"
	fmt.Fprintf(w, row, "SIDE", "PID", "USER", "LOCAL", "PEER", "IDLE", "FIRST", "DETECTION", "STATE")
	var notes []string
	seen := map[string]bool{}
	for i, s := range ss {
		user := printable(s.User)
		if user == "" {
			user = "-"
		}
		idle := "-"
		if s.IdleS >= 0 {
			idle = human.Short(s.IdleS)
		}
		det := "?"
		switch {
		case s.DetectS > 0:
			det = human.Short(s.DetectS)
		case s.DetectS == 0:
			det = "never"
		}
		state := "ok"
		if s.Dying != nil {
			state = "DYING"
		}
		var detail []string
		if s.Destination != "" {
			dest := printable(s.Destination)
			if s.HostName != "" && s.HostName != s.Destination {
				dest += " (" + printable(s.HostName) + ")"
			}
			detail = append(detail, "to "+dest)
		}
		ka := "tcp " + s.TCP.Keepalive.String()
		if s.TCP.HasOptions && s.TCP.Keepalive == sockdiag.KeepaliveOn {
			ka = "tcp " + s.TCP.Effective.Triple()
		}
		if s.SSH != nil && s.SSH.Interval > 0 {
			ka += fmt.Sprintf(", ssh %ds x%d", s.SSH.Interval, s.SSH.CountMax)
		}
		detail = append(detail, "keepalive "+ka)
		if d := s.Dying; d != nil {
			detail = append(detail, d.Why()+", dropped in "+human.Short(roundS(d.DropIn.Nominal)))
		}
		switch k := kills[i]; {
		case k.tried && k.err == nil:
			state, detail = "closed", append(detail, "closed")
		case k.gone():
			detail = append(detail, "gone already")
		case k.tried:
			detail = append(detail, "NOT closed")
		}
		fmt.Fprintf(w, row, s.Side, strconv.Itoa(s.PIDs[0]), user, s.Socket.Local, s.Socket.Peer, idle, s.EndsBy, det, state)
		fmt.Fprintf(w, "  %s\n", strings.Join(detail, "; "))
		if s.ConfigNote != "" {
			n := s.Side.String() + " side: " + s.ConfigNote
			if !seen[n] {
				seen[n] = true
				notes = append(notes, n)
			}
		}
	}
	for _, n := range notes {
		fmt.Fprintf(w, "note: %s\n", printable(n))
	}
	dying := 0
	for _, s := range ss {
		if s.Dying != nil {
			dying++
		}
	}
	if dying > 0 && !anyTried(kills) {
		fmt.Fprintf(w, "%d %s %s dying: close %s now with tcpka ssh --sessions --kill-dying (root)\n",
			dying, human.Plural(dying, "session"), human.Verb(dying, "is", "are"), human.Verb(dying, "it", "them"))
	}
}

func anyTried(ks []killed) bool {
	for _, k := range ks {
		if k.tried {
			return true
		}
	}
	return false
}

// sessionsFlagsConflict refuses the flags that judge a config, which
// --sessions does not take.
func sessionsFlagsConflict(f sshFlags, args []string) error {
	var bad []string
	if len(args) > 0 {
		bad = append(bad, "HOST "+strconv.Quote(args[0]))
	}
	for _, x := range []struct{ name, v string }{
		{"--putty", f.putty}, {"--idle-timeout", f.idle}, {"--path", f.path}, {"--detect-within", f.within},
		{"--ssh-config", f.sshConfig}, {"--sshd-config", f.sshdConfig},
	} {
		if x.v != "" {
			bad = append(bad, x.name)
		}
	}
	if len(bad) > 0 {
		return usagef("--sessions lists the live sessions with their own configs: drop %s", strings.Join(bad, ", "))
	}
	return nil
}
