package main

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/spf13/pflag"
	"github.com/tcpka/tcpka/internal/caps"
	"github.com/tcpka/tcpka/internal/detect"
	"github.com/tcpka/tcpka/internal/enforce"
	"github.com/tcpka/tcpka/internal/human"
	"github.com/tcpka/tcpka/internal/jsonout"
	"github.com/tcpka/tcpka/internal/keepalive"
	"github.com/tcpka/tcpka/internal/profile"
	"github.com/tcpka/tcpka/internal/sockopt"
	"github.com/tcpka/tcpka/internal/sysctl"
)

// enforceOpts are enforce's flags.
type enforceOpts struct {
	pid      int
	pidSet   bool // --pid was given, 0 included
	port     int
	cgroup   string
	unit     string
	list     bool
	remove   bool
	dropIn   bool
	dryRun   bool
	override bool
	json     bool
	bpfRoot  string
	// retries2 is the profile's tcp_retries2, which no socket option
	// carries: enforce leaves it out and says so.
	retries2 int
}

// noteRetries2 says that the profile's tcp_retries2 is not part of what
// enforce sets.
func (f *enforceOpts) noteRetries2(w io.Writer) {
	if f.retries2 != 0 {
		fmt.Fprintf(w, "  tcp_retries2 %d is per network namespace, not per socket: tcpka apply sets it\n", f.retries2)
	}
}

var cmdEnforce = &Command{
	Name:      "enforce",
	UsageLine: "enforce PROFILE (--pid N [--port P] [--override] | --cgroup DIR | --unit NAME) [--dry-run] [--json] | --list | --remove (--cgroup DIR | --unit NAME)",
	Short:     "give a process's sockets or a cgroup's new connections a profile",
	Long: `Forms:
  tcpka enforce PROFILE --pid N [--port P] [--override] [--dry-run] [--json]
  tcpka enforce PROFILE --cgroup DIR | --unit NAME [--dry-run] [--json]
  tcpka enforce --list [--json]
  tcpka enforce --remove --cgroup DIR | --unit NAME [--json]

The sysctls reach only sockets that turn SO_KEEPALIVE on without values of
their own; most clients never turn it on. enforce reaches the others.

--pid N: every connected TCP socket of process N that has keepalive off gets
SO_KEEPALIVE, TCP_KEEPIDLE, TCP_KEEPINTVL and TCP_KEEPCNT from PROFILE, through
a duplicate taken with pidfd_getfd (Linux 5.6+). The process keeps running and
notices nothing; a process in another network namespace (a container) works
too. Listening sockets are left alone, and so are sockets that already have
keepalive, with the sysctls' values or their own, unless --override. Only the
sockets open now are changed: run it again for later ones, or use --cgroup.

--cgroup DIR / --unit NAME: attach a BPF sock_ops program (Linux 5.9+, cgroup
v2) to the cgroup so that every TCP connection made or accepted afterwards
by a process in it gets the profile's values. The link is pinned under
/sys/fs/bpf/tcpka (bpffs is mounted there if needed), so it outlives tcpka;
--list shows the attachments and --remove detaches one. Not covered: sockets
created before the attach (use --pid), and listeners created outside the
cgroup (systemd socket activation): the cgroup a socket was created in
counts. --unit finds a running service's cgroup (unified or hybrid layout).
systemd makes a new cgroup at every start of a service, so attach from the
unit itself: 'tcpka render PROFILE --format unit --unit NAME' prints a
drop-in that does it (ExecStartPre).

All of it needs root.`,
	Examples: `sudo tcpka enforce aws-nlb --pid 1234 --dry-run
sudo tcpka enforce aws-nlb --pid 1234 --port 5432
sudo tcpka enforce aws-nlb --unit myapp.service
sudo tcpka enforce --list
sudo tcpka enforce --remove --unit myapp.service
tcpka render aws-nlb --format unit --unit myapp.service |
  sudo tee /etc/systemd/system/myapp.service.d/tcpka-enforce.conf`,
	Bind: func(fs *pflag.FlagSet) Runner {
		f := &enforceOpts{}
		fs.IntVar(&f.pid, "pid", 0, "change the live TCP sockets of process `N`")
		fs.IntVar(&f.port, "port", 0, "with --pid: only sockets whose local or peer port is `P`")
		fs.StringVar(&f.cgroup, "cgroup", "", "attach to the cgroup v2 directory `DIR`")
		fs.StringVar(&f.unit, "unit", "", "attach to the cgroup of the running systemd service `NAME`")
		fs.BoolVar(&f.list, "list", false, "list the cgroups tcpka enforces on")
		fs.BoolVar(&f.remove, "remove", false, "detach from --cgroup DIR or --unit NAME and remove the pin")
		// The older spelling of 'tcpka render PROFILE --format unit --unit NAME'.
		fs.BoolVar(&f.dropIn, "drop-in", false, "with --unit: print the drop-in 'render --format unit' prints")
		_ = fs.MarkHidden("drop-in")
		fs.BoolVar(&f.dryRun, "dry-run", false, "say what would change, change nothing")
		fs.BoolVar(&f.override, "override", false, "with --pid: also change sockets that have keepalive with other values")
		fs.BoolVar(&f.json, "json", false, "print one JSON object")
		fs.StringVar(&f.bpfRoot, "bpf-root", enforce.DefaultBPFRoot, "bpffs mount point `DIR` (for tests)")
		_ = fs.MarkHidden("bpf-root")
		return func(env *Env, args []string) error {
			f.pidSet = fs.Changed("pid")
			return runEnforce(env, f, args)
		}
	},
}

