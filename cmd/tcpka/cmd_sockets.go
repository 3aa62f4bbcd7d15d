package main

import (
	"bufio"
	"fmt"
	"os"
	"sort"
	"strconv"

	"github.com/spf13/pflag"
	"github.com/tcpka/tcpka/internal/caps"
	"github.com/tcpka/tcpka/internal/detect"
	"github.com/tcpka/tcpka/internal/human"
	"github.com/tcpka/tcpka/internal/jsonout"
	"github.com/tcpka/tcpka/internal/keepalive"
	"github.com/tcpka/tcpka/internal/sockdiag"
	"github.com/tcpka/tcpka/internal/sysctl"
)

// socketsFlags are the flags of tcpka sockets.
type socketsFlags struct {
	summary     bool
	processes   bool
	json        bool
	noKeepalive bool
	port        int
	pid         int
	state       string
}

var cmdSockets = &Command{
	Name:      "sockets",
	Netns:     true,
	UsageLine: "sockets [--summary] [--processes] [--port N] [--pid N] [--no-keepalive] [--state S] [--json] [--netns TARGET]",
	Short:     "list live TCP sockets and whether the keepalive sysctls reach them",
	Long: `Lists the TCP sockets of the current network namespace (IPv4 and IPv6,
established by default) from the kernel's sock_diag interface, as ss does:
local and peer address, state, keepalive on or off, the time to the next
keepalive probe and the probes already sent. Without --processes, keepalive
is read from the socket's timer: "unknown" when a retransmission timer hides
it.

The sysctls only reach sockets that turned SO_KEEPALIVE on and did not set
their own TCP_KEEPIDLE/TCP_KEEPINTVL/TCP_KEEPCNT. --processes (root) finds
each socket's process in /proc/PID/fd and reads its effective options with
pidfd_getfd + getsockopt: idle/intvl/cnt, TCP_USER_TIMEOUT, "own" where they
differ from the sysctls, and the socket's own dead-peer detection time.
A process that exits during the scan is skipped.

--summary counts instead of listing: total, keepalive off, keepalive on, and
with --processes those following the sysctls and those with their own
values, the worst detection time, and the same per command.

--json prints one JSON object, {"sysctl": {...}, "sockets": [...]}, with one
socket per line inside the array. It is written while the kernel's dump
streams in, so memory stays flat on hosts with many sockets.`,
	Examples: `tcpka sockets
tcpka sockets --summary --processes
tcpka sockets --processes --port 22
tcpka sockets --no-keepalive --json
tcpka sockets --state all --pid 1234`,
	Bind: func(fs *pflag.FlagSet) Runner {
		f := &socketsFlags{}
		fs.BoolVar(&f.summary, "summary", false, "print counts instead of one line per socket")
		fs.BoolVar(&f.processes, "processes", false, "find each socket's process and read its keepalive options (root)")
		fs.IntVar(&f.port, "port", 0, "only sockets with local or peer port `N`")
		fs.IntVar(&f.pid, "pid", 0, "only sockets held by process `N`")
		fs.BoolVar(&f.noKeepalive, "no-keepalive", false, "only sockets with keepalive off")
		fs.StringVar(&f.state, "state", "established", "TCP state `S`: established, syn-sent, time-wait, listening, ..., connected or all")
		completesTo(fs, "state", sockdiag.StateNames())
		fs.BoolVar(&f.json, "json", false, "print one JSON object")
		return func(env *Env, args []string) error { return runSockets(env, *f, args) }
	},
}

