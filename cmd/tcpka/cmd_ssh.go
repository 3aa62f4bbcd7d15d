package main

import (
	"fmt"
	"io"
	"os"
	"strings"

	"github.com/spf13/pflag"
	"github.com/tcpka/tcpka/internal/detect"
	"github.com/tcpka/tcpka/internal/human"
	"github.com/tcpka/tcpka/internal/jsonout"
	"github.com/tcpka/tcpka/internal/nsreport"
	"github.com/tcpka/tcpka/internal/plan"
	"github.com/tcpka/tcpka/internal/profile"
	"github.com/tcpka/tcpka/internal/sshcfg"
)

type sshFlags struct {
	idle, path, within    string
	json                  bool
	sshConfig, sshdConfig string
	sshBin, sshdBin       string
	putty                 string
	sessions, killDying   bool
}

var cmdSSH = &Command{
	Name:      "ssh",
	UsageLine: "ssh [HOST | --putty PATH] [--idle-timeout D | --path NAME] [--detect-within D] [--ssh-config FILE] [--sshd-config FILE] [--json] | ssh --sessions [--kill-dying] [--json]",
	Short:     "judge SSH and TCP keepalive; list and close hung SSH sessions",
	Long: `An SSH session has two keepalives: the SSH layer's (ServerAliveInterval and
ServerAliveCountMax in the client, ClientAliveInterval and ClientAliveCountMax
in sshd) and the kernel's TCP keepalive (TCPKeepAlive yes, timed by the
sysctls tcpka tunes). tcpka ssh reads the client's effective settings for
HOST with 'ssh -G HOST' and, when sshd is installed and tcpka runs as root,
the server's with 'sshd -T'. For each side it says when a dead peer is
noticed by each layer, which one closes the session first, and whether an
idle session survives the path's idle timeout.

The goal is the ssh profile's: survive the path (--path or --idle-timeout;
by default 4 min, the shortest idle timeout tcpka knows) and notice a dead
peer within --detect-within (default 2 min). When a side misses it, tcpka
prints the lines to add to ~/.ssh/config and an /etc/ssh/sshd_config.d
drop-in, and the tcpka profile for the TCP layer. Without HOST the client
is judged for "Host *". Nothing is written.

ssh gives up on a silent server between CountMax and CountMax+1 intervals
after it fell silent. sshd (measured with OpenSSH 9.2) checks an idle session
only every other ClientAliveInterval, so it takes up to twice as long; tcpka
reports the later bounds and recommends a ClientAliveInterval half the
ServerAliveInterval.

With --putty PATH, tcpka judges saved PuTTY sessions instead of ssh and sshd
(neither is run): PATH is a registry export of
HKEY_CURRENT_USER\Software\SimonTatham\PuTTY\Sessions made with regedit (a
.reg file, UTF-16 or UTF-8), or Unix PuTTY's ~/.putty/sessions directory. For
each session it says whether an idle session survives the path and when a
dead server is noticed, and prints the setting to change, Connection >
Seconds between keepalives. PuTTY's keepalives are SSH_MSG_IGNORE data the
server never answers: a dead server is noticed when the client's
retransmission gives up on the next one, not by TCP keepalive, and no PuTTY
setting bounds that time, so the goal a session can miss is surviving the
path. Sessions in a .reg file are judged with Windows' documented defaults
(tcpka cannot read a Windows machine), a sessions directory with this
machine's kernel values.

The export is read whole up to 64 MiB, a session file up to 1 MiB; both
are parsed in time linear in their size. An error names the file, the line
and the setting, never the file's content.

With --sessions, tcpka ssh lists the live SSH sessions of this host instead,
one line each: sshd's connections (the logged-in user from sshd's process
title, the client's address) and ssh clients (the destination as typed and
the host ssh -G resolves it to). For each it says which layer would end it
if the peer vanished now, and when: the SSH layer, from the settings that
connection runs with (sshd -T -C with its user and addresses, through the
running sshd's binary and -f; ssh -G as the user running ssh), or TCP
keepalive, from the socket's own options (root). IDLE stays "-" until tcpka
reads the kernel's tcp_info. A session whose peer stopped answering
(keepalive probes or retransmissions unanswered) is DYING; --kill-dying
closes those now, as ss -K does (SOCK_DESTROY, needs CAP_NET_ADMIN): the ssh
or sshd process at this end gets ECONNABORTED and exits. Without root the
server side's SSH layer is not read. Exit 0, 1 when a close failed, 3 when
nothing could be determined (neither ssh nor sshd here, no sock_diag).

Exit 0 when every side judged (or every PuTTY session) meets the goal, 1
when one misses it ("verdict: misses the goal"), 2 on bad input (a bad
flag value, an ask no settings meet, a missing or malformed config, export
or sessions directory), 3 when settings could not be read (ssh -G failed,
or sshd -T on --sshd-config FILE; the kernel's values, an unreadable
export). A side that is not judged (no ssh here, sshd -T without root)
does not count.`,
	Examples: "tcpka ssh\ntcpka ssh build-server --path aws-nlb\nsudo tcpka ssh --idle-timeout 10m --json\ntcpka ssh --putty putty-sessions.reg --path aws-nlb\ntcpka ssh --putty ~/.putty/sessions --json\nsudo tcpka ssh --sessions\nsudo tcpka ssh --sessions --kill-dying",
	Bind: func(fs *pflag.FlagSet) Runner {
		f := &sshFlags{}
		fs.StringVar(&f.idle, "idle-timeout", "", "the path forgets idle flows after `D`")
		fs.StringVar(&f.path, "path", "", "a known middlebox `NAME` ("+strings.Join(plan.Names(), ", ")+")")
		completesTo(fs, "path", plan.Names())
		fs.StringVar(&f.within, "detect-within", "", "notice a dead peer within `D` (default: the ssh profile's 2m)")
		fs.BoolVar(&f.json, "json", false, "print one JSON object")
		fs.StringVar(&f.sshConfig, "ssh-config", "", "read the client config from `FILE` (ssh -F)")
		fs.StringVar(&f.sshdConfig, "sshd-config", "", "read the server config from `FILE` (sshd -f)")
		fs.StringVar(&f.putty, "putty", "", "judge saved PuTTY sessions in `PATH` (a regedit .reg export or ~/.putty/sessions) instead of ssh and sshd")
		fs.BoolVar(&f.sessions, "sessions", false, "list the live SSH sessions of this host and what would end each")
		fs.BoolVar(&f.killDying, "kill-dying", false, "with --sessions: close the sessions whose peer stopped answering (root)")
		fs.StringVar(&f.sshBin, "ssh-bin", "ssh", "the ssh `PROGRAM` (for tests)")
		fs.StringVar(&f.sshdBin, "sshd-bin", "sshd", "the sshd `PROGRAM` (for tests)")
		_ = fs.MarkHidden("ssh-bin")
		_ = fs.MarkHidden("sshd-bin")
		return func(env *Env, args []string) error { return runSSH(env, *f, args) }
	},
}

