package main

// --all-netns for show, apply and check: kernel.Every finds every network
// namespace and visits them one by one on a locked OS thread; this file
// renders what each visit found.

import (
	"fmt"
	"os"
	"slices"
	"strings"
	"text/tabwriter"

	"github.com/tcpka/tcpka/internal/detect"
	"github.com/tcpka/tcpka/internal/keepalive"
	"github.com/tcpka/tcpka/internal/kernel"
	"github.com/tcpka/tcpka/internal/netns"
	"github.com/tcpka/tcpka/internal/profile"
	"github.com/tcpka/tcpka/internal/sysctl"
)

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

func visitJSON(v *kernel.Visit) nsJSON {
	j := nsJSON{Netns: v.ID(), Inode: v.Ino, Names: nonNil(v.Names), Processes: []processJSON{}, ProcessCount: len(v.Pids), Host: v.Host}
	for _, p := range v.Procs {
		j.Processes = append(j.Processes, processJSON{Pid: p.Pid, Command: p.Command})
	}
	if v.Err != nil {
		j.Error = oneLine(v.Err.Error())
	}
	return j
}

// every runs fn in every network namespace (kernel.Every); --all-netns and
// --netns exclude each other. It warns about namespaces it could not read.
func (e *Env) every(what string, fn func(v *kernel.Visit, fs sysctl.FS) error) ([]kernel.Visit, error) {
	if e.Kernel.Target() != nil {
		return nil, usagef("--all-netns and --netns exclude each other")
	}
	visits, l, err := kernel.Every(e.ProcRoot(), netns.DefaultRunDir, fn)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", what, err)
	}
	if l.Unreadable > 0 {
		hint := "permission denied"
		if os.Geteuid() != 0 {
			hint += ": run as root to see all"
		}
		fmt.Fprintf(e.Stderr, "tcpka: %s: the network namespace of %d %s could not be read (%s)\n", what, l.Unreadable, plural(l.Unreadable, "process"), hint)
	}
	return visits, nil
}

// failedVisit: the namespace could not be read or changed. One that went
// away since it was listed (its last process exited) did not fail: there
// is nothing left to read or change.
func failedVisit(v *kernel.Visit) bool { return v.Err != nil && !v.Gone }

// failedLabels names the visits that failed, for the closing line.
func failedLabels(visits []kernel.Visit, failed func(*kernel.Visit) bool) (n int, labels string) {
	var ls []string
	for i := range visits {
		if failed(&visits[i]) {
			ls = append(ls, visits[i].Label())
		}
	}
	return len(ls), strings.Join(ls, "; ")
}

// ---- show --all-netns

type showAllRowJSON struct {
	nsJSON
	*settingsJSON
	KernelDefaults  bool `json:"kernel_defaults"`
	DiffersFromHost bool `json:"differs_from_host"`
}

type showAllJSONOut struct {
	HostNetns  string           `json:"host_netns,omitempty"`
	Namespaces []showAllRowJSON `json:"namespaces"`
}

func showAllNetns(env *Env, asJSON bool) error {
	vals := map[*kernel.Visit]keepalive.Settings{}
	visits, err := env.every("show", func(v *kernel.Visit, fs sysctl.FS) error {
		s, err := fs.Read()
		vals[v] = s
		return err
	})
	if err != nil {
		return err
	}
	var host *kernel.Visit
	for i := range visits {
		if visits[i].Host && visits[i].Err == nil {
			host = &visits[i]
		}
	}
	differs := func(v *kernel.Visit) bool { return host != nil && !v.Host && vals[v] != vals[host] }
	if err := printShowAll(env, asJSON, visits, vals, host, differs); err != nil {
		return err
	}
	// A namespace that could not be read: what it holds is not known.
	if failed, _ := failedLabels(visits, failedVisit); failed > 0 {
		see := "NOTE"
		if asJSON {
			see = "their error"
		}
		fmt.Fprintf(env.Stderr, "tcpka: show: %d network %s could not be read (see %s)\n", failed, plural(failed, "namespace"), see)
		return exitCode(exitUnknown)
	}
	return nil
}