func runSockets(env *Env, f socketsFlags, args []string) error {
	if len(args) > 0 {
		return usagef("takes no arguments, got %q", args[0])
	}
	states, err := sockdiag.ParseStates(f.state)
	if err != nil {
		return usagef("--state: %v", err)
	}
	if f.port < 0 || f.port > 65535 {
		return usagef("--port %d: want 1..65535", f.port)
	}
	if f.pid < 0 {
		return usagef("--pid %d: want a process id", f.pid)
	}
	if f.processes {
		if err := caps.Need("sockets --processes", "to read other processes' sockets with pidfd_getfd", caps.SysPtrace); err != nil {
			return err
		}
	}
	if f.pid > 0 {
		if _, err := os.Stat(env.ProcRoot() + "/" + strconv.Itoa(f.pid)); err != nil {
			return inputf("sockets: --pid %d: no such process", f.pid)
		}
	}
	sys, err := env.NS().Read()
	if err != nil {
		return fmt.Errorf("sockets: %w", err)
	}
	sc := &sockdiag.Scan{Lister: sockdiag.Netlink{}, Sysctls: sys, Net: env.NS().ReadNet(),
		Filter: sockdiag.Filter{States: states, Port: f.port, PID: f.pid, NoKeepalive: f.noKeepalive}}
	if f.processes || f.pid > 0 {
		owners, err := sockdiag.ReadOwners(env.ProcRoot())
		if err != nil {
			return fmt.Errorf("sockets: %w", err)
		}
		sc.Owners = owners
	}
	if f.processes {
		r := sockdiag.NewOptionReader()
		defer r.Close()
		sc.Options = r
	}
	// The sock_diag netlink socket answers for the netns it is opened in,
	// so the dump runs inside the handle's namespace (owners and options
	// come from /proc and pidfds, which see every namespace).
	return env.NS().In(func(sysctl.FS) error { return listSockets(env, f, sc) })
}

// listSockets streams the scan into the chosen output.
func listSockets(env *Env, f socketsFlags, sc *sockdiag.Scan) error {
	w := bufio.NewWriterSize(env.Stdout, 64<<10)
	defer w.Flush()
	var out sockOutput
	switch {
	case f.summary:
		out = newSummaryOut(f)
	case f.json:
		out = &jsonOut{processes: f.processes}
	default:
		out = &textOut{processes: f.processes}
	}
	if err := out.begin(w, env, sc.Sysctls, sc.Net); err != nil {
		return err
	}
	if err := sc.Run(func(r *sockdiag.Row) error { return out.add(w, r) }); err != nil {
		return fmt.Errorf("sockets: %w", err)
	}
	if err := out.end(w, sc.Sysctls); err != nil {
		return err
	}
	if sc.NotPermitted > 0 {
		w.Flush()
		fmt.Fprintf(env.Stderr, "tcpka: sockets: options of %d sockets not read: not permitted (another user namespace or an LSM)\n", sc.NotPermitted)
	}
	return w.Flush()
}

// sockOutput is one of the three outputs.
type sockOutput interface {
	begin(w *bufio.Writer, env *Env, sys keepalive.Settings, net detect.Net) error
	add(w *bufio.Writer, r *sockdiag.Row) error
	end(w *bufio.Writer, sys keepalive.Settings) error
}

// ---- text: one aligned line per socket, built without allocations.

type textOut struct {
	processes bool
	buf       []byte
}

const (
	colState = 11
	colAddr  = 23
	colKA    = 10
	colNext  = 11
	colProbe = 7
	colPID   = 8
	colComm  = 16
	colOpts  = 18
	colUT    = 9
	colDet   = 17
)

func pad(b []byte, start, width int) []byte {
	for n := len(b) - start; n < width; n++ {
		b = append(b, ' ')
	}
	if len(b)-start >= width { // always leave one space between columns
		b = append(b, ' ')
	}
	return b
}

func (t *textOut) begin(w *bufio.Writer, _ *Env, _ keepalive.Settings, _ detect.Net) error {
	b := t.buf[:0]
	b = appendCol(b, "STATE", colState)
	b = appendCol(b, "LOCAL", colAddr)
	b = appendCol(b, "PEER", colAddr)
	b = appendCol(b, "KEEPALIVE", colKA)
	b = appendCol(b, "NEXT-PROBE", colNext)
	if t.processes {
		b = appendCol(b, "PROBES", colProbe)
		b = appendCol(b, "PID", colPID)
		b = appendCol(b, "COMMAND", colComm)
		b = appendCol(b, "IDLE/INTVL/CNT", colOpts)
		b = appendCol(b, "USER-TMO", colUT)
		b = appendCol(b, "DETECTION", colDet)
		b = append(b, "DATA"...)
	} else {
		b = append(b, "PROBES"...)
	}
	b = append(b, '\n')
	t.buf = b
	_, err := w.Write(b)
	return err
}

func appendCol(b []byte, s string, width int) []byte {
	start := len(b)
	b = append(b, s...)
	return pad(b, start, width)
}

