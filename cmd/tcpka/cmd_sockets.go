package main

import (
	"bufio"
	"errors"
	"fmt"
	"net/netip"
	"os"
	"sort"
	"strconv"
	"time"

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
	dying       bool
	kill        bool
	dryRun      bool
	port        int
	pid         int
	state       string
}

var cmdSockets = &Command{
	Name:      "sockets",
	Netns:     true,
	UsageLine: "sockets [--summary] [--processes] [--dying [--kill [--dry-run]]] [--port N] [--pid N] [--no-keepalive] [--state S] [--json] [--netns TARGET]",
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

A connection whose keepalive timer was armed with longer values than
those now in force (opened before the last tcpka apply, say) keeps them
until that timer fires: with --processes its line says when, and its
detection counts from that timer. --summary counts them.

--dying lists only the connections whose peer has stopped answering:
keepalive probes, retransmitted data or zero-window probes unanswered. For
each: why, how many are out, how long the peer has been silent (tcp_info),
and when the kernel drops it, by the one model from the socket's timer and
tcp_info and the values in force for it: its own with --processes, the
namespace's sysctls (and no TCP_USER_TIMEOUT) without. --kill closes them
now through sock_diag's SOCK_DESTROY, as ss -K does (the application gets
ECONNABORTED; root); --dry-run says which it would close.

--summary counts instead of listing: total, keepalive off, keepalive on, and
with --processes those following the sysctls and those with their own
values, the worst detection time, and the same per command.

--json prints one JSON object, {"sysctl": {...}, "sockets": [...]}, with one
socket per line inside the array. It is written while the kernel's dump
streams in, so memory stays flat on hosts with many sockets.`,
	Examples: `tcpka sockets
