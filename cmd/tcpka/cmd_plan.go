package main

import (
	"errors"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/spf13/pflag"
	"github.com/tcpka/tcpka/internal/detect"
	"github.com/tcpka/tcpka/internal/plan"
	"github.com/tcpka/tcpka/internal/profile"
	"github.com/tcpka/tcpka/internal/sysctl"
)

var (
	planIdle   string
	planWithin string
	planPath   string
	planOut    string
	planJSON   bool
)

var cmdPlan = &Command{
	Name:      "plan",
	UsageLine: "plan --idle-timeout D | --path NAME [--detect-within D] [-o FILE] [--json]",
	Short:     "choose keepalive values that keep a path open and notice a dead peer in time",
	Long: `Computes tcp_keepalive_time, _intvl and _probes for a network path whose
middleboxes forget idle flows after --idle-timeout (the smallest on the path):
the idle time stays below it with a margin for timer lateness (10 %, at least
10 s). With --detect-within, a silently dead peer is also noticed within that
bound. The output says what the choice costs: probes per idle connection per
hour.

--path names a known middlebox so you need not know its timeout:
  ` + pathList() + `
With --path, --idle-timeout states a timeout you configured on it (checked
against the range the vendor allows).

Asks no profile can meet are refused with the reason. -o FILE writes the
plan as a profile for 'tcpka apply' and 'tcpka check'. Nothing else is
written; plan needs no privileges.`,
	Examples: "tcpka plan --path aws-nlb --detect-within 2m\ntcpka plan --idle-timeout 350s -o nat.yaml && sudo tcpka apply nat.yaml\ntcpka plan --path azure-lb --idle-timeout 30m --json",
	Flags: func(fs *pflag.FlagSet) {
		fs.StringVar(&planIdle, "idle-timeout", "", "the path forgets idle flows after `D` (350s, 4m, or seconds)")
		fs.StringVar(&planWithin, "detect-within", "", "notice a dead peer within `D`")
		fs.StringVar(&planPath, "path", "", "a known middlebox `NAME` ("+strings.Join(plan.Names(), ", ")+")")
		fs.StringVarP(&planOut, "output", "o", "", "write the plan as a profile to `FILE`")
		fs.BoolVar(&planJSON, "json", false, "print one JSON object")
	},
	Run: runPlan,
}