// sideJSON is one side in --json; *_s fields are null for "never".
type sideJSON struct {
	Judged         bool     `json:"judged"`
	Source         string   `json:"source"`
	Note           string   `json:"note,omitempty"`
	AliveIntervalS *int     `json:"alive_interval_s,omitempty"`
	AliveCountMax  *int     `json:"alive_count_max,omitempty"`
	TCPKeepAlive   *bool    `json:"tcp_keepalive,omitempty"`
	SSHDetectionS  *int     `json:"ssh_detection_s,omitempty"`
	TCPDetectionS  *int     `json:"tcp_detection_s,omitempty"`
	First          string   `json:"first,omitempty"`
	DetectionS     *int     `json:"detection_s,omitempty"`
	IdlePacketS    *int     `json:"idle_packet_every_s,omitempty"`
	IdlePath       string   `json:"idle_path,omitempty"`
	Fix            []string `json:"fix"`
}

type sshJSONOut struct {
	Host          string           `json:"host"`
	IdleTimeoutS  int              `json:"idle_timeout_s"`
	Path          string           `json:"path,omitempty"`
	DetectWithinS int              `json:"detect_within_s"`
	Kernel        jsonout.Settings `json:"kernel"`
	Client        sideJSON         `json:"client"`
	Server        sideJSON         `json:"server"`
	SSHConfig     []string         `json:"ssh_config"`
	SSHDDropIn    string           `json:"sshd_dropin_file"`
	SSHDLines     []string         `json:"sshd_dropin"`
	Profile       *struct {
		Name    string `json:"name,omitempty"`
		Command string `json:"command"`
		jsonout.Settings
	} `json:"profile"`
}