// store is the pin and record store of this run.
func (f *enforceOpts) store(env *Env) enforce.Store {
	return enforce.NewStore(env.ProcRoot(), env.Scope.Roots().Run, f.bpfRoot)
}

func runEnforce(env *Env, f *enforceOpts, args []string) error {
	targets := 0
	for _, set := range []bool{f.pidSet, f.cgroup != "", f.unit != ""} {
		if set {
			targets++
		}
	}
	switch {
	case f.pidSet && f.pid <= 0:
		return usagef("--pid %d: not a process id", f.pid)
	case f.port < 0 || f.port > 65535:
		return usagef("--port %d: must be 1..65535", f.port)
	case f.port != 0 && !f.pidSet:
		return usagef("--port goes with --pid")
	case f.override && !f.pidSet:
		return usagef("--override goes with --pid (a cgroup's program sets every new connection)")
	case f.list && (f.remove || f.dropIn || targets > 0 || len(args) > 0 || f.dryRun):
		return usagef("--list takes no PROFILE and no other flag but --json")
	case f.remove && (len(args) > 0 || f.pidSet || targets != 1 || f.dropIn):
		return usagef("--remove takes no PROFILE, and one of --cgroup DIR or --unit NAME")
	case f.dropIn && (len(args) != 1 || f.unit == "" || targets != 1 || f.dryRun || f.json):
		return usagef("--drop-in needs PROFILE and --unit NAME, nothing else")
	case !f.list && !f.remove && len(args) != 1:
		return usagef("needs exactly one PROFILE (or --list, or --remove)")
	case !f.list && !f.remove && targets != 1:
		return usagef("needs exactly one of --pid N, --cgroup DIR or --unit NAME")
	}
	if f.list {
		return enforceList(env, f)
	}
	var p *profile.Profile
	if !f.remove {
		var err error
		if p, err = profile.Load(args[0]); err != nil {
			return err
		}
		f.retries2, p.Settings = p.Settings.Retries2, p.Settings.PerSocket()
		if _, err := enforce.Instructions(p.Settings); err != nil {
			return fmt.Errorf("enforce: %w", err)
		}
	}
	if f.dropIn { // the older spelling of render --format unit --unit NAME
		d, err := unitDropIn(args[0], p, f.unit)
		if err != nil {
			return inputf("enforce: %w", err)
		}
		fmt.Fprint(env.Stdout, d)
		return nil
	}
	// A target the user named that does not exist is bad input (exit 2),
	// as in sockets --pid and --netns pid:N; one that goes away while
	// tcpka works on it is a failure.
	if _, err := os.Stat(env.ProcRoot() + "/" + strconv.Itoa(f.pid)); f.pidSet && err != nil {
		return inputf("enforce: --pid %d: no such process", f.pid)
	}
	if _, err := os.Stat(f.cgroup); f.cgroup != "" && !f.remove && errors.Is(err, fs.ErrNotExist) {
		return inputf("enforce: --cgroup %s: no such directory", printable(f.cgroup))
	}
	if err := caps.Need("enforce", "for pidfd_getfd on another process's sockets, bpf(2) and bpffs for a cgroup", caps.SysAdmin, caps.NetAdmin, caps.SysPtrace); err != nil {
		return err
	}
	if f.pidSet {
		return enforcePID(env, f, p)
	}
	dir, err := enforce.CgroupDir(env.ProcRoot(), f.cgroup, f.unit)
	if err != nil {
		return fmt.Errorf("enforce: %w", err)
	}
	if f.remove {
		return enforceRemove(env, f, dir)
	}
	return enforceCgroup(env, f, p, dir)
}