// appendMs prints a timer the way ss -o does it, in tcpka's units:
// "952ms", "45s", "1h59m58s".
func appendMs(b []byte, ms uint32) []byte {
	if ms < 1000 {
		b = strconv.AppendUint(b, uint64(ms), 10)
		return append(b, "ms"...)
	}
	return append(b, human.Duration(int(ms/1000))...)
}

func (t *textOut) add(w *bufio.Writer, r *sockdiag.Row) error {
	s := r.Socket
	b := t.buf[:0]
	b = appendCol(b, s.State.String(), colState)
	start := len(b)
	b = s.Local.AppendTo(b)
	b = pad(b, start, colAddr)
	start = len(b)
	b = s.Peer.AppendTo(b)
	b = pad(b, start, colAddr)
	b = appendCol(b, r.Verdict.Keepalive.String(), colKA)
	start = len(b)
	if s.Timer == sockdiag.TimerKeepalive {
		b = appendMs(b, s.Expires)
	} else if s.Timer != sockdiag.TimerNone {
		b = append(b, s.Timer.String()...) // "on" = retransmitting
	} else {
		b = append(b, '-')
	}
	b = pad(b, start, colNext)
	start = len(b)
	if s.Timer == sockdiag.TimerKeepalive {
		b = strconv.AppendUint(b, uint64(s.Retrans), 10)
	} else {
		b = append(b, '-')
	}
	if t.processes {
		b = pad(b, start, colProbe)
		start = len(b)
		if r.HasOwner {
			b = strconv.AppendInt(b, int64(r.Owner.PID), 10)
			b = pad(b, start, colPID)
			b = appendCol(b, printable(r.Command), colComm)
		} else {
			b = appendCol(b, "-", colPID)
			b = appendCol(b, "-", colComm)
		}
		start = len(b)
		v := r.Verdict
		switch {
		case !v.HasOptions:
			b = append(b, '-')
		case v.Keepalive != sockdiag.KeepaliveOn:
			b = append(b, "off"...)
		default:
			o := v.Options.Settings
			b = strconv.AppendInt(b, int64(o.Time), 10)
			b = append(b, '/')
			b = strconv.AppendInt(b, int64(o.Intvl), 10)
			b = append(b, '/')
			b = strconv.AppendInt(b, int64(o.Probes), 10)
			if v.Own {
				b = append(b, " own"...)
			} else {
				b = append(b, " sysctl"...)
			}
		}
		b = pad(b, start, colOpts)
		start = len(b)
		if v.HasOptions && v.Options.UserTimeoutMs() > 0 {
			b = strconv.AppendInt(b, int64(v.Options.UserTimeoutMs()), 10)
			b = append(b, "ms"...)
		} else {
			b = append(b, '-')
		}
		b = pad(b, start, colUT)
		start = len(b)
		switch {
		case v.DetectionS() >= 0:
			b = append(b, human.Seconds(v.DetectionS())...)
		case v.Keepalive == sockdiag.KeepaliveOff:
			b = append(b, "never while idle"...)
		default:
			b = append(b, '-')
		}
		b = pad(b, start, colDet)
		if v.HasOptions && v.Bounds.Data >= 0 {
			b = append(b, human.Seconds(v.Bounds.Data)...)
		} else {
			b = append(b, '-')
		}
	}
	b = append(b, '\n')
	t.buf = b
	_, err := w.Write(b)
	return err
}

func (t *textOut) end(*bufio.Writer, keepalive.Settings) error { return nil }

// ---- JSON: one object; the sockets array is streamed, one per line.

type jsonOut struct {
	processes bool
	n         int
}

// socketJSON is one socket in --json; field names are stable.
type socketJSON struct {
	State      string `json:"state"`
	Local      string `json:"local"`
	Peer       string `json:"peer"`
	Keepalive  string `json:"keepalive"` // on, off, unknown
	Timer      string `json:"timer"`     // off, keepalive, on (retransmit), timewait, persist
	TimerMs    uint32 `json:"timer_ms"`
	ProbesSent *uint8 `json:"probes_sent,omitempty"` // keepalive timer only
	RecvQ      uint32 `json:"recv_q"`
	SendQ      uint32 `json:"send_q"`
	UID        uint32 `json:"uid"`
	Inode      uint32 `json:"inode"`
	// with --processes
	PID     *int    `json:"pid,omitempty"`
	Command *string `json:"command,omitempty"`
	// the socket's own options and what they give it, where they were read
	*jsonout.Settings
	FollowsSysctl *bool `json:"follows_sysctl,omitempty"` // keepalive on only
}

