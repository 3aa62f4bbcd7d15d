package main

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"sync"

	"github.com/spf13/pflag"
	"github.com/tcpka/tcpka/internal/detect"
	"github.com/tcpka/tcpka/internal/plan"
	"github.com/tcpka/tcpka/internal/profile"
	"github.com/tcpka/tcpka/internal/sshcfg"
	"github.com/tcpka/tcpka/internal/sysctl"
)

var (
	sshIdle       string
	sshPath       string
	sshWithin     string
	sshJSON       bool
	sshConfig     string
	sshdConfig    string
	sshBin        string
	sshdBin       string
	sshDropInName = "10-tcpka-keepalive.conf"
)

var cmdSSH = &Command{
	Name:      "ssh",
	UsageLine: "ssh [HOST] [--idle-timeout D | --path NAME] [--detect-within D] [--json]",
	Short:     "judge SSH keepalives and TCP keepalive for a host; print the lines that fix them",
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
ServerAliveInterval.`,
	Examples: "tcpka ssh\ntcpka ssh build-server --path aws-nlb\nsudo tcpka ssh --idle-timeout 10m --json",
	Flags: func(fs *pflag.FlagSet) {
		fs.StringVar(&sshIdle, "idle-timeout", "", "the path forgets idle flows after `D`")
		fs.StringVar(&sshPath, "path", "", "a known middlebox `NAME` ("+strings.Join(plan.Names(), ", ")+")")
		fs.StringVar(&sshWithin, "detect-within", "", "notice a dead peer within `D` (default: the ssh profile's 2m)")
		fs.BoolVar(&sshJSON, "json", false, "print one JSON object")
		fs.StringVar(&sshConfig, "ssh-config", "", "read the client config from `FILE` (ssh -F)")
		fs.StringVar(&sshdConfig, "sshd-config", "", "read the server config from `FILE` (sshd -f)")
		fs.StringVar(&sshBin, "ssh-bin", "ssh", "the ssh `PROGRAM` (for tests)")
		fs.StringVar(&sshdBin, "sshd-bin", "sshd", "the sshd `PROGRAM` (for tests)")
		_ = fs.MarkHidden("ssh-bin")
		_ = fs.MarkHidden("sshd-bin")
	},
	Run: runSSH,
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
	Host          string     `json:"host"`
	IdleTimeoutS  int        `json:"idle_timeout_s"`
	Path          string     `json:"path,omitempty"`
	DetectWithinS int        `json:"detect_within_s"`
	Kernel        valuesJSON `json:"kernel"`
	Client        sideJSON   `json:"client"`
	Server        sideJSON   `json:"server"`
	SSHConfig     []string   `json:"ssh_config"`
	SSHDDropIn    string     `json:"sshd_dropin_file"`
	SSHDLines     []string   `json:"sshd_dropin"`
	Profile       *struct {
		Name    string `json:"name,omitempty"`
		Command string `json:"command"`
		valuesJSON
	} `json:"profile"`
}

// sideResult is a side read and judged, or why it was not.
type sideResult struct {
	source string
	note   string // why not judged
	j      *sshcfg.Judgment
	fix    []string
}

func ptr[T any](v T) *T { return &v }

func (r sideResult) json() sideJSON {
	out := sideJSON{Judged: r.j != nil, Source: r.source, Note: r.note, Fix: r.fix}
	if out.Fix == nil {
		out.Fix = []string{}
	}
	if j := r.j; j != nil {
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

func runSSH(env *Env, args []string) error {
	if len(args) > 1 {
		return usagef("takes at most one HOST, got %q", strings.Join(args, " "))
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
	if sshIdle != "" {
		if idle, err = parseSeconds("idle-timeout", sshIdle); err != nil {
			return err
		}
	}
	if sshWithin != "" {
		if within, err = parseSeconds("detect-within", sshWithin); err != nil {
			return err
		}
	}
	box, err := resolvePath(sshPath, sshIdle, &idle)
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
	rec, err := sshcfg.Recommend(idle, within)
	if err != nil {
		return fmt.Errorf("ssh: %w", err)
	}
	kv, err := env.sysFS().Read()
	if err != nil {
		return fmt.Errorf("ssh: %w", err)
	}
	k := keepalive(kv)

	client := sideResult{source: "ssh -G " + host}
	if sshConfig != "" {
		client.source = "ssh -F " + sshConfig + " -G " + host
	}
	if s, err := sshcfg.ReadClient(sshBin, sshConfig, host); err != nil {
		if !errors.Is(err, sshcfg.ErrNotInstalled) {
			return fmt.Errorf("ssh: %w", err)
		}
		client.note = "ssh is not installed here: the client side is not judged"
	} else {
		j := sshcfg.Judge(s, k, idle)
		client.j, client.fix = &j, rec.Fix(j, within)
	}

	server := sideResult{source: "sshd -T"}
	if sshdConfig != "" {
		server.source = "sshd -T -f " + sshdConfig
	}
	switch _, ferr := sshcfg.Find(sshdBin); {
	case ferr != nil:
		server.note = "sshd is not installed here: the server side is not judged (run tcpka ssh on the server)"
	case os.Geteuid() != 0:
		server.note = "sshd -T needs root: run tcpka ssh with sudo to judge the server"
	default:
		s, err := sshcfg.ReadServer(sshdBin, sshdConfig)
		if err != nil {
			if sshdConfig != "" {
				return fmt.Errorf("ssh: %w", err)
			}
			server.note = "not judged: " + err.Error()
			if strings.Contains(err.Error(), "privilege separation directory") {
				server.note += " (sshd has not run since boot; start it, then run tcpka ssh again)"
			}
		} else {
			j := sshcfg.Judge(s, k, idle)
			server.j, server.fix = &j, rec.Fix(j, within)
		}
	}

	// The TCP layer: does the kernel alone meet the goal?
	kernelOK := k.Time <= idle-profile.Margin(idle) && k.IdleSeconds() <= within
	profName, profCmd := "", ""
	if !kernelOK {
		profName, profCmd = profileCommand(rec.Profile, def, idle, within)
	}

	dropDir := "/etc/ssh/sshd_config.d"
	mainCfg := "/etc/ssh/sshd_config"
	if sshdConfig != "" {
		mainCfg = sshdConfig
		dropDir = filepath.Join(filepath.Dir(sshdConfig), "sshd_config.d")
	}
	dropIn := filepath.Join(dropDir, sshDropInName)
	serverLines := server.fix
	if server.j == nil {
		serverLines = rec.Full(sshcfg.Server)
	}
	clientLines := client.fix

	if sshJSON {
		out := sshJSONOut{
			Host: host, IdleTimeoutS: idle, DetectWithinS: within, Kernel: newValuesJSON(kv),
			Client: client.json(), Server: server.json(),
			SSHConfig: []string{}, SSHDDropIn: dropIn, SSHDLines: []string{},
		}
		if box != nil {
			out.Path = box.Name
		}
		if len(clientLines) > 0 {
			out.SSHConfig = append([]string{"Host " + host}, clientLines...)
		}
		out.SSHDLines = append(out.SSHDLines, serverLines...)
		if profCmd != "" {
			p := rec.Profile.Keepalive
			out.Profile = &struct {
				Name    string `json:"name,omitempty"`
				Command string `json:"command"`
				valuesJSON
			}{Name: profName, Command: profCmd, valuesJSON: newValuesJSON(sysctl.Values{Time: p.Time, Intvl: p.Intvl, Probes: p.Probes})}
		}
		return writeJSON(env.Stdout, out)
	}

	w := env.Stdout
	fmt.Fprintf(w, "path: idle timeout %s: %s\n", detect.Seconds(idle), pathWhy)
	fmt.Fprintf(w, "goal: an idle session stays open, and a dead peer is noticed within %s\n", detect.Seconds(within))
	fmt.Fprintf(w, "kernel: tcp_keepalive %d s / %d s / %d: TCP keepalive notices a dead peer after %s\n", k.Time, k.Intvl, k.Probes, detect.Seconds(k.IdleSeconds()))
	printSide(w, "client", "server", client, idle, within)
	printSide(w, "server", "client", server, idle, within)

	if len(clientLines) == 0 && server.j != nil && len(server.fix) == 0 && profCmd == "" {
		fmt.Fprintln(w, "\nnothing to change: both sides and the kernel meet the goal")
		return nil
	}
	if len(clientLines) > 0 {
		fmt.Fprintf(w, "\nadd to ~/.ssh/config (ssh uses the first value it reads: put this above any \"Host *\" block):\n")
		fmt.Fprintf(w, "    Host %s\n", host)
		for _, l := range clientLines {
			fmt.Fprintf(w, "        %s\n", l)
		}
	}
	if len(serverLines) > 0 {
		lead := "add"
		if server.j == nil {
			lead = "on your SSH servers, add"
		}
		fmt.Fprintf(w, "\n%s as %s, then reload sshd (systemctl reload ssh):\n", lead, dropIn)
		fmt.Fprintf(w, "    # tcpka: keep idle sessions through a %s idle timeout, drop dead clients within %s\n", detect.Words(idle), detect.Words(within))
		fmt.Fprintf(w, "    # (sshd checks an idle session every other ClientAliveInterval)\n")
		for _, l := range serverLines {
			fmt.Fprintf(w, "    %s\n", l)
		}
		if server.j != nil && !includesDropIns(mainCfg, dropDir) {
			fmt.Fprintf(w, "    (%s does not Include %s/*.conf: put the lines near its top instead, above any Match block)\n", mainCfg, dropDir)
		}
		fmt.Fprintln(w, "    (sshd also uses the first value it reads; drop-ins are read in name order)")
	}
	if profCmd != "" {
		p := rec.Profile.Keepalive
		fmt.Fprintf(w, "\napply the tcpka profile for the TCP layer (covers sessions without SSH keepalives, e.g. clients you do not configure):\n")
		fmt.Fprintf(w, "    %s\n", profCmd)
		fmt.Fprintf(w, "    (%d s / %d s / %d: first probe after %s idle, dead peer noticed after %s)\n", p.Time, p.Intvl, p.Probes, detect.Words(p.Time), detect.Seconds(p.IdleSeconds()))
	}
	return nil
}

// profileCommand names the profile to apply: the shipped ssh profile when
// it is the plan, otherwise a plan written to a file.
func profileCommand(p plan.Plan, def *profile.Profile, idle, within int) (name, command string) {
	if p.Keepalive == def.Keepalive(sysctl.Values{}) {
		return def.Name, "sudo tcpka apply " + def.Name
	}
	return "", fmt.Sprintf("tcpka plan --idle-timeout %ds --detect-within %ds -o ssh-path.yaml && sudo tcpka apply ./ssh-path.yaml", idle, within)
}

func printSide(w io.Writer, name, peer string, r sideResult, idle, within int) {
	fmt.Fprintf(w, "\n%s (%s)\n", name, r.source)
	j := r.j
	if j == nil {
		fmt.Fprintf(w, "  %s\n", r.note)
		return
	}
	iv, cm := j.Side.Keyword("interval"), j.Side.Keyword("countmax")
	if j.SSHDetect > 0 {
		fmt.Fprintf(w, "  SSH layer: %s %d, %s %d: a silent %s is dropped after %d-%s\n", iv, j.Interval, cm, j.CountMax, peer, j.SSHDetectMin, detect.Seconds(j.SSHDetect))
	} else {
		fmt.Fprintf(w, "  SSH layer: %s %d, %s %d: %s\n", iv, j.Interval, cm, j.CountMax, j.SSHOff[strings.Index(j.SSHOff, ": ")+2:])
	}
	if j.TCPKeepAlive {
		fmt.Fprintf(w, "  TCP layer: TCPKeepAlive yes: the kernel values give up after %s\n", detect.Seconds(j.TCPDetect))
	} else {
		fmt.Fprintln(w, "  TCP layer: TCPKeepAlive no: the kernel's keepalive does not apply")
	}
	switch j.First {
	case sshcfg.LayerSSH:
		extra := ""
		if j.TCPKeepAlive {
			extra = fmt.Sprintf(" (TCP keepalive cannot: it would need %s, and the first SSH keepalive goes out after %s)", detect.Words(j.TCPDetect), detect.Words(j.Period()))
		}
		fmt.Fprintf(w, "  first: the SSH layer drops a dead %s within %s%s\n", peer, detect.Seconds(j.Detect), extra)
	case sshcfg.LayerTCP:
		fmt.Fprintf(w, "  first: TCP keepalive drops a dead %s after %s\n", peer, detect.Seconds(j.Detect))
	case sshcfg.LayerRetx:
		fmt.Fprintf(w, "  first: retransmission of the unanswered SSH keepalive, about %s (tcp_retries2=15)\n", detect.Seconds(j.Detect))
	default:
		fmt.Fprintf(w, "  first: nothing: a dead %s is never noticed on an idle session\n", peer)
	}
	by := "TCP keepalive"
	if j.By == sshcfg.LayerSSH {
		by = "SSH keepalive"
	}
	verdict := fmt.Sprintf("an idle session sends a packet every %s (%s)", detect.Words(j.Every), by)
	if j.Every == 0 {
		verdict = "an idle session sends nothing"
	}
	switch j.Verdict {
	case sshcfg.Survives:
		fmt.Fprintf(w, "  %s path: survives: %s\n", detect.Words(idle), verdict)
	case sshcfg.AtRisk:
		fmt.Fprintf(w, "  %s path: AT RISK: %s, within %d s of the timeout (timer lateness)\n", detect.Words(idle), verdict, profile.Margin(idle))
	default:
		fmt.Fprintf(w, "  %s path: DROPPED: %s\n", detect.Words(idle), verdict)
	}
	switch {
	case len(r.fix) == 0:
		fmt.Fprintf(w, "  verdict: ok\n")
	case j.Meets(within):
		fmt.Fprintf(w, "  verdict: meets the goal through the kernel values, but its own settings do not: see below\n")
	default:
		fmt.Fprintf(w, "  verdict: misses the goal: see below\n")
	}
}

// includeRE is compiled on first use, not at init, which every command
// (show included) would pay for.
var includeRE = sync.OnceValue(func() *regexp.Regexp { return regexp.MustCompile(`(?i)^\s*include\s+(.+)$`) })

// includesDropIns says whether the sshd config file includes dir/*.conf.
func includesDropIns(file, dir string) bool {
	f, err := os.Open(file)
	if err != nil {
		return false
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if m := includeRE().FindStringSubmatch(sc.Text()); m != nil {
			for _, pat := range strings.Fields(m[1]) {
				if filepath.Clean(filepath.Dir(pat)) == filepath.Clean(dir) {
					return true
				}
			}
		}
	}
	return false
}