// printShowAll prints show --all-netns: a table, or one JSON object.
func printShowAll(env *Env, asJSON bool, visits []kernel.Visit, vals map[*kernel.Visit]keepalive.Settings, host *kernel.Visit, differs func(*kernel.Visit) bool) error {
	if asJSON {
		out := showAllJSONOut{Namespaces: []showAllRowJSON{}}
		if host != nil {
			out.HostNetns = host.ID()
		}
		for i := range visits {
			v := &visits[i]
			j := showAllRowJSON{nsJSON: visitJSON(v)}
			if v.Err == nil {
				s := newSettingsJSON(vals[v])
				j.settingsJSON = &s
				j.KernelDefaults = isKernelDefault(vals[v])
				j.DiffersFromHost = differs(v)
			}
			out.Namespaces = append(out.Namespaces, j)
		}
		return writeJSON(env.Stdout, out)
	}
	tw := tabwriter.NewWriter(env.Stdout, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "NETNS\tNAME\tPROCESSES\tTIME\tINTVL\tPROBES\tDETECTION\tNOTE")
	defaults, differing := 0, 0
	for i := range visits {
		v := &visits[i]
		name := "-"
		if len(v.Names) > 0 {
			name = strings.Join(v.Names, ",")
		}
		if v.Gone {
			fmt.Fprintf(tw, "%s\t%s\t%s\t-\t-\t-\t-\tgone since it was listed\n", v.ID(), name, v.ProcsCell())
			continue
		}
		if v.Err != nil {
			fmt.Fprintf(tw, "%s\t%s\t%s\t-\t-\t-\t-\tcannot read: %s\n", v.ID(), name, v.ProcsCell(), oneLine(v.Err.Error()))
			continue
		}
		s := vals[v]
		var notes []string
		if v.Host {
			notes = append(notes, "host")
		}
		if isKernelDefault(s) {
			defaults++
			notes = append(notes, "kernel defaults")
		}
		if differs(v) {
			differing++
			notes = append(notes, "differs from host")
		}
		note := strings.Join(notes, ", ")
		if note == "" {
			note = "-"
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n", v.ID(), name, v.ProcsCell(),
			sysctl.FormatValue(sysctl.Time, s.Time), sysctl.FormatValue(sysctl.Intvl, s.Intvl),
			sysctl.FormatValue(sysctl.Probes, s.Probes), detect.Seconds(detect.Idle(s)), note)
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	fmt.Fprintf(env.Stdout, "%d network %s: %d with the kernel defaults (dead peer noticed after %s), %d %s from the host\n",
		len(visits), plural(len(visits), "namespace"), defaults, detect.Seconds(detect.Idle(keepalive.KernelDefaults)),
		differing, verb(differing, "differs", "differ"))
	return nil
}

// ---- apply --all-netns

type applyAllRowJSON struct {
	nsJSON
	Applied bool          `json:"applied"`
	Changes []changeJSON  `json:"changes"`
	Before  *settingsJSON `json:"before,omitempty"`
	After   *settingsJSON `json:"after,omitempty"`
}

type applyAllJSONOut struct {
	Profile    string            `json:"profile"`
	Origin     string            `json:"origin"`
	DryRun     bool              `json:"dry_run"`
	Namespaces []applyAllRowJSON `json:"namespaces"`
	Failed     []string          `json:"failed"`
}

func applyAllNetns(env *Env, f *applyFlags, p *profile.Profile) error {
	results := map[*kernel.Visit]sysctl.Result{}
	var visits []kernel.Visit
	err := env.locked("apply", f.dryRun, func() (err error) {
		visits, err = env.every("apply", func(v *kernel.Visit, fs sysctl.FS) error {
			res, err := env.State.Transact(fs, sysctl.Request{What: "apply", Want: p.Settings, DryRun: f.dryRun, Record: p.Name, NS: env.identityHere()})
			results[v] = res
			return err
		})
		return err
	})
	if err != nil {
		return err
	}
	nfailed, failed := failedLabels(visits, failedVisit)
	if f.json {
		out := applyAllJSONOut{Profile: p.Name, Origin: p.Origin, DryRun: f.dryRun, Namespaces: []applyAllRowJSON{}, Failed: []string{}}
		for i := range visits {
			v := &visits[i]
			res, ok := results[v]
			j := applyAllRowJSON{nsJSON: visitJSON(v), Applied: res.Written, Changes: changesJSON(res.Changes)}
			if ok && v.Err == nil {
				b, a := newSettingsJSON(res.Before), newSettingsJSON(p.Over(res.Before))
				j.Before, j.After = &b, &a
			}
			if failedVisit(v) {
				out.Failed = append(out.Failed, v.ID())
			}
			out.Namespaces = append(out.Namespaces, j)
		}
		if err := writeJSON(env.Stdout, out); err != nil {
			return err
		}
	} else {
		w := env.Stdout
		fmt.Fprintf(w, "profile %s (%s) in %d network %s\n", p.Name, p.Origin, len(visits), plural(len(visits), "namespace"))
		changed := 0
		for i := range visits {
			v := &visits[i]
			res, ok := results[v]
			fmt.Fprintln(w, v.Label())
			printUndone(w, res, f.dryRun)
			if ok && res.Before != (keepalive.Settings{}) {
				printChanges(w, detect.Net{}, p.Settings, sysctl.SetKeys(p.Settings), res, p.Over(res.Before))
			}
			n := len(res.Changes)
			switch {
			case v.Gone:
				fmt.Fprintln(w, "  gone: it went away since it was listed")
			case v.Err != nil:
				fmt.Fprintf(w, "  FAILED: %s\n", oneLine(v.Err.Error()))
			case n == 0:
				fmt.Fprintln(w, "  already matches")
			case f.dryRun:
				changed++
				fmt.Fprintf(w, "  would change %d %s\n", n, plural(n, "key"))
			default:
				changed++
				fmt.Fprintf(w, "  applied: %d %s written and read back\n", n, plural(n, "key"))
			}
		}
		did := "changed"
		if f.dryRun {
			did = "would change (dry run: nothing written)"
		}
		gone := len(visits) - len(slices.DeleteFunc(slices.Clone(visits), func(v kernel.Visit) bool { return v.Gone }))
		fmt.Fprintf(w, "%d of %d network %s %s, %d already matched, %d failed\n",
			changed, len(visits), plural(len(visits), "namespace"), did, len(visits)-changed-nfailed-gone, nfailed)
	}
	if nfailed > 0 {
		fmt.Fprintf(env.Stderr, "tcpka: apply: failed in %d of %d network %s: %s\n", nfailed, len(visits), plural(len(visits), "namespace"), failed)
		return exitCode(exitFailure)
	}
	return nil
}

// ---- check --all-netns

type checkAllRowJSON struct {
	nsJSON
	Match  bool           `json:"match"`
	Keys   []checkKeyJSON `json:"keys"`
	Kernel *settingsJSON  `json:"kernel,omitempty"`
}

type checkAllJSONOut struct {
	Profile    string            `json:"profile"`
	Match      bool              `json:"match"`
	Namespaces []checkAllRowJSON `json:"namespaces"`
	Drift      []string          `json:"drift"`
	Failed     []string          `json:"failed"`
}

func checkAllNetns(env *Env, asJSON bool, p *profile.Profile, arg string) error {
	vals := map[*kernel.Visit]keepalive.Settings{}
	visits, err := env.every("check", func(v *kernel.Visit, fs sysctl.FS) error {
		s, err := fs.Read()
		vals[v] = s
		return err
	})
	if err != nil {
		return err
	}
	drifted := func(v *kernel.Visit) bool { return v.Err == nil && len(sysctl.Drift(p.Settings, vals[v])) > 0 }
	nfailed, failed := failedLabels(visits, failedVisit)
	ndrift, drift := failedLabels(visits, drifted)
	if asJSON {
		out := checkAllJSONOut{Profile: p.Name, Match: nfailed == 0 && ndrift == 0, Namespaces: []checkAllRowJSON{}, Drift: []string{}, Failed: []string{}}
		for i := range visits {
			v := &visits[i]
			j := checkAllRowJSON{nsJSON: visitJSON(v), Keys: []checkKeyJSON{}}
			switch {
			case failedVisit(v):
				out.Failed = append(out.Failed, v.ID())
			case v.Gone:
			default:
				s := newSettingsJSON(vals[v])
				j.Kernel = &s
				j.Match = !drifted(v)
				j.Keys = checkKeys(p, vals[v])
				if !j.Match {
					out.Drift = append(out.Drift, v.ID())
				}
			}
			out.Namespaces = append(out.Namespaces, j)
		}
		if err := writeJSON(env.Stdout, out); err != nil {
			return err
		}
	} else {
		w := env.Stdout
		for i := range visits {
			v := &visits[i]
			switch {
			case v.Gone:
				fmt.Fprintf(w, "%s: gone: it went away since it was listed\n", v.Label())
			case v.Err != nil:
				fmt.Fprintf(w, "%s: cannot read: %s\n", v.Label(), oneLine(v.Err.Error()))
			case drifted(v):
				var ds []string
				for _, c := range sysctl.Drift(p.Settings, vals[v]) {
					ds = append(ds, fmt.Sprintf("%s %s (profile %s)", c.Key.Name(), sysctl.FormatValue(c.Key, c.Old), sysctl.FormatValue(c.Key, c.New)))
				}
				fmt.Fprintf(w, "%s: DRIFT: %s\n", v.Label(), strings.Join(ds, ", "))
			default:
				fmt.Fprintf(w, "%s: ok, dead peer detected after %s\n", v.Label(), detect.Seconds(detect.Idle(vals[v])))
			}
		}
		if ndrift == 0 && nfailed == 0 {
			fmt.Fprintf(w, "all %d network %s match profile %s\n", len(visits), plural(len(visits), "namespace"), p.Name)
		} else if ndrift > 0 {
			fmt.Fprintf(w, "drift in %d of %d network %s: %s (fix: sudo tcpka apply %s --all-netns)\n", ndrift, len(visits), plural(len(visits), "namespace"), drift, arg)
		}
	}
	if nfailed > 0 {
		fmt.Fprintf(env.Stderr, "tcpka: check: could not read %d of %d network %s: %s\n", nfailed, len(visits), plural(len(visits), "namespace"), failed)
	}
	// Drift found anywhere answers the question; otherwise a namespace
	// that could not be read leaves it open.
	switch {
	case ndrift > 0:
		return exitCode(exitFailure)
	case nfailed > 0:
		return exitCode(exitUnknown)
	}
	return nil
}

// identityHere identifies the namespace of the calling thread (inside
// Every) for its records; none on a proc tree that is not this machine's.
func (e *Env) identityHere() sysctl.NSID {
	if !e.Kernel.RealProc() {
		return sysctl.NSID{}
	}
	return kernel.IdentityHere()
}
