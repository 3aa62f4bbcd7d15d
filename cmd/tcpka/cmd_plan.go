package main

import (
	"errors"
	"fmt"
	"math"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/spf13/pflag"
	"github.com/tcpka/tcpka/internal/atomicfile"
	"github.com/tcpka/tcpka/internal/detect"
	"github.com/tcpka/tcpka/internal/human"
	"github.com/tcpka/tcpka/internal/jsonout"
	"github.com/tcpka/tcpka/internal/keepalive"
	"github.com/tcpka/tcpka/internal/nodetimer"
	"github.com/tcpka/tcpka/internal/nsreport"
	"github.com/tcpka/tcpka/internal/plan"
	"github.com/tcpka/tcpka/internal/profile"
	"github.com/tcpka/tcpka/internal/sysctl"
)

type planFlags struct {
	idle, within, path, out string
	json, idleOnly, force   bool
}

var cmdPlan = &Command{
	Name:      "plan",
	Netns:     true,
	UsageLine: "plan --idle-timeout D | --path NAME [--detect-within D [--idle-only]] [-o FILE [--force]] [--json] [--netns TARGET]",
	Short:     "choose values that keep a path open and notice a dead peer in time",
	LongFunc:  planLong,
	Examples:  "tcpka plan --path aws-nlb --detect-within 2m\ntcpka plan --idle-timeout 350s -o nat.yaml\nsudo tcpka apply nat.yaml\ntcpka plan --path azure-lb --idle-timeout 30m --json",
	Bind: func(fs *pflag.FlagSet) Runner {
		f := &planFlags{}
		fs.StringVar(&f.idle, "idle-timeout", "", "the path forgets idle flows after `D` (350s, 4m, or seconds)")
		fs.StringVar(&f.within, "detect-within", "", "notice a dead peer within `D`, idle or with data in flight")
		fs.BoolVar(&f.idleOnly, "idle-only", false, "bound only idle connections: no tcp_retries2, no user_timeout")
		fs.StringVar(&f.path, "path", "", "a known middlebox `NAME` ("+strings.Join(plan.Names(), ", ")+"), or node: this node's own idle timers")
		completesTo(fs, "path", append(plan.Names(), "node"))
		fs.StringVarP(&f.out, "output", "o", "", "write the plan as a profile to `FILE`, which must not exist")
		fs.BoolVar(&f.force, "force", false, "with -o: replace FILE if it exists")
		fs.BoolVar(&f.json, "json", false, "print one JSON object")
		return func(env *Env, args []string) error { return runPlan(env, *f, args) }
	},
}

// planLong is plan's help text; it lists the known middleboxes, so it is
// made when asked for, not at every start.
func planLong() string {
	return `Computes tcp_keepalive_time, _intvl and _probes for a network path whose
middleboxes forget idle flows after --idle-timeout (the smallest on the path):
the idle time stays below it with a margin for timer lateness (10 %, at least
10 s). With --detect-within, a silently dead peer is also noticed within that
bound, with every kernel timer as late as the timer wheel fires it on a
kernel of any common tick rate (HZ 100, 250, 300 or 1000: the profile may go
to machines other than this one). The output says what the choice costs:
probes per idle connection per hour.

Keepalive bounds only an idle connection. One with unacknowledged data in
flight retransmits instead, for 15 minutes at the kernel's tcp_retries2 15.
So with --detect-within the plan also sets tcp_retries2 (the largest that
gives up within the bound at the latest; left alone when 15 does) and
user_timeout (TCP_USER_TIMEOUT = time + interval x probes, less where the
first retransmission would carry it past the bound, for the sockets 'tcpka
enforce' reaches). --idle-only leaves both out.

--path names a known middlebox so you need not know its timeout:
  ` + pathList() + `
With --path, --idle-timeout states a timeout you configured on it (checked
against the range the vendor allows). --path node plans against the
shortest of this node's own timers that forget idle flows in the network
namespace (--netns): conntrack's established timeout, IPVS's TCP timeout,
nft ct timeout policies, as 'tcpka show' lists them.

Asks no profile can meet are refused with the reason (exit 2). -o FILE
writes the plan as a profile for 'tcpka apply' and 'tcpka check',
atomically; an existing FILE is left alone and refused (exit 1) unless
--force is given. Nothing else is written; plan needs no privileges.`
}