func (j *jsonOut) begin(w *bufio.Writer, env *Env, sys keepalive.Settings, net detect.Net) error {
	head, err := jsonout.Marshal(struct {
		Netns  string           `json:"netns,omitempty"`
		Sysctl jsonout.Settings `json:"sysctl"`
	}{env.NS().ID(), jsonout.Of(sys, net)})
	if err != nil {
		return err
	}
	w.Write(head[:len(head)-1])
	_, err = w.WriteString(`,"sockets":[`)
	return err
}

func (j *jsonOut) add(w *bufio.Writer, r *sockdiag.Row) error {
	s := r.Socket
	o := socketJSON{
		State: s.State.String(), Local: s.Local.String(), Peer: s.Peer.String(),
		Keepalive: r.Verdict.Keepalive.String(), Timer: s.Timer.String(), TimerMs: s.Expires,
		RecvQ: s.RecvQ, SendQ: s.SendQ, UID: s.UID, Inode: s.Inode,
	}
	if s.Timer == sockdiag.TimerKeepalive {
		p := s.Retrans
		o.ProbesSent = &p
	}
	if j.processes && r.HasOwner {
		pid, comm := r.Owner.PID, r.Command
		o.PID, o.Command = &pid, &comm
	}
	if v := r.Verdict; v.HasOptions {
		settings := jsonout.New(v.Options.Settings, v.Bounds)
		o.Settings = &settings
		if v.Keepalive == sockdiag.KeepaliveOn {
			follows := !v.Own
			o.FollowsSysctl = &follows
		}
	}
	b, err := jsonout.Marshal(&o)
	if err != nil {
		return err
	}
	if j.n > 0 {
		w.WriteByte(',')
	}
	j.n++
	w.WriteByte('\n')
	_, err = w.Write(b)
	return err
}

func (j *jsonOut) end(w *bufio.Writer, _ keepalive.Settings) error {
	_, err := w.WriteString("\n]}\n")
	return err
}

// ---- summary: counts, and per command with --processes.

type summaryOut struct {
	processes bool
	json      bool
	state     string
	sys       keepalive.Settings
	net       detect.Net
	netns     string
	all       *sockdiag.Summary
	byComm    map[string]*sockdiag.Summary
}

func newSummaryOut(f socketsFlags) *summaryOut {
	return &summaryOut{processes: f.processes, json: f.json, state: f.state, all: sockdiag.NewSummary(), byComm: map[string]*sockdiag.Summary{}}
}

func (s *summaryOut) begin(_ *bufio.Writer, env *Env, sys keepalive.Settings, net detect.Net) error {
	s.sys, s.net, s.netns = sys, net, env.NS().ID()
	return nil
}

func (s *summaryOut) add(_ *bufio.Writer, r *sockdiag.Row) error {
	s.all.Add(r.Verdict)
	if s.processes {
		c := "-"
		if r.HasOwner {
			c = r.Command
		}
		g := s.byComm[c]
		if g == nil {
			g = sockdiag.NewSummary()
			s.byComm[c] = g
		}
		g.Add(r.Verdict)
	}
	return nil
}

// summaryJSON is --summary --json; field names are stable. The
// sysctl/own split needs --processes and is absent without it.
type summaryJSON struct {
	Command          string `json:"command,omitempty"`
	Total            int    `json:"total"`
	KeepaliveOn      int    `json:"keepalive_on"`
	KeepaliveOff     int    `json:"keepalive_off"`
	KeepaliveUnknown int    `json:"keepalive_unknown"`
	KeepaliveSysctl  *int   `json:"keepalive_sysctl,omitempty"`
	KeepaliveOwn     *int   `json:"keepalive_own,omitempty"`
	UserTimeout      *int   `json:"keepalive_user_timeout,omitempty"`
	OptionsUnread    *int   `json:"options_unread,omitempty"`
	WorstDetectionS  *int   `json:"worst_detection_s,omitempty"`
}