func pathList() string {
	var lines []string
	for _, m := range plan.Middleboxes {
		lines = append(lines, fmt.Sprintf("%-10s %s (%s, %s)", m.Name, m.Title, detect.Words(m.IdleTimeout), m.Range()))
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
	m, err := plan.Lookup(name)
	if err != nil {
		return nil, usagef("--path %v", err)
	}
	if *idle == 0 {
		*idle = m.IdleTimeout
	} else if err := m.Timeout(*idle); err != nil {
		return nil, fmt.Errorf("--path %s --idle-timeout %s: %w", name, idleFlag, err)
	}
	return &m, nil
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

// parseSeconds reads a duration flag: a Go duration ("350s", "4m") or bare
// whole seconds, positive and whole.
func parseSeconds(flag, s string) (int, error) {
	if n, err := strconv.Atoi(s); err == nil {
		if n < 1 {
			return 0, usagef("--%s %s: must be at least 1s", flag, s)
		}
		return n, nil
	}
	d, err := time.ParseDuration(s)
	if err != nil {
		return 0, usagef("--%s %q: not a duration (like 350s, 4m, 1h) nor whole seconds", flag, s)
	}
	if d%time.Second != 0 {
		return 0, usagef("--%s %s: must be whole seconds", flag, s)
	}
	if d < time.Second {
		return 0, usagef("--%s %s: must be at least 1s", flag, s)
	}
	if d > math.MaxInt32*time.Second {
		return 0, usagef("--%s %s: too long", flag, s)
	}
	return int(d / time.Second), nil
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
	valuesJSON
	ProbesPerHour float64 `json:"probes_per_hour"`
	BytesPerHour  int     `json:"bytes_per_hour"`
	Why           string  `json:"why"`
	ProfileFile   string  `json:"profile_file,omitempty"`
}

func runPlan(env *Env, args []string) error {
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
	box, err := resolvePath(planPath, planIdle, &ask.IdleTimeout)
	if err != nil {
		return withCommand("plan", err)
	}
	if ask.IdleTimeout == 0 && ask.DetectWithin == 0 {
		return usagef("needs --idle-timeout D or --path NAME, and/or --detect-within D")
	}
	p, err := plan.Solve(ask)
	if err != nil {
		return fmt.Errorf("plan: %w", err)
	}
	if planOut != "" {
		if err := writePlanProfile(planOut, p, box); err != nil {
			return fmt.Errorf("plan: -o %s: %w", planOut, err)
		}
	}
	k := p.Keepalive
	v := sysctl.Values{Time: k.Time, Intvl: k.Intvl, Probes: k.Probes}
	if planJSON {
		out := planJSONOut{
			IdleTimeoutS: p.IdleTimeout, MarginS: p.Margin, TimeLimitS: p.TimeLimit, DetectWithinS: p.DetectWithin,
			valuesJSON:    newValuesJSON(v),
			ProbesPerHour: math.Round(plan.ProbesPerHour(k.Time)*10) / 10, BytesPerHour: plan.BytesPerHour(k.Time),
			Why: p.Why, ProfileFile: planOut,
		}
		if box != nil {
			out.Path = &pathJSON{Name: box.Name, Title: box.Title, IdleTimeoutS: ask.IdleTimeout, Range: box.Range(), Source: box.Source}
		}
		return writeJSON(env.Stdout, out)
	}
	w := env.Stdout
	if box != nil {
		state := box.Range()
		if ask.IdleTimeout != box.IdleTimeout {
			state = "as you set it; published default " + detect.Words(box.IdleTimeout)
		}
		fmt.Fprintf(w, "path: %s, %s: idle timeout %s (%s)\n", box.Name, box.Title, detect.Seconds(ask.IdleTimeout), state)
		fmt.Fprintf(w, "  source: %s\n", box.Source)
	}
	if p.IdleTimeout > 0 {
		fmt.Fprintf(w, "keep open: idle time at most %s: the %d s idle timeout less %d s for timer lateness\n", detect.Seconds(p.TimeLimit), p.IdleTimeout, p.Margin)
	}
	if p.DetectWithin > 0 {
		fmt.Fprintf(w, "detect: a dead peer within %s\n", detect.Seconds(p.DetectWithin))
	}
	fmt.Fprintln(w)
	for _, key := range sysctl.Keys {
		fmt.Fprintf(w, "%s  %s\n", keyColumn(key, v.Get(key)), key.Meaning())
	}
	fmt.Fprintf(w, "dead peer detected after %s of silence on an idle connection (predicted; kernel timers may fire up to ~12%% late)\n", detect.Seconds(k.IdleSeconds()))
	fmt.Fprintf(w, "why: %s\n", p.Why)
	fmt.Fprintf(w, "cost: each idle connection sends %s probes an hour (one every %s) and gets as many ACKs, about %s per hour over IPv4; a dead peer is given %d probes %d s apart\n",
		fmtRate(plan.ProbesPerHour(k.Time)), detect.Words(k.Time), fmtBytes(plan.BytesPerHour(k.Time)), k.Probes, k.Intvl)
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

// writePlanProfile renders p, checks that the profile decoder accepts it
// exactly as planned, then writes it atomically.
func writePlanProfile(file string, p plan.Plan, box *plan.Middlebox) error {
	if st, err := os.Stat(file); err == nil && st.IsDir() {
		return errors.New("is a directory")
	}
	var sources []string
	desc := "Planned by tcpka"
	if box != nil {
		desc += " for " + box.Title + ","
		sources = append(sources, box.Source)
	}
	if p.IdleTimeout > 0 {
		desc += fmt.Sprintf(" keeping flows open through a %s idle timeout", detect.Words(p.IdleTimeout))
	}
	if p.DetectWithin > 0 {
		desc += fmt.Sprintf(", noticing a dead peer within %s", detect.Words(p.DetectWithin))
	}
	desc += "."
	data := p.ProfileYAML("written by: tcpka "+planCommandLine(box), desc, sources)
	got, err := profile.Decode(file, profile.NameFromFile(file), data)
	if err != nil {
		return fmt.Errorf("internal error: the plan does not decode as a profile: %w", err)
	}
	if got.Keepalive(sysctl.Values{}) != p.Keepalive {
		return errors.New("internal error: the profile does not round-trip")
	}
	return writeFileAtomic(file, data, 0o644)
}

func planCommandLine(box *plan.Middlebox) string {
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
	return "plan " + strings.Join(parts, " ")
}

// writeFileAtomic writes data to a temporary file in file's directory,
// syncs it and renames it over file: readers see the old file or the new
// one, never a part.
func writeFileAtomic(file string, data []byte, perm os.FileMode) error {
	dir := filepath.Dir(file)
	tmp, err := os.CreateTemp(dir, "."+filepath.Base(file)+".tmp*")
	if err != nil {
		return err
	}
	defer os.Remove(tmp.Name())
	if _, err := tmp.Write(data); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Chmod(perm); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Sync(); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Close(); err != nil {
		return err
	}
	return os.Rename(tmp.Name(), file)
}