func pathList() string {
	var lines []string
	for _, m := range plan.Middleboxes {
		lines = append(lines, fmt.Sprintf("%-10s %s (%s, %s)", m.Name, m.Title, human.Duration(m.IdleTimeout), m.Range()))
		if len(lines[len(lines)-1]) > helpWidth-2 { // the timeout on a line of its own
			lines[len(lines)-1] = fmt.Sprintf("%-10s %s\n  %10s (%s, %s)", m.Name, m.Title, "", human.Duration(m.IdleTimeout), m.Range())
		}
	}
	return strings.Join(lines, "\n  ")
}

// resolvePath applies --path NAME to the idle timeout already parsed from
// --idle-timeout (idleFlag): the middlebox's published timeout, or the
// operator's own when it lies in the range the vendor allows.
func resolvePath(name, idleFlag string, idle *int) (*plan.Middlebox, error) {
	if name == "" {
		return nil, nil
	}
	m, t, err := plan.ForPath(name, *idle)
	switch {
	case errors.Is(err, plan.ErrUnknownPath):
		return nil, usagef("--path %v", err)
	case err != nil:
		return nil, fmt.Errorf("--path %s --idle-timeout %s: %w", name, idleFlag, err)
	}
	*idle = t
	return &m, nil
}

// ErrNoNodeTimer: --path node on a node with no timer that forgets idle
// flows in the namespace: nothing to plan against.
var errNoNodeTimer = errors.New("no timer of this node forgets idle TCP flows here (conntrack, IPVS and nft ct timeouts were looked for; see tcpka show)")

// nodePath is --path node: the shortest of the node's own idle timers in
// the handle's namespace, as a path element.
func nodePath(env *Env, idleFlag string, idle *int) (*plan.Middlebox, error) {
	if idleFlag != "" {
		return nil, usagef("--path node reads the node's own timeout: give no --idle-timeout")
	}
	var r nodetimer.Report
	_ = env.NS().In(func(sysctl.FS) error { r = nodetimer.Read(env.ProcRoot()); return nil })
	t, ok := r.Shortest()
	if !ok {
		return nil, inputf("--path node: %w", errNoNodeTimer)
	}
	*idle = t.IdleTimeoutS
	return &plan.Middlebox{Name: "node", Title: "this node's " + t.Label(), IdleTimeout: t.IdleTimeoutS, Source: t.Source}, nil
}

// withCommand prefixes an error with the command's name, except a usage
// error, which run prints with the name and usage line already.
func withCommand(name string, err error) error {
	var u usageError
	if errors.As(err, &u) {
		return err
	}
	return fmt.Errorf("%s: %w", name, err)
}

// parseSeconds reads a duration flag (plan.ParseSeconds); a bad one is a
// usage error.
func parseSeconds(flag, s string) (int, error) {
	n, err := plan.ParseSeconds(s)
	if err != nil {
		return 0, usagef("--%s %v", flag, err)
	}
	return n, nil
}

type pathJSON struct {
	Name         string `json:"name"`
	Title        string `json:"title"`
	IdleTimeoutS int    `json:"idle_timeout_s"`
	Range        string `json:"range"`
	Source       string `json:"source"`
}