// triple prints settings as "time 2 s, intvl 1 s, probes 3"; keys the
// profile leaves alone read "(sysctl)".
func triple(s keepalive.Settings) string {
	var parts []string
	for _, k := range []sysctl.Key{keepalive.Time, keepalive.Intvl, keepalive.Probes} {
		name := strings.TrimPrefix(k.Sysctl, "tcp_keepalive_")
		if v := k.Get(s); v != 0 {
			parts = append(parts, name+" "+k.Format(v))
		} else {
			parts = append(parts, name+" (sysctl)")
		}
	}
	if s.UserTimeout > 0 {
		parts = append(parts, "TCP_USER_TIMEOUT "+keepalive.FormatUserTimeout(s.UserTimeout))
	}
	return strings.Join(parts, ", ")
}

// detectionOf is the idle detection time of a socket given s, the keys s
// leaves alone from the namespace's sysctls base: what --json says.
func detectionOf(s, base keepalive.Settings) int { return newEnforceJSONValues(s, base).Bounds().Idle }

// newEnforceJSONValues is a profile's values as enforce sets them on a
// cgroup's new sockets, in the one settings shape: null where the profile
// leaves a key to the namespace's sysctls base, the times of a socket that
// gets them.
func newEnforceJSONValues(s, base keepalive.Settings) jsonout.Settings {
	return jsonout.NewSettings(s.PerSocket(), s.PerSocket().Over(base), detect.Net{}, true)
}

type enforceCgroupJSON struct {
	Profile      string            `json:"profile"`
	Cgroup       string            `json:"cgroup"`
	CgroupID     uint64            `json:"cgroup_id"`
	Pin          string            `json:"pin"`
	Action       string            `json:"action"`
	DryRun       bool              `json:"dry_run"`
	Values       jsonout.Settings  `json:"values"`
	Previous     *jsonout.Settings `json:"previous,omitempty"`
	Attached     string            `json:"attached,omitempty"`
	Instructions int               `json:"instructions,omitempty"`
	StalePins    []string          `json:"stale_pins_removed,omitempty"`
}