tcpka sockets --summary --processes
tcpka sockets --processes --port 22
tcpka sockets --dying
sudo tcpka sockets --dying --port 22 --kill
tcpka sockets --no-keepalive --json
tcpka sockets --state all --pid 1234`,
	Bind: func(fs *pflag.FlagSet) Runner {
		f := &socketsFlags{}
		fs.BoolVar(&f.summary, "summary", false, "print counts instead of one line per socket")
		fs.BoolVar(&f.processes, "processes", false, "find each socket's process and read its keepalive options (root)")
		fs.IntVar(&f.port, "port", 0, "only sockets with local or peer port `N`")
		fs.IntVar(&f.pid, "pid", 0, "only sockets held by process `N`")
		fs.BoolVar(&f.noKeepalive, "no-keepalive", false, "only sockets with keepalive off")
		fs.BoolVar(&f.dying, "dying", false, "only connections whose peer stopped answering: why, and when the kernel drops each")
		fs.BoolVar(&f.kill, "kill", false, "with --dying: close them now with SOCK_DESTROY (root)")
		fs.BoolVar(&f.dryRun, "dry-run", false, "with --kill: say which would be closed, close none")
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
	switch {
	case f.kill && !f.dying:
		return usagef("--kill goes with --dying: it closes only connections whose peer stopped answering")
	case f.dryRun && !f.kill:
		return usagef("--dry-run goes with --kill")
	case f.kill && f.summary:
		return usagef("--kill lists what it closes: not with --summary")
	case f.kill && !f.dryRun:
		if err := caps.Need("sockets --kill", "to close sockets with SOCK_DESTROY", caps.NetAdmin); err != nil {
			return err
		}
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
	sc := newScan(f, states, sockdiag.Netlink{}, sys, env.NS().ReadNet())
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

// newScan is the scan the flags ask for, before owners and options.
func newScan(f socketsFlags, states sockdiag.States, l sockdiag.Lister, sys keepalive.Settings, net detect.Net) *sockdiag.Scan {
	return &sockdiag.Scan{Lister: l, Sysctls: sys, Net: net,
		Filter: sockdiag.Filter{States: states, Port: f.port, PID: f.pid, NoKeepalive: f.noKeepalive, Dying: f.dying},
		// Every output but the plain listing shows the model's view.
		Model: f.json || f.summary || f.processes}
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
		out = &jsonOut{processes: f.processes, kill: f.kill, dryRun: f.dryRun}
	case f.dying:
		out = &dyingOut{processes: f.processes, kill: f.kill, dryRun: f.dryRun}
	default:
		out = &textOut{processes: f.processes}
	}
	if err := out.begin(w, env, sc.Sysctls, sc.Net); err != nil {
		return err
	}
	var k killer
	err := sc.Run(func(r *sockdiag.Row) error {
		var c *closed
		if f.kill {
			var err error
			if c, err = k.close(r, f.dryRun); err != nil {
				return err
			}
		}
		return out.add(w, r, c)
	})
	if err != nil {
		return fmt.Errorf("sockets: %w", err)
	}
	if err := out.end(w, sc.Sysctls); err != nil {
		return err
	}
	if k.failed > 0 {
		w.Flush()
		return fmt.Errorf("sockets --kill: %d of %d dying %s not closed: %w", k.failed, k.tried, human.Plural(k.tried, "connection"), k.first)
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
	add(w *bufio.Writer, r *sockdiag.Row, c *closed) error
	end(w *bufio.Writer, sys keepalive.Settings) error
}

// closed is what --kill did to one connection.
type closed struct {
	dry bool
	err error // nil: closed (or gone by itself)
}

// words says it in a column: "closed", "would close", "gone", or why not.
func (c *closed) words() string {
	switch {
	case c.dry:
		return "would close"
	case c.err == nil:
		return "closed"
	case errors.Is(c.err, sockdiag.ErrGone):
		return "gone"
	case errors.Is(c.err, sockdiag.ErrNotPermitted):
		return "not permitted"
	}
	return "not closed"
}

// killer closes dying connections as the scan finds them, as ss -K does
// from its dump, and counts what it could not close.
type killer struct {
	tried, failed int
	first         error
}

// close closes r's connection (SOCK_DESTROY, checked against the inode
// the dump saw), or in a dry run says it would. A connection that ended
// meanwhile is gone, not a failure; a kernel that cannot close sockets
// stops the scan (exit 3): none of the others would close either.
func (k *killer) close(r *sockdiag.Row, dry bool) (*closed, error) {
	if dry {
		return &closed{dry: true}, nil
	}
	k.tried++
	err := sockdiag.DestroySocket(r.Socket)
	switch {
	case err == nil, errors.Is(err, sockdiag.ErrGone):
	case errors.Is(err, sockdiag.ErrNoDestroy):
		return nil, err
	default:
		k.failed++
		if k.first == nil {
			k.first = err
		}
	}
	return &closed{err: err}, nil
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

	// maxLine is where a --processes line wraps: tables fit 100 columns.
	maxLine = 100
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
	b = append(b, "PROBES"...)
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

func (t *textOut) add(w *bufio.Writer, r *sockdiag.Row, _ *closed) error {
	s := r.Socket
	b := t.buf[:0]
	b = appendCol(b, s.State.String(), colState)
	start := len(b)
	b = s.Local.AppendTo(b)
	b = pad(b, start, colAddr)
	start = len(b)
	b = appendPeer(b, s.Peer)
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
	if s.Timer == sockdiag.TimerKeepalive {
		b = strconv.AppendUint(b, uint64(s.Retrans), 10)
	} else {
		b = append(b, '-')
	}
	b = append(b, '\n')
	if t.processes {
		b = appendProcessLine(b, r)
	}
	t.buf = b
	_, err := w.Write(b)
	return err
}

// ---- --dying text: one aligned line per dying connection.

type dyingOut struct {
	processes, kill, dryRun bool
	n, closed               int
	buf                     []byte
}

const (
	colReason = 11
	colOut    = 11
	colSilent = 9
	colDrop   = 11
)

func (d *dyingOut) begin(w *bufio.Writer, _ *Env, _ keepalive.Settings, _ detect.Net) error {
	b := d.buf[:0]
	b = appendCol(b, "LOCAL", colAddr)
	b = appendCol(b, "PEER", colAddr)
	b = appendCol(b, "REASON", colReason)
	b = appendCol(b, "UNANSWERED", colOut)
	b = appendCol(b, "SILENT", colSilent)
	if d.kill {
		b = appendCol(b, "DROPPED", colDrop)
		b = append(b, "CLOSE"...)
	} else {
		b = append(b, "DROPPED"...)
	}
	b = append(b, '\n')
	d.buf = b
	_, err := w.Write(b)
	return err
}

func (d *dyingOut) add(w *bufio.Writer, r *sockdiag.Row, c *closed) error {
	d.n++
	dy := r.Dying
	b := d.buf[:0]
	start := len(b)
	b = r.Socket.Local.AppendTo(b)
	b = pad(b, start, colAddr)
	start = len(b)
	b = appendPeer(b, r.Socket.Peer)
	b = pad(b, start, colAddr)
	b = appendCol(b, dy.Reason, colReason)
	b = appendCol(b, strconv.Itoa(dy.Unanswered), colOut)
	b = appendCol(b, human.Short(roundS(dy.Silent)), colSilent)
	drop := "in " + human.Short(roundS(dy.DropIn.Nominal))
	if c != nil {
		b = appendCol(b, drop, colDrop)
		b = append(b, c.words()...)
		if c.err == nil && !c.dry {
			d.closed++
		}
	} else {
		b = append(b, drop...)
	}
	b = append(b, '\n')
	if d.processes {
		b = appendProcessLine(b, r)
	}
	d.buf = b
	_, err := w.Write(b)
	return err
}

func (d *dyingOut) end(w *bufio.Writer, _ keepalive.Settings) error {
	switch {
	case d.n == 0:
		fmt.Fprintln(w, "no dying connections: every peer answers")
		return nil
	case !d.processes:
		fmt.Fprintln(w, "drop times assume the sysctls' values: --processes reads each socket's own (root)")
	}
	switch {
	case d.kill && d.dryRun:
		fmt.Fprintf(w, "dry run: would close %d dying %s; nothing closed\n", d.n, human.Plural(d.n, "connection"))
	case d.kill:
		fmt.Fprintf(w, "closed %d of %d dying %s\n", d.closed, d.n, human.Plural(d.n, "connection"))
	}
	return nil
}

// appendProcessLine adds --processes' second line for a socket, indented
// under it: the process as comm[pid], the keepalive values it runs with
// (its own options or the sysctls'), when a silent peer is detected, idle
// and with data in flight, a timer still armed with older values, and
// why it is dying. A part that would run past maxLine starts a line of
// its own. It is written once per socket of a --processes scan, which
// reads each socket's options anyway: clarity over allocations here.
func appendProcessLine(b []byte, r *sockdiag.Row) []byte {
	who := "no process found"
	if r.HasOwner {
		who = printable(r.Command) + "[" + strconv.Itoa(r.Owner.PID) + "]"
	}
	v := r.Verdict
	if !v.HasOptions {
		return append(b, "  "+who+"  options not read\n"...)
	}
	values := "keepalive off"
	if v.Keepalive == sockdiag.KeepaliveOn {
		values = "sysctl " + v.Options.Settings.Triple()
		if v.Own {
			values = "own " + v.Options.Settings.Triple()
		}
	}
	if ms := v.Options.UserTimeoutMs(); ms > 0 {
		values += ", TCP_USER_TIMEOUT " + keepalive.UserTimeout.Format(ms)
	}
	var figures string
	switch {
	case v.DetectionS() >= 0:
		figures = "detection " + human.Seconds(v.DetectionS())
	case v.Keepalive == sockdiag.KeepaliveOff:
		figures = "never detected while idle"
	default:
		figures = "detection unknown"
	}
	if v.Bounds.Data >= 0 {
		figures += ", data in flight " + human.Seconds(v.Bounds.Data)
	}
	parts := []string{"  " + who + "  " + values + ":", figures}
	if r.Stale {
		parts[1] += ";"
		parts = append(parts, "timer armed with older values fires in "+human.Short(ceilS(r.StaleUntil)))
	}
	if r.IsDying {
		parts[len(parts)-1] += ";"
		parts = append(parts, "dying: "+r.Dying.Why()+", dropped in "+human.Short(roundS(r.Dying.DropIn.Nominal)))
	}
	line := len(parts[0])
	b = append(b, parts[0]...)
	for _, p := range parts[1:] {
		if line+1+len(p) > maxLine {
			b = append(b, "\n   "...)
			line = 3
		}
		b = append(b, ' ')
		b = append(b, p...)
		line += 1 + len(p)
	}
	return append(b, '\n')
}

func (t *textOut) end(*bufio.Writer, keepalive.Settings) error { return nil }

// ---- JSON: one object; the sockets array is streamed, one per line.

type jsonOut struct {
	processes, kill, dryRun bool
	n                       int
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
	// StaleTimerS: the keepalive timer was armed with longer values than
	// those in force and fires this many seconds from the read.
	StaleTimerS *int `json:"stale_timer_s,omitempty"`
	// Dying: the peer stopped answering (absent when it answers).
	Dying *dyingJSON `json:"dying,omitempty"`
	// with --kill
	Killed    *bool  `json:"killed,omitempty"`
	KillError string `json:"kill_error,omitempty"`
}

// dyingJSON is a dying connection in --json: why, how many probes or
// retransmissions are out, how long the peer has been silent, and in how
// many seconds from the read the kernel drops it (the model's nominal
// figure; the band's ends beside it).
type dyingJSON struct {
	Reason     string `json:"reason"`
	Unanswered int    `json:"unanswered"`
	SilentS    int    `json:"silent_s"`
	DropInS    int    `json:"drop_in_s"`
	DropInMinS int    `json:"drop_in_min_s"`
	DropInMaxS int    `json:"drop_in_max_s"`
}

func newDyingJSON(d detect.Dying) *dyingJSON {
	return &dyingJSON{Reason: d.Reason, Unanswered: d.Unanswered, SilentS: roundS(d.Silent),
		DropInS: roundS(d.DropIn.Nominal), DropInMinS: floorS(d.DropIn.Lower), DropInMaxS: ceilS(d.DropIn.Upper)}
}

func roundS(d time.Duration) int { return int((d + time.Second/2) / time.Second) }
func floorS(d time.Duration) int { return int(d / time.Second) }
func ceilS(d time.Duration) int  { return int((d + time.Second - 1) / time.Second) }

func (j *jsonOut) begin(w *bufio.Writer, env *Env, sys keepalive.Settings, net detect.Net) error {
	head, err := jsonout.Marshal(struct {
		Netns  string           `json:"netns,omitempty"`
		Sysctl jsonout.Settings `json:"sysctl"`
		DryRun bool             `json:"dry_run,omitempty"`
	}{env.NS().ID(), jsonout.Of(sys, net), j.dryRun})
	if err != nil {
		return err
	}
	w.Write(head[:len(head)-1])
	_, err = w.WriteString(`,"sockets":[`)
	return err
}

func (j *jsonOut) add(w *bufio.Writer, r *sockdiag.Row, c *closed) error {
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
	if r.Stale {
		n := ceilS(r.StaleUntil)
		o.StaleTimerS = &n
	}
	if r.IsDying {
		o.Dying = newDyingJSON(r.Dying)
	}
	if c != nil {
		k := !c.dry && c.err == nil
		o.Killed = &k
		if c.err != nil {
			o.KillError = human.OneLine(c.err.Error())
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

func (s *summaryOut) add(_ *bufio.Writer, r *sockdiag.Row, _ *closed) error {
	s.all.Add(r)
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
		g.Add(r)
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
	// StaleTimers: keepalive timers still armed with older, longer
	// values, the last firing StaleUntilS from the read (--processes).
	StaleTimers *int `json:"stale_timers,omitempty"`
	StaleUntilS *int `json:"stale_until_s,omitempty"`
	// Dying: connections whose peer stopped answering, by reason.
	Dying map[string]int `json:"dying"`
}

func newSummaryJSON(command string, s *sockdiag.Summary, processes bool) summaryJSON {
	j := summaryJSON{Command: command, Total: s.Total, KeepaliveOn: s.KeepaliveOn, KeepaliveOff: s.KeepaliveOff, KeepaliveUnknown: s.KeepaliveUnknown,
		Dying: map[string]int{detect.ReasonKeepalive: 0, detect.ReasonRetransmit: 0, detect.ReasonWindow: 0}}
	for r, n := range s.Dying {
		j.Dying[r] = n
	}
	if processes {
		c := *s
		j.KeepaliveSysctl, j.KeepaliveOwn, j.UserTimeout, j.OptionsUnread = &c.Sysctl, &c.Own, &c.UserTimeout, &c.NoOptions
		j.StaleTimers, j.StaleUntilS = &c.Stale, &c.StaleUntilS
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
		return jsonout.Write(w, out)
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
	if s.processes && a.Stale > 0 {
		fmt.Fprintf(w, "%-34s%7d%s\n", "  timers armed with older values", a.Stale,
			"  until "+human.Short(a.StaleUntilS)+": tcpka apply --rearm makes the values hold now")
	}
	if n := a.Dying[detect.ReasonKeepalive] + a.Dying[detect.ReasonRetransmit] + a.Dying[detect.ReasonWindow]; n > 0 {
		fmt.Fprintf(w, "%-34s%7d%s\n", "  dying: peer not answering", n, "  tcpka sockets --dying lists them")
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

// appendPeer prints a peer as ss does: a listener's unset peer port is
// "*" ("0.0.0.0:*", "[::]:*"), not port 0.
func appendPeer(b []byte, p netip.AddrPort) []byte {
	if p.Port() != 0 {
		return p.AppendTo(b)
	}
	if p.Addr().Is6() {
		b = append(b, '[')
		b = p.Addr().AppendTo(b)
		return append(b, "]:*"...)
	}
	b = p.Addr().AppendTo(b)
	return append(b, ":*"...)
}