type planJSONOut struct {
	Path          *pathJSON `json:"path,omitempty"`
	IdleTimeoutS  int       `json:"idle_timeout_s,omitempty"`
	MarginS       int       `json:"margin_s,omitempty"`
	TimeLimitS    int       `json:"time_limit_s,omitempty"`
	DetectWithinS int       `json:"detect_within_s,omitempty"`
	jsonout.Settings
	ProbesPerHour float64 `json:"probes_per_hour"`
	BytesPerHour  int     `json:"bytes_per_hour"`
	Why           string  `json:"why"`
	DataWhy       string  `json:"data_why,omitempty"`
	// The worst cases, in fractional seconds: every timer as late as the
	// timer wheel fires it on a kernel of any common tick rate.
	DetectionMaxS    float64  `json:"detection_max_s"`
	DataInFlightMaxS *float64 `json:"data_in_flight_max_s,omitempty"`
	ProfileFile      string   `json:"profile_file,omitempty"`
}

func runPlan(env *Env, f planFlags, args []string) error {
	planIdle, planWithin, planPath, planOut, planJSON := f.idle, f.within, f.path, f.out, f.json
	if len(args) > 0 {
		return usagef("takes no arguments, got %q", args[0])
	}
	var ask plan.Ask
	var err error
	if planIdle != "" {
		if ask.IdleTimeout, err = parseSeconds("idle-timeout", planIdle); err != nil {
			return err
		}
	}
	if planWithin != "" {
		if ask.DetectWithin, err = parseSeconds("detect-within", planWithin); err != nil {
			return err
		}
	}
	var box *plan.Middlebox
	if planPath == "node" {
		box, err = nodePath(env, planIdle, &ask.IdleTimeout)
	} else if box, err = resolvePath(planPath, planIdle, &ask.IdleTimeout); errors.As(err, new(usageError)) {
		err = usagef("%v, or node (this node's own idle timers)", err)
	}
	if err != nil {
		return withCommand("plan", err)
	}
	if ask.IdleTimeout == 0 && ask.DetectWithin == 0 {
		return usagef("needs --idle-timeout D or --path NAME, and/or --detect-within D")
	}
	if f.idleOnly && ask.DetectWithin == 0 {
		return usagef("--idle-only goes with --detect-within")
	}
	if f.force && planOut == "" {
		return usagef("--force goes with -o FILE")
	}
	ask.IdleOnly = f.idleOnly
	p, err := plan.Solve(ask)
	if err != nil {
		return fmt.Errorf("plan: %w", err)
	}
	if planOut != "" {
		err := writePlanProfile(planOut, p, box, planCommandLine(box, f), f.force)
		if errors.Is(err, atomicfile.ErrExist) {
			return fmt.Errorf("plan: -o %s: %w: add --force to replace it", planOut, atomicfile.ErrExist)
		}
		if err != nil {
			return fmt.Errorf("plan: -o %s: %w", planOut, err)
		}
	}
	k := p.Settings
	if planJSON {
		out := planJSONOut{
			IdleTimeoutS: p.IdleTimeout, MarginS: p.Margin, TimeLimitS: p.TimeLimit, DetectWithinS: p.DetectWithin,
			Settings:      jsonout.Profile(k),
			ProbesPerHour: math.Round(plan.ProbesPerHour(k.Time)*10) / 10, BytesPerHour: plan.BytesPerHour(k.Time),
			Why: p.Why, DataWhy: p.DataWhy, ProfileFile: planOut, DetectionMaxS: round3(p.Idle.Upper.Seconds()),
		}
		if !p.Data.Never {
			d := round3(p.Data.Upper.Seconds())
			out.DataInFlightMaxS = &d
		}
		if box != nil {
			out.Path = &pathJSON{Name: box.Name, Title: box.Title, IdleTimeoutS: ask.IdleTimeout, Range: box.Range(), Source: box.Source}
		}
		return jsonout.Write(env.Stdout, out)
	}
	w := env.Stdout
	if box != nil {
		state := box.Range()
		if ask.IdleTimeout != box.IdleTimeout {
			state = "as you set it; published default " + human.Duration(box.IdleTimeout)
		}
		fmt.Fprintf(w, "path: %s, %s: idle timeout %s (%s)\n", box.Name, box.Title, human.Seconds(ask.IdleTimeout), state)
		fmt.Fprintf(w, "  source: %s\n", box.Source)
	}
	if p.IdleTimeout > 0 {
		fmt.Fprintf(w, "keep open: idle time at most %s: the %d s idle timeout less %d s for timer lateness\n", human.Seconds(p.TimeLimit), p.IdleTimeout, p.Margin)
	}
	if p.DetectWithin > 0 {
		fmt.Fprintf(w, "detect: a dead peer within %s\n", human.Seconds(p.DetectWithin))
	}
	fmt.Fprintln(w)
	for _, key := range sysctl.Keys() {
		if v := key.Get(k); v != 0 {
			fmt.Fprintf(w, "%s  %s\n", nsreport.KeyColumn(key, v), key.Meaning)
		}
	}
	if u := k.UserTimeout; u > 0 {
		fmt.Fprintf(w, "%-21s%6d s  TCP_USER_TIMEOUT on the sockets tcpka enforce reaches\n", "user_timeout", int(u/time.Second))
	}
	fmt.Fprintf(w, "dead peer detected after %s of silence on an idle connection, at most %s with every timer as late as the timer wheel fires it\n", human.Seconds(detect.Idle(k)), human.Tenths(p.Idle.Upper))
	fmt.Fprintf(w, "why: %s\n", p.Why)
	if p.DataWhy != "" {
		fmt.Fprintf(w, "%s\n", p.DataWhy)
	} else if p.DetectWithin > 0 {
		fmt.Fprintf(w, "data in flight: not bounded (--idle-only): the kernel's tcp_retries2 15 gives up after %s\n", human.Seconds(detect.Net{}.Data(keepalive.KernelDefaults)))
	}
	fmt.Fprintf(w, "cost: each idle connection sends %s probes an hour (one every %s) and gets as many ACKs, about %s per hour over IPv4; a dead peer is given %d probes %d s apart\n",
		fmtRate(plan.ProbesPerHour(k.Time)), human.Duration(k.Time), fmtBytes(plan.BytesPerHour(k.Time)), k.Probes, k.Intvl)
	if planOut != "" {
		fmt.Fprintf(w, "wrote %s: apply it with: sudo tcpka apply %s\n", planOut, shellPath(planOut))
	} else {
		fmt.Fprintln(w, "to keep it: add -o FILE, then: sudo tcpka apply FILE")
	}
	return nil
}