func enforceCgroup(env *Env, f *enforceOpts, p *profile.Profile, dir string) error {
	cg, err := enforce.OpenCgroup(dir)
	if err != nil {
		return fmt.Errorf("enforce: %w", err)
	}
	base, _ := env.NS().Read()
	res, err := f.store(env).Attach(cg, p.Name, p.Settings, f.dryRun)
	if err != nil {
		return fmt.Errorf("enforce: %w", err)
	}
	if f.json {
		out := enforceCgroupJSON{
			Profile: p.Name, Cgroup: cg.Path, CgroupID: cg.ID, Pin: res.Pin, Action: strings.ReplaceAll(res.Action, " ", "_"),
			DryRun: f.dryRun, Values: newEnforceJSONValues(p.Settings, base), Instructions: res.Insns, StalePins: res.Stale,
		}
		if res.Previous != nil {
			v := newEnforceJSONValues(*res.Previous, base)
			out.Previous = &v
		}
		if !res.Attached.IsZero() {
			out.Attached = res.Attached.Format(time.RFC3339)
		}
		return jsonout.Write(env.Stdout, out)
	}
	w := env.Stdout
	d := detectionOf(p.Settings, base)
	fmt.Fprintf(w, "profile %s (%s): %s, dead-peer detection %s\n", p.Name, p.Origin, triple(p.Settings), human.Seconds(d))
	f.noteRetries2(w)
	prev := ""
	if res.Previous != nil {
		prev = " (was " + triple(*res.Previous) + ")"
	}
	switch res.Action {
	case "unchanged":
		fmt.Fprintf(w, "nothing to change: cgroup %s already has these values (attached %s)\n", cg.Path, res.Attached.Format("2006-01-02 15:04:05 MST"))
		return nil
	case "would attach", "would replace":
		fmt.Fprintf(w, "dry run: would %s the keepalive program on cgroup %s%s; nothing changed\n", strings.TrimPrefix(res.Action, "would "), cg.Path, prev)
		return nil
	}
	fmt.Fprintf(w, "%s: cgroup %s%s\n", res.Action, cg.Path, prev)
	fmt.Fprintf(w, "  pinned at %s (%d BPF instructions); tcpka enforce --list shows it\n", res.Pin, res.Insns)
	for _, s := range res.Stale {
		fmt.Fprintf(w, "  removed %s: it was left on an earlier cgroup at the same path\n", s)
	}
	fmt.Fprintln(w, "  every TCP connection made or accepted in this cgroup from now on gets these values")
	fmt.Fprintln(w, "  not covered: sockets created before now (use --pid), listeners created outside the cgroup (socket activation)")
	return nil
}

type enforceListJSON struct {
	Attachments []enforceAttachmentJSON `json:"attachments"`
}

type enforceAttachmentJSON struct {
	Cgroup       string           `json:"cgroup"`
	CgroupID     uint64           `json:"cgroup_id"`
	CgroupGone   bool             `json:"cgroup_gone"`
	Profile      string           `json:"profile"`
	Values       jsonout.Settings `json:"values"`
	Attached     string           `json:"attached"`
	Pin          string           `json:"pin"`
	ProgramID    uint32           `json:"program_id"`
	LinkID       uint32           `json:"link_id"`
	Instructions int              `json:"instructions"`
}

func enforceList(env *Env, f *enforceOpts) error {
	if err := caps.Need("enforce --list", "to read BPF links and programs", caps.SysAdmin); err != nil {
		return err
	}
	st := f.store(env)
	list, err := st.List()
	if err != nil {
		return fmt.Errorf("enforce: %w", err)
	}
	base, _ := env.NS().Read()
	if f.json {
		out := enforceListJSON{Attachments: []enforceAttachmentJSON{}}
		for _, a := range list {
			at := ""
			if !a.Attached.IsZero() {
				at = a.Attached.Format(time.RFC3339)
			}
			out.Attachments = append(out.Attachments, enforceAttachmentJSON{
				Cgroup: a.Cgroup, CgroupID: a.CgroupID, CgroupGone: a.Detached, Profile: a.Profile,
				Values: newEnforceJSONValues(a.Settings, base), Attached: at, Pin: a.Pin,
				ProgramID: a.ProgID, LinkID: a.LinkID, Instructions: a.Insns,
			})
		}
		return jsonout.Write(env.Stdout, out)
	}
	w := env.Stdout
	if len(list) == 0 {
		fmt.Fprintf(w, "no cgroup has a tcpka keepalive program (pins live under %s)\n", filepath.Join(st.BPFRoot, "tcpka"))
		return nil
	}
	width := len("CGROUP")
	for _, a := range list {
		width = max(width, len(printable(a.Cgroup)))
	}
	fmt.Fprintf(w, "%-*s  %-14s  %-6s  %-6s  %-6s  %-10s  %s\n", width, "CGROUP", "PROFILE", "TIME", "INTVL", "PROBES", "DETECTION", "ATTACHED")
	col := func(s keepalive.Settings, k sysctl.Key) string {
		if v := k.Get(s); v != 0 {
			return k.Format(v)
		}
		return "sysctl"
	}
	for _, a := range list {
		cg := printable(a.Cgroup)
		if cg == "" {
			cg = fmt.Sprintf("(cgroup id %d)", a.CgroupID)
		}
		at := "?"
		if !a.Attached.IsZero() {
			at = a.Attached.Local().Format("2006-01-02 15:04:05 MST")
		}
		prof := printable(a.Profile)
		if prof == "" {
			prof = "?"
		}
		fmt.Fprintf(w, "%-*s  %-14s  %-6s  %-6s  %-6s  %-10s  %s\n", width, cg, prof,
			col(a.Settings, keepalive.Time), col(a.Settings, keepalive.Intvl), col(a.Settings, keepalive.Probes),
			human.Seconds(detectionOf(a.Settings, base)), at)
		if a.Detached {
			fmt.Fprintf(w, "  ^ cgroup gone (service restarted or removed): applies to nothing; tcpka enforce --remove --cgroup %s\n", printable(a.Cgroup))
		}
	}
	return nil
}