func ptr[T any](v T) *T { return &v }

func sideReportJSON(r sshcfg.SideReport) sideJSON {
	out := sideJSON{Judged: r.J != nil, Source: r.Source, Note: r.Note, Fix: nsreport.NonNil(r.Fix)}
	if j := r.J; j != nil {
		out.AliveIntervalS, out.AliveCountMax, out.TCPKeepAlive = ptr(j.Interval), ptr(j.CountMax), ptr(j.TCPKeepAlive)
		if j.SSHDetect > 0 {
			out.SSHDetectionS = ptr(j.SSHDetect)
		}
		if j.TCPDetect > 0 {
			out.TCPDetectionS = ptr(j.TCPDetect)
		}
		out.First = string(j.First)
		if j.Detect > 0 {
			out.DetectionS = ptr(j.Detect)
		}
		if j.Every > 0 {
			out.IdlePacketS = ptr(j.Every)
		}
		out.IdlePath = string(j.Verdict)
	}
	return out
}

func runSSH(env *Env, f sshFlags, args []string) error {
	if len(args) > 1 {
		return usagef("takes at most one HOST, got %q", strings.Join(args, " "))
	}
	if f.killDying && !f.sessions {
		return usagef("--kill-dying closes live sessions: give --sessions too")
	}
	if f.sessions {
		if err := sessionsFlagsConflict(f, args); err != nil {
			return err
		}
		return runSessions(env, f)
	}
	if f.putty != "" {
		switch {
		case len(args) == 1:
			return usagef("--putty judges saved sessions, not HOST %q: give one or the other", args[0])
		case f.sshConfig != "" || f.sshdConfig != "":
			return usagef("--putty reads no ssh or sshd config: drop --ssh-config and --sshd-config")
		}
	}
	host := "*"
	if len(args) == 1 {
		host = args[0]
		if host == "" {
			return usagef("HOST is empty")
		}
	}
	def, err := profile.Shipped("ssh")
	if err != nil {
		return err
	}
	idle, within := 0, def.DetectWithin
	if f.idle != "" {
		if idle, err = parseSeconds("idle-timeout", f.idle); err != nil {
			return err
		}
	}
	if f.within != "" {
		if within, err = parseSeconds("detect-within", f.within); err != nil {
			return err
		}
	}
	box, err := resolvePath(f.path, f.idle, &idle)
	if err != nil {
		return withCommand("ssh", err)
	}
	pathWhy := ""
	switch {
	case box != nil:
		pathWhy = box.Name + ", " + box.Title
	case idle > 0:
		pathWhy = "--idle-timeout"
	default:
		idle = def.IdleTimeout
		s := plan.Smallest()
		pathWhy = fmt.Sprintf("the shortest tcpka knows (%s); give yours with --path or --idle-timeout", s.Name)
	}
	if f.putty != "" {
		return runPuTTY(env, f, idle, within, box, pathWhy)
	}
	k, err := env.NS().Read()
	if err != nil {
		return fmt.Errorf("ssh: %w", err)
	}
	r, err := sshcfg.Evaluate(sshcfg.Ask{
		Host: host, IdleTimeout: idle, DetectWithin: within,
		ClientConfig: f.sshConfig, ServerConfig: f.sshdConfig, SSHBin: f.sshBin, SSHDBin: f.sshdBin,
		MayRunSSHD: os.Geteuid() == 0, DefaultName: def.Name, DefaultSettings: def.Settings,
	}, k)
	if err != nil {
		return fmt.Errorf("ssh: %w", err)
	}
	clientLines := r.Client.Fix
	if f.json {
		out := sshJSONOut{
			Host: host, IdleTimeoutS: idle, DetectWithinS: within, Kernel: jsonout.Of(k, detect.Net{}),
			Client: sideReportJSON(r.Client), Server: sideReportJSON(r.Server),
			SSHConfig: []string{}, SSHDDropIn: r.DropIn, SSHDLines: []string{},
		}
		if box != nil {
			out.Path = box.Name
		}
		if len(clientLines) > 0 {
			out.SSHConfig = append([]string{"Host " + host}, clientLines...)
		}
		out.SSHDLines = append(out.SSHDLines, r.ServerLines...)
		if r.ProfileCommand != "" {
			out.Profile = &struct {
				Name    string `json:"name,omitempty"`
				Command string `json:"command"`
				jsonout.Settings
			}{Name: r.ProfileName, Command: r.ProfileCommand, Settings: jsonout.Profile(r.Rec.Profile.Settings)}
		}
		if err := jsonout.Write(env.Stdout, out); err != nil {
			return err
		}
		return sshMissed(env, r)
	}

	w := env.Stdout
	fmt.Fprintf(w, "path: idle timeout %s: %s\n", human.Seconds(idle), pathWhy)
	fmt.Fprintf(w, "goal: an idle session stays open, and a dead peer is noticed within %s\n", human.Seconds(within))
	fmt.Fprintf(w, "kernel: tcp_keepalive %d s / %d s / %d: TCP keepalive notices a dead peer after %s\n", k.Time, k.Intvl, k.Probes, human.Seconds(detect.Idle(k)))
	printSide(w, "client", "server", r.Client, idle, within)
	printSide(w, "server", "client", r.Server, idle, within)

	if r.NothingToChange() {
		fmt.Fprintln(w, "\nnothing to change: both sides and the kernel meet the goal")
		return sshMissed(env, r)
	}
	if len(clientLines) > 0 {
		fmt.Fprintf(w, "\nadd to ~/.ssh/config (ssh uses the first value it reads: put this above any \"Host *\" block):\n")
		fmt.Fprintf(w, "    Host %s\n", host)
		for _, l := range clientLines {
			fmt.Fprintf(w, "        %s\n", l)
		}
	}
	if len(r.ServerLines) > 0 {
		lead := "add"
		if r.Server.J == nil {
			lead = "on your SSH servers, add"
		}
		fmt.Fprintf(w, "\n%s as %s, then reload sshd (systemctl reload ssh):\n", lead, r.DropIn)
		fmt.Fprintf(w, "    # tcpka: keep idle sessions through a %s idle timeout, drop dead clients within %s\n", human.Duration(idle), human.Duration(within))
		fmt.Fprintf(w, "    # (sshd checks an idle session every other ClientAliveInterval)\n")
		for _, l := range r.ServerLines {
			fmt.Fprintf(w, "    %s\n", l)
		}
		if r.Server.J != nil && !r.IncludesDropIns {
			fmt.Fprintf(w, "    (%s does not Include %s/*.conf: put the lines near its top instead, above any Match block)\n", r.MainConfig, r.DropDir)
		}
		fmt.Fprintln(w, "    (sshd also uses the first value it reads; drop-ins are read in name order)")
	}
	if r.ProfileCommand != "" {
		p := r.Rec.Profile.Settings
		fmt.Fprintf(w, "\napply the tcpka profile for the TCP layer (covers sessions without SSH keepalives, e.g. clients you do not configure):\n")
		fmt.Fprintf(w, "    %s\n", r.ProfileCommand)
		fmt.Fprintf(w, "    (%d s / %d s / %d: first probe after %s idle, dead peer noticed after %s)\n", p.Time, p.Intvl, p.Probes, human.Duration(p.Time), human.Seconds(detect.Idle(p)))
	}
	return sshMissed(env, r)
}

