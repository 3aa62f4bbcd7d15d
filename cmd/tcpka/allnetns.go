package main

// --all-netns for show, apply and check: netscope.Every finds every network
// namespace and visits them one by one on a locked OS thread; this file
// renders what each visit found.

import (
	"errors"
	"fmt"
	"maps"
	"os"
	"slices"
	"strings"
	"text/tabwriter"

	"github.com/tcpka/tcpka/internal/caps"
	"github.com/tcpka/tcpka/internal/detect"
	"github.com/tcpka/tcpka/internal/human"
	"github.com/tcpka/tcpka/internal/keepalive"
	"github.com/tcpka/tcpka/internal/netns"
	"github.com/tcpka/tcpka/internal/netscope"
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

func visitJSON(v *netscope.Visit) nsJSON {
	j := nsJSON{Netns: v.ID(), Inode: v.Ino, Names: nonNil(v.Names), Processes: []processJSON{}, ProcessCount: len(v.Pids), Host: v.Host}
	for _, p := range v.Procs {
		j.Processes = append(j.Processes, processJSON{Pid: p.Pid, Command: p.Command})
	}
	if v.Err != nil {
		j.Error = oneLine(v.Err.Error())
	}
	return j
}

// every runs fn in every network namespace (netscope.Every); --all-netns and
// --netns exclude each other. It warns, once each, when no namespace is
// known to be the host's and when processes' namespaces could not be read.
func (e *Env) every(what string, fn func(v *netscope.Visit, fs sysctl.FS) error) ([]netscope.Visit, netns.Listing, error) {
	if e.Kernel.Target() != nil {
		return nil, netns.Listing{}, usagef("--all-netns and --netns exclude each other")
	}
	visits, l, err := netscope.Every(e.ProcRoot(), netns.DefaultRunDir, fn)
	if err != nil {
		return nil, l, fmt.Errorf("%s: %w", what, err)
	}
	others, other := l.Unreadable, ""
	if l.HostErr != nil {
		hint := ""
		if errors.Is(l.HostErr, os.ErrPermission) { // counted in Unreadable
			hint, others, other = unreadableHint(), others-1, "other "
		}
		fmt.Fprintf(e.Stderr, "tcpka: %s: %s%s; no namespace is labelled [host]\n", what, oneLine(l.HostErr.Error()), hint)
	}
	if others > 0 {
		fmt.Fprintf(e.Stderr, "tcpka: %s: cannot read the network namespace of %d %s%s: permission denied%s: %s\n",
			what, others, other, verb(others, "process", "processes"), unreadableHint(),
			verb(others, "its namespace may be missing here", "their namespaces may be missing here"))
	}
	return visits, l, nil
}

// unreadableHint says why /proc/PID/ns/net of another process is refused:
// it takes root, and root needs CAP_SYS_PTRACE for a process that holds
// capabilities tcpka lacks (a container that drops it).
func unreadableHint() string {
	switch {
	case os.Geteuid() != 0:
		return " (needs root)"
	case !caps.Has(caps.SysPtrace):
		return " (needs CAP_SYS_PTRACE)"
	}
	return ""
}

// rootHint is the advice for namespaces that could not be entered.
func rootHint() string {
	if os.Geteuid() != 0 {
		return ": run as root to read them all"
	}
	return ""
}

// failedVisit: the namespace could not be read or changed. One that went
// away since it was listed (its last process exited) did not fail: there
// is nothing left to read or change.
func failedVisit(v *netscope.Visit) bool { return v.Err != nil && !v.Gone }

// failedLabels names the visits that failed, for the closing line.
func failedLabels(visits []netscope.Visit, failed func(*netscope.Visit) bool) (n int, labels string) {
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
	HostNetns string `json:"host_netns,omitempty"`
	// HostError: why no namespace is the host's (PID 1's unreadable).
	HostError string `json:"host_error,omitempty"`
	// UnreadableProcesses: processes whose namespace could not be read,
	// so the list may lack namespaces only they are in.
	UnreadableProcesses int              `json:"unreadable_processes"`
	Namespaces          []showAllRowJSON `json:"namespaces"`
}

func showAllNetns(env *Env, asJSON bool) error {
	vals := map[*netscope.Visit]keepalive.Settings{}
	visits, l, err := env.every("show", func(v *netscope.Visit, fs sysctl.FS) error {
		s, err := fs.Read()
		vals[v] = s
		return err
	})
	if err != nil {
		return err
	}
	var host *netscope.Visit // the host's namespace, when it was read
	hostID := ""
	for i := range visits {
		if visits[i].Host {
			hostID = visits[i].ID()
			if visits[i].Err == nil {
				host = &visits[i]
			}
		}
	}
	differs := func(v *netscope.Visit) bool { return host != nil && !v.Host && vals[v] != vals[host] }
	if asJSON {
		out := showAllJSONOut{HostNetns: hostID, UnreadableProcesses: l.Unreadable, Namespaces: []showAllRowJSON{}}
		if l.HostErr != nil {
			out.HostError = oneLine(l.HostErr.Error())
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
		if err := writeJSON(env.Stdout, out); err != nil {
			return err
		}
		// A namespace that could not be read: what it holds is not known.
		if failed, _ := failedLabels(visits, failedVisit); failed > 0 {
			fmt.Fprintf(env.Stderr, "tcpka: show: %d of %d network %s could not be read (see their error)%s\n", failed, len(visits), plural(len(visits), "namespace"), rootHint())
			return exitCode(exitUnknown)
		}
		return nil
	}
	tw := tabwriter.NewWriter(env.Stdout, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "NETNS\tNAME\tPROCESSES\tTIME\tINTVL\tPROBES\tDETECTION\tNOTE")
	defaults, differing, failed, gone := 0, 0, 0, 0
	for i := range visits {
		v := &visits[i]
		name := "-"
		if len(v.Names) > 0 {
			name = strings.Join(v.Names, ",")
		}
		hostNote := ""
		if v.Host {
			hostNote = "host, "
		}
		if v.Gone {
			gone++
			fmt.Fprintf(tw, "%s\t%s\t%s\t-\t-\t-\t-\t%sgone since it was listed\n", v.ID(), name, v.ProcsCell(), hostNote)
			continue
		}
		if v.Err != nil {
			failed++
			fmt.Fprintf(tw, "%s\t%s\t%s\t-\t-\t-\t-\t%scannot read: %s\n", v.ID(), name, v.ProcsCell(), hostNote, oneLine(v.Err.Error()))
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
			keepalive.Time.Format(s.Time), keepalive.Intvl.Format(s.Intvl),
			keepalive.Probes.Format(s.Probes), human.Seconds(detect.Idle(s)), note)
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	fmt.Fprintln(env.Stdout, showAllSummary(len(visits), failed, gone, defaults, differing, l, host != nil, hostID != ""))
	if failed > 0 {
		fmt.Fprintf(env.Stderr, "tcpka: show: %d of %d network %s could not be read (see NOTE)%s\n", failed, len(visits), plural(len(visits), "namespace"), rootHint())
		return exitCode(exitUnknown) // what they hold is not known
	}
	return nil
}

// showAllSummary is the closing line of show --all-netns. It claims only
// what was read: how many namespaces could not be, that more may exist
// where processes' namespaces were unreadable, and no comparison with a
// host whose namespace is unknown or unread.
func showAllSummary(total, failed, gone, defaults, differing int, l netns.Listing, hostRead, hostFound bool) string {
	var b strings.Builder
	if l.Unreadable > 0 {
		b.WriteString("at least ")
	}
	fmt.Fprintf(&b, "%d network %s", total, plural(total, "namespace"))
	read := total - failed - gone
	if read < total {
		fmt.Fprintf(&b, ", %d read", read)
		if failed > 0 {
			fmt.Fprintf(&b, ", %d could not be read (see NOTE)", failed)
		}
		if gone > 0 {
			fmt.Fprintf(&b, ", %d gone since listed", gone)
		}
	}
	if read == 0 {
		return b.String()
	}
	fmt.Fprintf(&b, ": %d with the kernel defaults (dead peer noticed after %s)", defaults, human.Seconds(detect.Idle(keepalive.KernelDefaults)))
	switch {
	case hostRead:
		fmt.Fprintf(&b, ", %d %s from the host", differing, verb(differing, "differs", "differ"))
	case hostFound:
		b.WriteString(", none compared with the host (its values could not be read)")
	default:
		b.WriteString(", none compared with the host (PID 1's network namespace could not be read)")
	}
	return b.String()
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
	results := map[*netscope.Visit]sysctl.Result{}
	var visits []netscope.Visit
	err := env.locked("apply", f.dryRun, func() (err error) {
		visits, _, err = env.every("apply", func(v *netscope.Visit, fs sysctl.FS) error {
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
				b, a := newSettingsJSON(res.Before), newSettingsJSON(p.Applied(res.Before))
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
				printChanges(w, detect.Net{}, p.Settings, sysctl.SetKeys(p.Settings), res, p.Applied(res.Before))
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
		gone := len(visits) - len(slices.DeleteFunc(slices.Clone(visits), func(v netscope.Visit) bool { return v.Gone }))
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
	vals := map[*netscope.Visit]keepalive.Settings{}
	visits, _, err := env.every("check", func(v *netscope.Visit, fs sysctl.FS) error {
		s, err := fs.Read()
		vals[v] = s
		return err
	})
	if err != nil {
		return err
	}
	drifted := func(v *netscope.Visit) bool { return v.Err == nil && len(sysctl.Drift(p.Settings, vals[v])) > 0 }
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
					ds = append(ds, fmt.Sprintf("%s %s (profile %s)", c.Key.Sysctl, c.Key.Format(c.Old), c.Key.Format(c.New)))
				}
				fmt.Fprintf(w, "%s: DRIFT: %s\n", v.Label(), strings.Join(ds, ", "))
			default:
				fmt.Fprintf(w, "%s: ok, dead peer detected after %s\n", v.Label(), human.Seconds(detect.Idle(vals[v])))
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
	return netscope.IdentityHere()
}

// ---- revert --all-netns

type revertAllRowJSON struct {
	nsJSON
	Reverted        bool         `json:"reverted"`
	NothingToRevert bool         `json:"nothing_to_revert"`
	Profile         string       `json:"profile,omitempty"`
	Changes         []changeJSON `json:"changes"`
}

// unreachedJSON is a revert record whose namespace was not reached.
type unreachedJSON struct {
	Record string `json:"record"`
	// Netns and Cookie: the identity the record names.
	Netns   string `json:"netns,omitempty"`
	Cookie  uint64 `json:"cookie,omitempty"`
	Profile string `json:"profile"`
	// Gone: no namespace has its identity any more (a dry run; a real run
	// drops such records first).
	Gone bool `json:"gone"`
}

type revertAllJSONOut struct {
	DryRun     bool               `json:"dry_run"`
	Namespaces []revertAllRowJSON `json:"namespaces"`
	Failed     []string           `json:"failed"`
	Unreached  []unreachedJSON    `json:"unreached_records"`
}

// revertOutcome is what revert found and did in one namespace.
type revertOutcome struct {
	rec    sysctl.RevertRecord
	res    sysctl.Result
	record bool // the namespace had a record
}

// unreached is a record no visited namespace matched.
type unreached struct {
	name string
	rec  sysctl.RevertRecord
	gone bool
}

func revertAllNetns(env *Env, f *revertFlags) error {
	if env.Kernel.Target() != nil {
		return usagef("--all-netns and --netns exclude each other")
	}
	if !env.Kernel.RealProc() {
		return usagef("--all-netns needs --proc-root /proc: revert records name each namespace by an identity only this machine's /proc gives")
	}
	outcomes := map[*netscope.Visit]*revertOutcome{}
	var visits []netscope.Visit
	var left []unreached
	var badRecords error // records that could not be read
	err := env.locked("revert", f.dryRun, func() (err error) {
		if pid := env.State.Leased("all"); pid != 0 {
			return fmt.Errorf("revert: %s keeps a profile applied in every network namespace and would undo the revert: stop it first (systemctl stop tcpka-watch), then run tcpka revert --all-netns", watchName(pid))
		}
		d, err := env.State.OpenDir()
		if errors.Is(err, os.ErrNotExist) {
			d = nil // no record anywhere
		} else if err != nil {
			return fmt.Errorf("revert: %w", err)
		} else {
			defer d.Close()
		}
		reached := map[string]bool{}
		visits, _, err = env.every("revert", func(v *netscope.Visit, fs sysctl.FS) error {
			o := &revertOutcome{}
			outcomes[v] = o
			if d == nil {
				return nil
			}
			id := env.identityHere()
			var err error
			o.rec, o.res, err = revertHere(env.State, d, fs, id, f.dryRun)
			if errors.Is(err, sysctl.ErrNothingToRevert) {
				return nil
			}
			o.record = true
			reached[sysctl.RevertName(id)] = true
			return err
		})
		if err != nil || d == nil {
			return err
		}
		var recs map[string]sysctl.RevertRecord
		recs, badRecords = sysctl.RevertRecords(d)
		var alive func(sysctl.NSID) bool
		for _, name := range slices.Sorted(maps.Keys(recs)) {
			if reached[name] {
				continue
			}
			if alive == nil {
				alive = netscope.Alive(env.ProcRoot(), netns.DefaultRunDir)
			}
			left = append(left, unreached{name: name, rec: recs[name], gone: !alive(recs[name].NS)})
		}
		return nil
	})
	if err != nil {
		return err
	}
	nfailed, failed := failedLabels(visits, failedVisit)
	var unreachedNames []string // records kept whose namespace may live
	for _, u := range left {
		if !u.gone {
			unreachedNames = append(unreachedNames, u.name)
		}
	}
	nunreached := len(unreachedNames)
	if f.json {
		out := revertAllJSONOut{DryRun: f.dryRun, Namespaces: []revertAllRowJSON{}, Failed: []string{}, Unreached: []unreachedJSON{}}
		for i := range visits {
			v := &visits[i]
			o := outcomes[v]
			if o == nil {
				o = &revertOutcome{}
			}
			j := revertAllRowJSON{nsJSON: visitJSON(v), Reverted: o.record && v.Err == nil && !f.dryRun,
				NothingToRevert: !o.record && v.Err == nil && outcomes[v] != nil, Profile: o.rec.Profile, Changes: changesJSON(o.res.Changes)}
			if failedVisit(v) {
				out.Failed = append(out.Failed, v.ID())
			}
			out.Namespaces = append(out.Namespaces, j)
		}
		for _, u := range left {
			j := unreachedJSON{Record: u.name, Cookie: u.rec.NS.Cookie, Profile: u.rec.Profile, Gone: u.gone}
			if u.rec.NS.Inode != 0 {
				j.Netns = netns.FormatID(u.rec.NS.Inode)
			}
			out.Unreached = append(out.Unreached, j)
		}
		if err := writeJSON(env.Stdout, out); err != nil {
			return err
		}
	} else {
		w := env.Stdout
		reverted, nothing, gone := 0, 0, 0
		for i := range visits {
			v := &visits[i]
			o := outcomes[v]
			if o == nil {
				o = &revertOutcome{}
			}
			fmt.Fprintln(w, v.Label())
			printUndone(w, o.res, f.dryRun)
			if o.rec.Keys != nil { // its record was read
				fmt.Fprintf(w, "  values from before profile %s was applied (%s)\n", o.rec.Profile, o.rec.At.Format("2006-01-02 15:04:05 UTC"))
				if o.res.Before != (keepalive.Settings{}) {
					printChanges(w, detect.Net{}, o.rec.Before, o.rec.Keys, o.res, o.rec.Before)
				}
			}
			n := len(o.res.Changes)
			switch {
			case v.Gone:
				gone++
				fmt.Fprintln(w, "  gone: it went away since it was listed")
			case v.Err != nil:
				fmt.Fprintf(w, "  FAILED: %s\n", oneLine(v.Err.Error()))
			case !o.record:
				nothing++
				fmt.Fprintln(w, "  nothing to revert")
			case f.dryRun:
				reverted++
				fmt.Fprintf(w, "  would restore %d %s and forget the record\n", n, plural(n, "key"))
			case n == 0:
				reverted++
				fmt.Fprintln(w, "  reverted: the kernel already held these values")
			default:
				reverted++
				fmt.Fprintf(w, "  reverted: %d %s restored\n", n, plural(n, "key"))
			}
		}
		for _, u := range left {
			fmt.Fprintf(w, "revert record %s (profile %s, applied %s)\n", u.name, u.rec.Profile, u.rec.At.Format("2006-01-02 15:04:05 UTC"))
			if u.gone {
				fmt.Fprintln(w, "  gone: its network namespace no longer exists; the next revert or apply drops the record")
			} else {
				fmt.Fprintf(w, "  NOT REACHED: no network namespace found has its identity (%s); the record is kept\n", nsIdentity(u.rec.NS))
			}
		}
		did := "reverted"
		if f.dryRun {
			did = "would be reverted (dry run: nothing written)"
		}
		fmt.Fprintf(w, "%d of %d network %s %s, %d had nothing to revert, %d failed", reverted, len(visits), plural(len(visits), "namespace"), did, nothing, nfailed)
		if nunreached > 0 {
			fmt.Fprintf(w, ", %d revert %s not reached", nunreached, plural(nunreached, "record"))
		}
		fmt.Fprintln(w)
	}
	if nfailed > 0 {
		fmt.Fprintf(env.Stderr, "tcpka: revert: failed in %d of %d network %s: %s\n", nfailed, len(visits), plural(len(visits), "namespace"), failed)
	}
	if nunreached > 0 {
		fmt.Fprintf(env.Stderr, "tcpka: revert: %d revert %s %s a network namespace that was not reached: %s\n",
			nunreached, plural(nunreached, "record"), verb(nunreached, "names", "name"), strings.Join(unreachedNames, ", "))
	}
	if badRecords != nil {
		fmt.Fprintf(env.Stderr, "tcpka: revert: %s\n", oneLine(badRecords.Error()))
	}
	if nfailed > 0 || nunreached > 0 || badRecords != nil {
		return exitCode(exitFailure)
	}
	return nil
}

// nsIdentity spells a record's namespace identity for a message.
func nsIdentity(id sysctl.NSID) string {
	var parts []string
	if id.Cookie != 0 {
		parts = append(parts, fmt.Sprintf("cookie %d", id.Cookie))
	}
	if id.Inode != 0 {
		parts = append(parts, netns.FormatID(id.Inode))
	}
	if len(parts) == 0 {
		return "none"
	}
	return strings.Join(parts, ", ")
}