func enforceRemove(env *Env, f *enforceOpts, dir string) error {
	removed, err := f.store(env).Remove(dir)
	if err != nil {
		return fmt.Errorf("enforce: %w", err)
	}
	for _, a := range removed {
		if f.json {
			continue
		}
		fmt.Fprintf(env.Stdout, "removed: cgroup %s (%s) detached, pin %s deleted\n", printable(a.Cgroup), triple(a.Settings), a.Pin)
	}
	if f.json {
		type rm struct {
			Cgroup string `json:"cgroup"`
			Pin    string `json:"pin"`
		}
		out := struct {
			Removed []rm `json:"removed"`
		}{}
		for _, a := range removed {
			out.Removed = append(out.Removed, rm{a.Cgroup, a.Pin})
		}
		return jsonout.Write(env.Stdout, out)
	}
	fmt.Fprintln(env.Stdout, "  new connections in it get no keepalive from tcpka; existing ones keep what they have")
	return nil
}

// enforcePIDJSON is --pid's --json shape.
type enforcePIDJSON struct {
	PID          int               `json:"pid"`
	Comm         string            `json:"command"`
	Profile      string            `json:"profile"`
	DryRun       bool              `json:"dry_run"`
	Override     bool              `json:"override"`
	Port         int               `json:"port,omitempty"`
	Changed      int               `json:"changed"`
	Connected    int               `json:"connected"`
	Listening    int               `json:"listening"`
	NotConnected int               `json:"not_connected"`
	Sockets      []enforceSockJSON `json:"sockets"`
	Values       jsonout.Settings  `json:"values"`
}

type enforceSockJSON struct {
	FD      int          `json:"fd"`
	Local   string       `json:"local"`
	Peer    string       `json:"peer"`
	Status  string       `json:"status"`
	Changed bool         `json:"changed"`
	Before  sockOptsJSON `json:"before"`
	After   sockOptsJSON `json:"after"`
}

// sockOptsJSON is one socket's options in enforce --pid --json: whether
// keepalive is on, and the options with what they give the socket, in the
// one settings shape (detection_s null when keepalive is off: never).
type sockOptsJSON struct {
	Keepalive bool `json:"keepalive"`
	jsonout.Settings
}

func newSockOptsJSON(s enforce.Socket, o sockopt.Options) sockOptsJSON {
	return sockOptsJSON{Keepalive: o.On, Settings: jsonout.New(o.Settings, s.Bounds(o))}
}

// dataWords is ", data in flight X -> Y" when a change moves that bound.
func dataWords(s enforce.Socket) string {
	b, a := s.Bounds(s.Before).Data, s.Bounds(s.After).Data
	if b == a || b < 0 || a < 0 {
		return ""
	}
	return fmt.Sprintf(", data in flight %s -> %s", human.Seconds(b), human.Seconds(a))
}