// sshMissed is tcpka ssh's exit: 1 when a judged side misses the goal
// (its verdict line says so), after the report was printed.
// sshMissed is ssh's exit status after its report: 1 when a judged side
// misses the goal, 3 when neither side could be judged (no ssh, no sshd
// readable here: nothing was determined).
func sshMissed(env *Env, r *sshcfg.Report) error {
	if r.Missed() > 0 {
		return exitCode(exitFailure)
	}
	if r.Client.J == nil && r.Server.J == nil {
		fmt.Fprintln(env.Stderr, "tcpka: ssh: neither an ssh client nor an sshd could be judged here (see the notes above): nothing was determined")
		return exitCode(exitUnknown)
	}
	return nil
}

func printSide(w io.Writer, name, peer string, r sshcfg.SideReport, idle, within int) {
	fmt.Fprintf(w, "\n%s (%s)\n", name, r.Source)
	j := r.J
	if j == nil {
		fmt.Fprintf(w, "  %s\n", r.Note)
		return
	}
	iv, cm := j.Side.Keyword("interval"), j.Side.Keyword("countmax")
	if j.SSHDetect > 0 {
		fmt.Fprintf(w, "  SSH layer: %s %d, %s %d: a silent %s is dropped after %d-%s\n", iv, j.Interval, cm, j.CountMax, peer, j.SSHDetectMin, human.Seconds(j.SSHDetect))
	} else {
		fmt.Fprintf(w, "  SSH layer: %s %d, %s %d: %s\n", iv, j.Interval, cm, j.CountMax, j.SSHOff[strings.Index(j.SSHOff, ": ")+2:])
	}
	if j.TCPKeepAlive {
		fmt.Fprintf(w, "  TCP layer: TCPKeepAlive yes: the kernel values give up after %s\n", human.Seconds(j.TCPDetect))
	} else {
		fmt.Fprintln(w, "  TCP layer: TCPKeepAlive no: the kernel's keepalive does not apply")
	}
	switch j.First {
	case sshcfg.LayerSSH:
		extra := ""
		if j.TCPKeepAlive {
			extra = fmt.Sprintf(" (TCP keepalive cannot: it would need %s, and the first SSH keepalive goes out after %s)", human.Duration(j.TCPDetect), human.Duration(j.Period()))
		}
		fmt.Fprintf(w, "  first: the SSH layer drops a dead %s within %s%s\n", peer, human.Seconds(j.Detect), extra)
	case sshcfg.LayerTCP:
		fmt.Fprintf(w, "  first: TCP keepalive drops a dead %s after %s\n", peer, human.Seconds(j.Detect))
	case sshcfg.LayerRetx:
		fmt.Fprintf(w, "  first: retransmission of the unanswered SSH keepalive, about %s (tcp_retries2 %d)\n", human.Seconds(j.Detect), j.Retries2)
	default:
		fmt.Fprintf(w, "  first: nothing: a dead %s is never noticed on an idle session\n", peer)
	}
	by := "TCP keepalive"
	if j.By == sshcfg.LayerSSH {
		by = "SSH keepalive"
	}
	verdict := fmt.Sprintf("an idle session sends a packet every %s (%s)", human.Duration(j.Every), by)
	if j.Every == 0 {
		verdict = "an idle session sends nothing"
	}
	switch j.Verdict {
	case sshcfg.Survives:
		fmt.Fprintf(w, "  %s path: survives: %s\n", human.Duration(idle), verdict)
	case sshcfg.AtRisk:
		fmt.Fprintf(w, "  %s path: AT RISK: %s, within %d s of the timeout (timer lateness)\n", human.Duration(idle), verdict, detect.Margin(idle))
	default:
		fmt.Fprintf(w, "  %s path: DROPPED: %s\n", human.Duration(idle), verdict)
	}
	switch {
	case r.Misses(within):
		fmt.Fprintf(w, "  verdict: misses the goal: see below\n")
	case len(r.Fix) == 0:
		fmt.Fprintf(w, "  verdict: ok\n")
	default:
		fmt.Fprintf(w, "  verdict: meets the goal through the kernel values, but its own settings do not: see below\n")
	}
}