func fmtRate(f float64) string {
	if f >= 10 || f == math.Trunc(f) {
		return strconv.Itoa(int(math.Round(f)))
	}
	return strconv.FormatFloat(f, 'f', 1, 64)
}

func fmtBytes(n int) string {
	if n < 1024 {
		return strconv.Itoa(n) + " bytes"
	}
	return strconv.FormatFloat(float64(n)/1024, 'f', 1, 64) + " KiB"
}

// shellPath makes a relative file usable as a profile argument: apply
// treats a bare name without '/' or .yaml as a shipped profile.
func shellPath(file string) string {
	if profile.IsPath(file) {
		return file
	}
	return "./" + file
}

// writePlanProfile writes the plan as a profile with the one atomic
// writer: a new file, or with force one that replaces file.
func writePlanProfile(file string, p plan.Plan, box *plan.Middlebox, cmdline string, force bool) error {
	if st, err := os.Stat(file); err == nil && st.IsDir() {
		return inputError{errors.New("is a directory")}
	}
	data, err := p.Profile(file, box, cmdline)
	if err != nil {
		return err
	}
	if force {
		return atomicfile.WriteFile(file, data, 0o644)
	}
	return atomicfile.CreateFile(file, data, 0o644)
}

func planCommandLine(box *plan.Middlebox, f planFlags) string {
	planIdle, planWithin := f.idle, f.within
	var parts []string
	if box != nil {
		parts = append(parts, "--path "+box.Name)
	}
	if planIdle != "" {
		parts = append(parts, "--idle-timeout "+planIdle)
	}
	if planWithin != "" {
		parts = append(parts, "--detect-within "+planWithin)
	}
	if f.idleOnly {
		parts = append(parts, "--idle-only")
	}
	return "plan " + strings.Join(parts, " ")
}