func optsWords(o sockopt.Options) string {
	if !o.On {
		return "keepalive off"
	}
	w := o.Settings.Triple()
	if o.Settings.UserTimeout > 0 {
		w += " + TCP_USER_TIMEOUT " + keepalive.UserTimeout.Format(o.UserTimeoutMs())
	}
	return w
}

func detectionWords(s enforce.Socket, o sockopt.Options) string {
	if d := s.Bounds(o).Idle; d >= 0 {
		return human.Seconds(d)
	}
	return "never"
}

func enforcePID(env *Env, f *enforceOpts, p *profile.Profile) error {
	res, err := enforce.EnforcePID(f.pid, p.Settings, enforce.PIDOptions{Port: f.port, DryRun: f.dryRun, Override: f.override, ProcRoot: env.ProcRoot()})
	if err != nil {
		return fmt.Errorf("enforce: %w", err)
	}
	base, _ := env.NS().Read()
	if f.json {
		out := enforcePIDJSON{PID: res.PID, Comm: res.Comm, Profile: p.Name, DryRun: f.dryRun, Override: f.override, Port: f.port,
			Changed: res.Changed, Connected: len(res.Sockets), Listening: res.Listening, NotConnected: res.NotConnected,
			Sockets: []enforceSockJSON{}, Values: newEnforceJSONValues(p.Settings, base)}
		for _, s := range res.Sockets {
			out.Sockets = append(out.Sockets, enforceSockJSON{FD: s.FD, Local: s.Local.String(), Peer: s.Peer.String(), Status: s.Status,
				Changed: s.Changed, Before: newSockOptsJSON(s, s.Before), After: newSockOptsJSON(s, s.After)})
		}
		return jsonout.Write(env.Stdout, out)
	}
	w := env.Stdout
	fmt.Fprintf(w, "pid %d (%s): profile %s: %s, dead-peer detection %s\n", res.PID, human.Safe(res.Comm), p.Name, triple(p.Settings), human.Seconds(detectionOf(p.Settings, base)))
	f.noteRetries2(w)
	counts := map[string]int{}
	for _, s := range res.Sockets {
		counts[s.Status]++
		conn := fmt.Sprintf("fd %-4d %s -> %s", s.FD, s.Local, s.Peer)
		switch {
		case s.Changed:
			fmt.Fprintf(w, "  %s  %s -> %s, detection %s -> %s%s\n", conn, optsWords(s.Before), optsWords(s.After), detectionWords(s, s.Before), detectionWords(s, s.After), dataWords(s))
		case s.Status == enforce.FollowsSysctls:
			fmt.Fprintf(w, "  %s  keepalive with the sysctls' %s, detection %s: left alone, --override to change\n", conn, optsWords(s.Before), detectionWords(s, s.Before))
		case s.Status == enforce.OwnValues:
			fmt.Fprintf(w, "  %s  keepalive with its own %s, detection %s: left alone, --override to change\n", conn, optsWords(s.Before), detectionWords(s, s.Before))
		}
	}
	var notes []string
	if n := counts[enforce.FollowsProfile]; n > 0 {
		notes = append(notes, fmt.Sprintf("%d already %s the profile", n, human.Verb(n, "follows", "follow")))
	}
	if n := res.Listening; n > 0 {
		notes = append(notes, fmt.Sprintf("%d listening %s left alone", n, human.Plural(n, "socket")))
	}
	if n := res.NotConnected; n > 0 {
		notes = append(notes, fmt.Sprintf("%d not connected", n))
	}
	tail := ""
	if len(notes) > 0 {
		tail = "; " + strings.Join(notes, ", ")
	}
	n := len(res.Sockets)
	switch {
	case res.Changed == 0:
		fmt.Fprintf(w, "nothing to change: no connected TCP socket of pid %d needs it (%d connected%s)\n", res.PID, n, tail)
	case f.dryRun:
		fmt.Fprintf(w, "dry run: would change %d of %d connected TCP %s%s; nothing changed\n", res.Changed, n, human.Plural(n, "socket"), tail)
	default:
		fmt.Fprintf(w, "changed %d of %d connected TCP %s%s\n", res.Changed, n, human.Plural(n, "socket"), tail)
	}
	return nil
}