func newSummaryJSON(command string, s *sockdiag.Summary, processes bool) summaryJSON {
	j := summaryJSON{Command: command, Total: s.Total, KeepaliveOn: s.KeepaliveOn, KeepaliveOff: s.KeepaliveOff, KeepaliveUnknown: s.KeepaliveUnknown}
	if processes {
		c := *s
		j.KeepaliveSysctl, j.KeepaliveOwn, j.UserTimeout, j.OptionsUnread = &c.Sysctl, &c.Own, &c.UserTimeout, &c.NoOptions
		if c.WorstS >= 0 {
			j.WorstDetectionS = &c.WorstS
		}
	}
	return j
}

func (s *summaryOut) commands() []string {
	names := make([]string, 0, len(s.byComm))
	for c := range s.byComm {
		names = append(names, c)
	}
	sort.Slice(names, func(i, k int) bool {
		a, b := s.byComm[names[i]], s.byComm[names[k]]
		if a.Total != b.Total {
			return a.Total > b.Total
		}
		return names[i] < names[k]
	})
	return names
}

func (s *summaryOut) end(w *bufio.Writer, sys keepalive.Settings) error {
	if s.json {
		out := struct {
			Netns  string           `json:"netns,omitempty"`
			Sysctl jsonout.Settings `json:"sysctl"`
			summaryJSON
			Commands []summaryJSON `json:"commands,omitempty"`
		}{Netns: s.netns, Sysctl: jsonout.Of(s.sys, s.net), summaryJSON: newSummaryJSON("", s.all, s.processes)}
		if s.processes {
			out.Commands = []summaryJSON{}
			for _, c := range s.commands() {
				out.Commands = append(out.Commands, newSummaryJSON(c, s.byComm[c], true))
			}
		}
		return writeJSON(w, out)
	}
	a := s.all
	fmt.Fprintf(w, "sysctls %s: an idle connection following them notices a dead peer after %s\n",
		sys.Triple(), human.Seconds(detect.Idle(sys)))
	fmt.Fprintf(w, "%-34s%7d\n", "TCP sockets ("+s.state+")", a.Total)
	fmt.Fprintf(w, "%-34s%7d%s\n", "  keepalive off", a.KeepaliveOff, "  never probe: the sysctls do nothing for them")
	fmt.Fprintf(w, "%-34s%7d\n", "  keepalive on", a.KeepaliveOn)
	if s.processes {
		fmt.Fprintf(w, "%-34s%7d\n", "    following the sysctls", a.Sysctl)
		fmt.Fprintf(w, "%-34s%7d\n", "    with their own values", a.Own)
		if a.UserTimeout > 0 {
			fmt.Fprintf(w, "%-34s%7d\n", "    with TCP_USER_TIMEOUT", a.UserTimeout)
		}
		if a.NoOptions > 0 {
			fmt.Fprintf(w, "%-34s%7d%s\n", "    options not read", a.NoOptions, "  (no process found, or it exited)")
		}
	}
	if a.KeepaliveUnknown > 0 {
		fmt.Fprintf(w, "%-34s%7d%s\n", "  keepalive unknown", a.KeepaliveUnknown, "  (retransmitting: use --processes)")
	}
	if !s.processes {
		fmt.Fprintln(w, "which keepalive sockets follow the sysctls and their detection times: run with --processes (root)")
		return nil
	}
	if a.WorstS >= 0 {
		fmt.Fprintf(w, "worst detection among keepalive sockets: %s\n", human.Seconds(a.WorstS))
	}
	fmt.Fprintf(w, "the sysctls reach %d of %d sockets\n\n", a.Sysctl, a.Total)
	fmt.Fprintf(w, "%-16s %7s %7s %7s %7s %7s  %s\n", "COMMAND", "TOTAL", "KA-OFF", "SYSCTL", "OWN", "UNREAD", "WORST-DETECTION")
	for _, c := range s.commands() {
		g := s.byComm[c]
		worst := "-"
		if g.WorstS >= 0 {
			worst = human.Seconds(g.WorstS)
		}
		fmt.Fprintf(w, "%-16s %7d %7d %7d %7d %7d  %s\n", trunc(c, 16), g.Total, g.KeepaliveOff, g.Sysctl, g.Own, g.NoOptions+g.KeepaliveUnknown, worst)
	}
	return nil
}

func trunc(s string, n int) string {
	if len(s) > n {
		return s[:n]
	}
	return s
}
