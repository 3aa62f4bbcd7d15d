package main

// --all-netns for show, apply and check: find every network namespace, then
// visit them one by one on a locked OS thread (internal/netns.Each).

import (
	"fmt"
	"os"
	"strconv"
	"strings"
	"text/tabwriter"

	"github.com/tcpka/tcpka/internal/detect"
	"github.com/tcpka/tcpka/internal/netns"
	"github.com/tcpka/tcpka/internal/profile"
	"github.com/tcpka/tcpka/internal/sysctl"
)

// shownProcesses is how many processes a row names.
const shownProcesses = 3

// nsRow is one namespace found by --all-netns and what tcpka did there.
type nsRow struct {
	netns.Namespace
	procs []netns.Process
	vals  sysctl.Values
	err   error
}

// label names the namespace in per-namespace output:
// "net:[4026532247] blue", "net:[4026532301] (pid 88 sleep)".
func (r nsRow) label() string {
	var b strings.Builder
	b.WriteString(r.ID())
	if r.Ino == 0 { // a broken name: ID is its path
		return b.String()
	}
	if len(r.Names) > 0 {
		b.WriteString(" " + strings.Join(r.Names, ","))
	} else if len(r.procs) > 0 {
		b.WriteString(" (" + r.procsCell() + ")")
	}
	if r.Host {
		b.WriteString(" [host]")
	}
	return b.String()
}

// procsCell is "1 systemd, 312 sshd +40 more", or "-".
func (r nsRow) procsCell() string {
	if len(r.procs) == 0 {
		return "-"
	}
	var parts []string
	for _, p := range r.procs {
		parts = append(parts, strconv.Itoa(p.Pid)+" "+p.Command)
	}
	s := strings.Join(parts, ", ")
	if more := len(r.Pids) - len(r.procs); more > 0 {
		s += fmt.Sprintf(" +%d more", more)
	}
	return s
}

// processJSON is one process of a namespace in --json output.
type processJSON struct {
	Pid     int    `json:"pid"`
	Command string `json:"command"`
}

// nsJSON identifies a namespace in --json output.
type nsJSON struct {
	Netns        string        `json:"netns"`
	Inode        uint64        `json:"inode,omitempty"`
	Names        []string      `json:"names"`
	Processes    []processJSON `json:"processes"`
	ProcessCount int           `json:"process_count"`
	Host         bool          `json:"host"`
	Error        string        `json:"error,omitempty"`
}

func (r nsRow) json() nsJSON {
	j := nsJSON{Netns: r.ID(), Inode: r.Ino, Names: r.Names, Processes: []processJSON{}, ProcessCount: len(r.Pids), Host: r.Host}
	if j.Names == nil {
		j.Names = []string{}
	}
	for _, p := range r.procs {
		j.Processes = append(j.Processes, processJSON{Pid: p.Pid, Command: p.Command})
	}
	if r.err != nil {
		j.Error = oneLine(r.err.Error())
	}
	return j
}

// allNetns lists every network namespace and runs fn in each, one after the
// other on one locked OS thread; a namespace that cannot be entered gets its
// error in err and fn is not called.
func (e *Env) allNetns(what string, fn func(r *nsRow) error) ([]nsRow, error) {
	if e.target != nil {
		return nil, usagef("--all-netns and --netns exclude each other")
	}
	l, err := netns.List(netns.DefaultRunDir, e.ProcRoot)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", what, err)
	}
	rows := make([]nsRow, len(l.Namespaces))
	for i, n := range l.Namespaces {
		rows[i] = nsRow{Namespace: n, procs: n.Processes(shownProcesses)}
	}
	errs, err := netns.Each(len(rows),
		func(i int) (*netns.NS, error) { return rows[i].Open() },
		func(i int) error { return fn(&rows[i]) },
		true)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", what, err)
	}
	for i := range rows {
		rows[i].err = errs[i]
	}
	if l.Unreadable > 0 {
		hint := "permission denied"
		if os.Geteuid() != 0 {
			hint += ": run as root to see all"
		}
		fmt.Fprintf(e.Stderr, "tcpka: %s: the network namespace of %d %s could not be read (%s)\n", what, l.Unreadable, plural(l.Unreadable, "process"), hint)
	}
	return rows, nil
}

// failedLabels names the rows that failed, for the closing line.
func failedLabels(rows []nsRow, failed func(nsRow) bool) (n int, labels string) {
	var ls []string
	for _, r := range rows {
		if failed(r) {
			ls = append(ls, r.label())
		}
	}
	return len(ls), strings.Join(ls, "; ")
}

// ---- show --all-netns

type showAllRowJSON struct {
	nsJSON
	*valuesJSON
	KernelDefaults  bool `json:"kernel_defaults"`
	DiffersFromHost bool `json:"differs_from_host"`
}

type showAllJSONOut struct {
	HostNetns  string           `json:"host_netns,omitempty"`
	Namespaces []showAllRowJSON `json:"namespaces"`
}

func showAllNetns(env *Env) error {
	fs := env.sysFS()
	rows, err := env.allNetns("show", func(r *nsRow) error {
		var err error
		r.vals, err = fs.Read()
		return err
	})
	if err != nil {
		return err
	}
	var host *nsRow
	for i := range rows {
		if rows[i].Host && rows[i].err == nil {
			host = &rows[i]
		}
	}
	differs := func(r nsRow) bool { return host != nil && !r.Host && r.vals != host.vals }
	if showJSON {
		out := showAllJSONOut{Namespaces: []showAllRowJSON{}}
		if host != nil {
			out.HostNetns = host.ID()
		}
		for _, r := range rows {
			j := showAllRowJSON{nsJSON: r.json()}
			if r.err == nil {
				v := newValuesJSON(r.vals)
				j.valuesJSON = &v
				j.KernelDefaults = r.vals == sysctl.KernelDefaults
				j.DiffersFromHost = differs(r)
			}
			out.Namespaces = append(out.Namespaces, j)
		}
		return writeJSON(env.Stdout, out)
	}
	tw := tabwriter.NewWriter(env.Stdout, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "NETNS\tNAME\tPROCESSES\tTIME\tINTVL\tPROBES\tDETECTION\tNOTE")
	defaults, differing, failed := 0, 0, 0
	for _, r := range rows {
		name := "-"
		if len(r.Names) > 0 {
			name = strings.Join(r.Names, ",")
		}
		if r.err != nil {
			failed++
			fmt.Fprintf(tw, "%s\t%s\t%s\t-\t-\t-\t-\tcannot read: %s\n", r.ID(), name, r.procsCell(), oneLine(r.err.Error()))
			continue
		}
		var notes []string
		if r.Host {
			notes = append(notes, "host")
		}
		if r.vals == sysctl.KernelDefaults {
			defaults++
			notes = append(notes, "kernel defaults")
		}
		if differs(r) {
			differing++
			notes = append(notes, "differs from host")
		}
		note := strings.Join(notes, ", ")
		if note == "" {
			note = "-"
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n", r.ID(), name, r.procsCell(),
			sysctl.FormatValue(sysctl.Time, r.vals.Time), sysctl.FormatValue(sysctl.Intvl, r.vals.Intvl),
			sysctl.FormatValue(sysctl.Probes, r.vals.Probes), detect.Seconds(keepalive(r.vals).IdleSeconds()), note)
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	fmt.Fprintf(env.Stdout, "%d network %s: %d with the kernel defaults (dead peer noticed after %s), %d %s from the host\n",
		len(rows), plural(len(rows), "namespace"), defaults, detect.Seconds(keepalive(sysctl.KernelDefaults).IdleSeconds()),
		differing, map[bool]string{true: "differs", false: "differ"}[differing == 1])
	if failed > 0 {
		fmt.Fprintf(env.Stderr, "tcpka: show: %d network %s could not be read (see NOTE)\n", failed, plural(failed, "namespace"))
	}
	return nil
}

// ---- apply --all-netns

type applyAllRowJSON struct {
	nsJSON
	Applied bool         `json:"applied"`
	Changes []changeJSON `json:"changes"`
	Before  *valuesJSON  `json:"before,omitempty"`
	After   *valuesJSON  `json:"after,omitempty"`
}

type applyAllJSONOut struct {
	Profile    string            `json:"profile"`
	Origin     string            `json:"origin"`
	DryRun     bool              `json:"dry_run"`
	Namespaces []applyAllRowJSON `json:"namespaces"`
	Failed     []string          `json:"failed"`
}

func applyAllNetns(env *Env, p *profile.Profile) error {
	if !applyDryRun {
		if err := env.canWrite("apply"); err != nil {
			return err
		}
		unlock, err := env.lock()
		if err != nil {
			return fmt.Errorf("apply: %w", err)
		}
		defer unlock()
	}
	results := map[*nsRow]sysctl.Result{}
	rows, err := env.allNetns("apply", func(r *nsRow) error {
		rec := &sysctl.RevertRecord{Profile: p.Name}
		res, err := env.transactHere("apply", p.Settings, applyDryRun, rec, env.revertPathFor(r.ID()))
		results[r] = res
		return err
	})
	if err != nil {
		return err
	}
	nfailed, failed := failedLabels(rows, func(r nsRow) bool { return r.err != nil })
	if applyJSON {
		out := applyAllJSONOut{Profile: p.Name, Origin: p.Origin, DryRun: applyDryRun, Namespaces: []applyAllRowJSON{}, Failed: []string{}}
		for i := range rows {
			r := &rows[i]
			res := results[r]
			j := applyAllRowJSON{nsJSON: r.json(), Applied: res.Written, Changes: changesJSON(res.Changes)}
			if _, ok := results[r]; ok && r.err == nil {
				b, a := newValuesJSON(res.Before), newValuesJSON(p.Settings.Over(res.Before))
				j.Before, j.After = &b, &a
			}
			if r.err != nil {
				out.Failed = append(out.Failed, r.ID())
			}
			out.Namespaces = append(out.Namespaces, j)
		}
		if err := writeJSON(env.Stdout, out); err != nil {
			return err
		}
	} else {
		fmt.Fprintf(env.Stdout, "profile %s (%s) in %d network %s\n", p.Name, p.Origin, len(rows), plural(len(rows), "namespace"))
		changed := 0
		for i := range rows {
			r := &rows[i]
			res, ok := results[r]
			fmt.Fprintln(env.Stdout, r.label())
			if ok && res.Before != (sysctl.Values{}) {
				printChanges(env, p.Settings, res, p.Settings.Over(res.Before))
			}
			switch {
			case r.err != nil:
				fmt.Fprintf(env.Stdout, "  FAILED: %s\n", oneLine(r.err.Error()))
			case len(res.Changes) == 0:
				fmt.Fprintln(env.Stdout, "  already matches")
			case applyDryRun:
				changed++
				fmt.Fprintf(env.Stdout, "  would change %d %s\n", len(res.Changes), plural(len(res.Changes), "key"))
			default:
				changed++
				fmt.Fprintf(env.Stdout, "  applied: %d %s written and read back\n", len(res.Changes), plural(len(res.Changes), "key"))
			}
		}
		verb := "changed"
		if applyDryRun {
			verb = "would change (dry run: nothing written)"
		}
		fmt.Fprintf(env.Stdout, "%d of %d network %s %s, %d already matched, %d failed\n",
			changed, len(rows), plural(len(rows), "namespace"), verb, len(rows)-changed-nfailed, nfailed)
	}
	if nfailed > 0 {
		fmt.Fprintf(env.Stderr, "tcpka: apply: failed in %d of %d network %s: %s\n", nfailed, len(rows), plural(len(rows), "namespace"), failed)
		return exitCode(exitFailure)
	}
	return nil
}

// ---- check --all-netns

type checkAllRowJSON struct {
	nsJSON
	Match  bool           `json:"match"`
	Keys   []checkKeyJSON `json:"keys"`
	Kernel *valuesJSON    `json:"kernel,omitempty"`
}

type checkAllJSONOut struct {
	Profile    string            `json:"profile"`
	Match      bool              `json:"match"`
	Namespaces []checkAllRowJSON `json:"namespaces"`
	Drift      []string          `json:"drift"`
	Failed     []string          `json:"failed"`
}

func checkAllNetns(env *Env, p *profile.Profile, arg string) error {
	fs := env.sysFS()
	rows, err := env.allNetns("check", func(r *nsRow) error {
		var err error
		r.vals, err = fs.Read()
		return err
	})
	if err != nil {
		return err
	}
	drifted := func(r nsRow) bool { return r.err == nil && len(p.Settings.Diff(r.vals)) > 0 }
	nfailed, failed := failedLabels(rows, func(r nsRow) bool { return r.err != nil })
	ndrift, drift := failedLabels(rows, drifted)
	if checkJSON {
		out := checkAllJSONOut{Profile: p.Name, Match: nfailed == 0 && ndrift == 0, Namespaces: []checkAllRowJSON{}, Drift: []string{}, Failed: []string{}}
		for _, r := range rows {
			j := checkAllRowJSON{nsJSON: r.json(), Keys: []checkKeyJSON{}}
			if r.err != nil {
				out.Failed = append(out.Failed, r.ID())
			} else {
				v := newValuesJSON(r.vals)
				j.Kernel = &v
				j.Match = !drifted(r)
				for _, k := range sysctl.Keys {
					if n, ok := p.Settings.Lookup(k); ok {
						j.Keys = append(j.Keys, checkKeyJSON{Key: k.Dotted(), Kernel: r.vals.Get(k), Profile: n, Match: n == r.vals.Get(k)})
					}
				}
				if !j.Match {
					out.Drift = append(out.Drift, r.ID())
				}
			}
			out.Namespaces = append(out.Namespaces, j)
		}
		if err := writeJSON(env.Stdout, out); err != nil {
			return err
		}
	} else {
		for _, r := range rows {
			switch {
			case r.err != nil:
				fmt.Fprintf(env.Stdout, "%s: cannot read: %s\n", r.label(), oneLine(r.err.Error()))
			case drifted(r):
				var ds []string
				for _, c := range p.Settings.Diff(r.vals) {
					ds = append(ds, fmt.Sprintf("%s %s (profile %s)", c.Key.Name(), sysctl.FormatValue(c.Key, c.Old), sysctl.FormatValue(c.Key, c.New)))
				}
				fmt.Fprintf(env.Stdout, "%s: DRIFT: %s\n", r.label(), strings.Join(ds, ", "))
			default:
				fmt.Fprintf(env.Stdout, "%s: ok, dead peer detected after %s\n", r.label(), detect.Seconds(keepalive(r.vals).IdleSeconds()))
			}
		}
		if ndrift == 0 && nfailed == 0 {
			fmt.Fprintf(env.Stdout, "all %d network %s match profile %s\n", len(rows), plural(len(rows), "namespace"), p.Name)
		} else if ndrift > 0 {
			fmt.Fprintf(env.Stdout, "drift in %d of %d network %s: %s (fix: sudo tcpka apply %s --all-netns)\n", ndrift, len(rows), plural(len(rows), "namespace"), drift, arg)
		}
	}
	if nfailed > 0 {
		fmt.Fprintf(env.Stderr, "tcpka: check: could not read %d of %d network %s: %s\n", nfailed, len(rows), plural(len(rows), "namespace"), failed)
	}
	if nfailed > 0 || ndrift > 0 {
		return exitCode(exitFailure)
	}
	return nil
}
