package nsreport

// What show, apply, check and revert print for every network namespace
// (--all-netns): a line or row per namespace and a closing count.

import (
	"errors"
	"fmt"
	"io"
	"os"
	"strings"
	"text/tabwriter"

	"github.com/tcpka/tcpka/internal/detect"
	"github.com/tcpka/tcpka/internal/human"
	"github.com/tcpka/tcpka/internal/jsonout"
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
	// PodNamespace and Pod: the Kubernetes pod the namespace belongs to.
	PodNamespace string `json:"pod_namespace,omitempty"`
	Pod          string `json:"pod,omitempty"`
	Error        string `json:"error,omitempty"`
}

func memberJSON(m *netscope.Member) nsJSON {
	j := nsJSON{Netns: m.ID, Inode: m.Identity.Inode, Names: NonNil(m.Names()), Processes: []processJSON{}, ProcessCount: m.ProcessCount(), Host: m.Host()}
	if m.Listed != nil {
		j.Inode = m.Listed.Ino
	}
	for _, p := range m.Procs {
		j.Processes = append(j.Processes, processJSON{Pid: p.Pid, Command: p.Command})
	}
	if m.Pod != nil {
		j.PodNamespace, j.Pod = m.Pod.Namespace, m.Pod.Name
	}
	if m.Err != nil {
		j.Error = human.OneLine(m.Err.Error())
	}
	return j
}

// warnListing says, once each, when no namespace is known to be the
// host's and when processes' namespaces could not be read.
func WarnListing(w io.Writer, what string, l netns.Listing) {
	others, other := l.Unreadable, ""
	if l.HostErr != nil {
		hint := ""
		if errors.Is(l.HostErr, os.ErrPermission) { // counted in Unreadable
			hint, others, other = netscope.Unreadable(), others-1, "other "
		}
		fmt.Fprintf(w, "tcpka: %s: %s%s; no namespace is labelled [host]\n", what, human.OneLine(l.HostErr.Error()), hint)
	}
	if others > 0 {
		fmt.Fprintf(w, "tcpka: %s: cannot read the network namespace of %d %s%s: permission denied%s: %s\n",
			what, others, other, human.Verb(others, "process", "processes"), netscope.Unreadable(),
			human.Verb(others, "its namespace may be missing here", "their namespaces may be missing here"))
	}
}

// rootHint is the advice for namespaces that could not be entered.
func rootHint() string {
	if os.Geteuid() != 0 {
		return ": run as root to read them all"
	}
	return ""
}

// failedLabels names the members that failed, for the closing line.
func failedLabels(v netscope.Visits) (n int, labels string) {
	var ls []string
	for _, m := range v.Failed() {
		ls = append(ls, m.Label())
	}
	return len(ls), strings.Join(ls, "; ")
}

// ---- show --all-netns

type showAllRowJSON struct {
	nsJSON
	*jsonout.Settings
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

// ShowAll prints show --all-netns.
func ShowAll(o Out, rs []netscope.Reading, v netscope.Visits) (Outcome, error) {
	WarnListing(o.Err, "show", v.Listing)
	var host *netscope.Reading // the host's namespace, when it was read
	hostID := ""
	for i := range rs {
		if rs[i].Host() {
			hostID = rs[i].ID
			if rs[i].Err == nil {
				host = &rs[i]
			}
		}
	}
	differs := func(r *netscope.Reading) bool { return host != nil && !r.Host() && r.Values != host.Values }
	failed, _ := failedLabels(v)
	if o.JSON {
		out := showAllJSONOut{HostNetns: hostID, UnreadableProcesses: v.Listing.Unreadable, Namespaces: []showAllRowJSON{}}
		if v.Listing.HostErr != nil {
			out.HostError = human.OneLine(v.Listing.HostErr.Error())
		}
		for i := range rs {
			r := &rs[i]
			j := showAllRowJSON{nsJSON: memberJSON(r.Member)}
			if r.Err == nil {
				s := jsonout.Of(r.Values, detect.Net{})
				j.Settings = &s
				j.KernelDefaults = IsKernelDefault(r.Values)
				j.DiffersFromHost = differs(r)
			}
			out.Namespaces = append(out.Namespaces, j)
		}
		if err := jsonout.Write(o.W, out); err != nil {
			return OK, err
		}
		if failed > 0 { // what they hold is not known
			fmt.Fprintf(o.Err, "tcpka: show: %d of %d network %s could not be read (see their error)%s\n", failed, len(rs), human.Plural(len(rs), "namespace"), rootHint())
			return Unknown, nil
		}
		return OK, nil
	}
	tw := tabwriter.NewWriter(o.W, 0, 0, 2, ' ', 0)
	// A POD column where a namespace is a Kubernetes pod's: the kubelet's
	// names, namespace/name.
	pods := false
	for i := range rs {
		pods = pods || rs[i].Pod != nil
	}
	podHead := ""
	if pods {
		podHead = "POD\t"
	}
	fmt.Fprintln(tw, "NETNS\tNAME\t"+podHead+"PROCESSES\tTIME\tINTVL\tPROBES\tDETECTION\tNOTE")
	defaults, differing, gone := 0, 0, 0
	for i := range rs {
		r := &rs[i]
		name := "-"
		if names := r.Names(); len(names) > 0 {
			name = strings.Join(names, ",")
		}
		if pods {
			pod := "-"
			if r.Pod != nil {
				pod = r.Pod.String()
			}
			name += "\t" + pod
		}
		hostNote := ""
		if r.Host() {
			hostNote = "host, "
		}
		if r.Gone {
			gone++
			fmt.Fprintf(tw, "%s\t%s\t%s\t-\t-\t-\t-\t%sgone since it was listed\n", r.ID, name, r.ProcsCell(), hostNote)
			continue
		}
		if r.Err != nil {
			fmt.Fprintf(tw, "%s\t%s\t%s\t-\t-\t-\t-\t%scannot read: %s\n", r.ID, name, r.ProcsCell(), hostNote, human.OneLine(r.Err.Error()))
			continue
		}
		var notes []string
		if r.Host() {
			notes = append(notes, "host")
		}
		if IsKernelDefault(r.Values) {
			defaults++
			notes = append(notes, "defaults")
		}
		if differs(r) {
			differing++
			notes = append(notes, "differs from host")
		}
		note := strings.Join(notes, ", ")
		if note == "" {
			note = "-"
		}
		s := r.Values
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n", r.ID, name, r.ProcsCell(),
			keepalive.Time.Format(s.Time), keepalive.Intvl.Format(s.Intvl),
			keepalive.Probes.Format(s.Probes), human.Duration(detect.Idle(s)), note)
	}
	if err := tw.Flush(); err != nil {
		return OK, err
	}
	fmt.Fprintln(o.W, showAllSummary(len(rs), failed, gone, defaults, differing, v.Listing, host != nil, hostID != ""))
	if failed > 0 {
		fmt.Fprintf(o.Err, "tcpka: show: %d of %d network %s could not be read (see NOTE)%s\n", failed, len(rs), human.Plural(len(rs), "namespace"), rootHint())
		return Unknown, nil // what they hold is not known
	}
	return OK, nil
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
	fmt.Fprintf(&b, "%d network %s", total, human.Plural(total, "namespace"))
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
	fmt.Fprintf(&b, ": %d with the kernel defaults (a dead peer noticed after %s)", defaults, human.Duration(detect.Idle(keepalive.KernelDefaults)))
	switch {
	case hostRead:
		fmt.Fprintf(&b, ",\n%d %s from the host", differing, human.Verb(differing, "differs", "differ"))
	case hostFound:
		b.WriteString(",\nnone compared with the host (its values could not be read)")
	default:
		b.WriteString(",\nnone compared with the host (PID 1's network namespace could not be read)")
	}
	return b.String()
}

// ---- apply --all-netns

type applyAllRowJSON struct {
	nsJSON
	Applied bool              `json:"applied"`
	Changes []ChangeJSON      `json:"changes"`
	Before  *jsonout.Settings `json:"before,omitempty"`
	After   *jsonout.Settings `json:"after,omitempty"`
	Rearm   *RearmJSON        `json:"rearm,omitempty"`
}

type applyAllJSONOut struct {
	Profile    string            `json:"profile"`
	Origin     string            `json:"origin"`
	DryRun     bool              `json:"dry_run"`
	Namespaces []applyAllRowJSON `json:"namespaces"`
	Failed     []string          `json:"failed"`
}

// ApplyAll prints apply --all-netns.
func ApplyAll(o Out, p *profile.Profile, dryRun bool, outs []netscope.Outcome, v netscope.Visits, rv *Rearm) (Outcome, error) {
	WarnListing(o.Err, "apply", v.Listing)
	nfailed, failed := failedLabels(v)
	if o.JSON {
		out := applyAllJSONOut{Profile: p.Name, Origin: human.Safe(p.Origin), DryRun: dryRun, Namespaces: []applyAllRowJSON{}, Failed: []string{}}
		for _, o := range outs {
			j := applyAllRowJSON{nsJSON: memberJSON(o.Member), Applied: o.Written, Changes: ChangesJSON(o.Changes)}
			if o.Err == nil {
				b, a := jsonout.Of(o.Before, detect.Net{}), jsonout.Of(p.Applied(o.Before), detect.Net{})
				j.Before, j.After = &b, &a
			}
			if x := rv.visit(o.ID); x != nil {
				j.Rearm = rearmJSON(*x, rv.DryRun || !rv.Asked)
			}
			if o.Failed() {
				out.Failed = append(out.Failed, o.ID)
			}
			out.Namespaces = append(out.Namespaces, j)
		}
		if err := jsonout.Write(o.W, out); err != nil {
			return OK, err
		}
	} else {
		w := o.W
		fmt.Fprintf(w, "profile %s (%s) in %d network %s\n", p.Name, human.Safe(p.Origin), len(outs), human.Plural(len(outs), "namespace"))
		changed, gone := 0, 0
		for _, o := range outs {
			fmt.Fprintln(w, o.Label())
			PrintUndone(w, o.Result, dryRun)
			if o.Err == nil && o.Before != (keepalive.Settings{}) {
				PrintChanges(w, detect.Net{}, p.Settings, sysctl.SetKeys(p.Settings), o.Result, p.Applied(o.Before))
			}
			n := len(o.Changes)
			switch {
			case o.Gone:
				gone++
				fmt.Fprintln(w, "  gone: it went away since it was listed")
			case o.Err != nil:
				fmt.Fprintf(w, "  FAILED: %s\n", human.OneLine(o.Err.Error()))
			case n == 0:
				fmt.Fprintln(w, "  already matches")
			case dryRun:
				changed++
				fmt.Fprintf(w, "  would change %d %s\n", n, human.Plural(n, "key"))
			default:
				changed++
				fmt.Fprintf(w, "  applied: %d %s written and read back\n", n, human.Plural(n, "key"))
			}
			rv.print(w, rv.visit(o.ID), "  ")
		}
		did := "changed"
		if dryRun {
			did = "would change (dry run: nothing written)"
		}
		fmt.Fprintf(w, "%d of %d network %s %s, %d already matched, %d failed\n",
			changed, len(outs), human.Plural(len(outs), "namespace"), did, len(outs)-changed-nfailed-gone, nfailed)
	}
	if nfailed > 0 {
		fmt.Fprintf(o.Err, "tcpka: apply: failed in %d of %d network %s: %s\n", nfailed, len(outs), human.Plural(len(outs), "namespace"), failed)
		return Failed, nil
	}
	if rv.Failed() {
		return Failed, nil
	}
	return OK, nil
}

// ---- check --all-netns

type checkAllRowJSON struct {
	nsJSON
	Match  bool              `json:"match"`
	Keys   []CheckKeyJSON    `json:"keys"`
	Kernel *jsonout.Settings `json:"kernel,omitempty"`
}

type checkAllJSONOut struct {
	Profile    string            `json:"profile"`
	Match      bool              `json:"match"`
	Namespaces []checkAllRowJSON `json:"namespaces"`
	Drift      []string          `json:"drift"`
	Failed     []string          `json:"failed"`
}

// CheckAll prints check --all-netns; arg is the profile as the user gave it.
func CheckAll(o Out, p *profile.Profile, arg string, rs []netscope.Reading, v netscope.Visits) (Outcome, error) {
	WarnListing(o.Err, "check", v.Listing)
	drifted := func(r *netscope.Reading) bool { return r.Err == nil && len(sysctl.Drift(p.Settings, r.Values)) > 0 }
	nfailed, failed := failedLabels(v)
	var driftLabels []string
	for i := range rs {
		if drifted(&rs[i]) {
			driftLabels = append(driftLabels, rs[i].Label())
		}
	}
	ndrift := len(driftLabels)
	if o.JSON {
		out := checkAllJSONOut{Profile: p.Name, Match: nfailed == 0 && ndrift == 0, Namespaces: []checkAllRowJSON{}, Drift: []string{}, Failed: []string{}}
		for i := range rs {
			r := &rs[i]
			j := checkAllRowJSON{nsJSON: memberJSON(r.Member), Keys: []CheckKeyJSON{}}
			switch {
			case r.Failed():
				out.Failed = append(out.Failed, r.ID)
			case r.Gone:
			default:
				s := jsonout.Of(r.Values, detect.Net{})
				j.Kernel = &s
				j.Match = !drifted(r)
				j.Keys = CheckKeys(p, r.Values)
				if !j.Match {
					out.Drift = append(out.Drift, r.ID)
				}
			}
			out.Namespaces = append(out.Namespaces, j)
		}
		if err := jsonout.Write(o.W, out); err != nil {
			return OK, err
		}
	} else {
		w := o.W
		for i := range rs {
			r := &rs[i]
			switch {
			case r.Gone:
				fmt.Fprintf(w, "%s: gone: it went away since it was listed\n", r.Label())
			case r.Err != nil:
				fmt.Fprintf(w, "%s: cannot read: %s\n", r.Label(), human.OneLine(r.Err.Error()))
			case drifted(r):
				var ds []string
				for _, c := range sysctl.Drift(p.Settings, r.Values) {
					ds = append(ds, fmt.Sprintf("%s %s (profile %s)", c.Key.Sysctl, c.Key.Format(c.Old), c.Key.Format(c.New)))
				}
				fmt.Fprintf(w, "%s: DRIFT: %s\n", r.Label(), strings.Join(ds, ", "))
			default:
				fmt.Fprintf(w, "%s: ok, dead peer detected after %s\n", r.Label(), human.Seconds(detect.Idle(r.Values)))
			}
		}
		if ndrift == 0 && nfailed == 0 {
			fmt.Fprintf(w, "all %d network %s match profile %s\n", len(rs), human.Plural(len(rs), "namespace"), p.Name)
		} else if ndrift > 0 {
			fmt.Fprintf(w, "drift in %d of %d network %s: %s (fix: sudo tcpka apply %s --all-netns)\n", ndrift, len(rs), human.Plural(len(rs), "namespace"), strings.Join(driftLabels, "; "), human.Safe(arg))
		}
	}
	if nfailed > 0 {
		fmt.Fprintf(o.Err, "tcpka: check: could not read %d of %d network %s: %s\n", nfailed, len(rs), human.Plural(len(rs), "namespace"), failed)
	}
	// Drift found anywhere answers the question; otherwise a namespace
	// that could not be read leaves it open.
	switch {
	case ndrift > 0:
		return Failed, nil
	case nfailed > 0:
		return Unknown, nil
	}
	return OK, nil
}

// ---- revert --all-netns

type revertAllRowJSON struct {
	nsJSON
	Reverted        bool         `json:"reverted"`
	NothingToRevert bool         `json:"nothing_to_revert"`
	Profile         string       `json:"profile,omitempty"`
	Changes         []ChangeJSON `json:"changes"`
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

// RevertAll prints revert --all-netns.
func RevertAll(o Out, dryRun bool, rep netscope.RevertReport) (Outcome, error) {
	WarnListing(o.Err, "revert", rep.Visits.Listing)
	nfailed, failed := failedLabels(rep.Visits)
	var unreachedNames []string // records kept whose namespace may live
	for _, u := range rep.Unreached {
		if !u.Gone {
			unreachedNames = append(unreachedNames, u.Name)
		}
	}
	nunreached := len(unreachedNames)
	if o.JSON {
		out := revertAllJSONOut{DryRun: dryRun, Namespaces: []revertAllRowJSON{}, Failed: []string{}, Unreached: []unreachedJSON{}}
		for _, r := range rep.Namespaces {
			j := revertAllRowJSON{nsJSON: memberJSON(r.Member), Reverted: r.Record != nil && r.Err == nil && !dryRun,
				NothingToRevert: r.Record == nil && r.Err == nil, Changes: ChangesJSON(r.Result.Changes)}
			if r.Record != nil {
				j.Profile = r.Record.Profile
			}
			if r.Failed() {
				out.Failed = append(out.Failed, r.ID)
			}
			out.Namespaces = append(out.Namespaces, j)
		}
		for _, u := range rep.Unreached {
			j := unreachedJSON{Record: u.Name, Cookie: u.Record.NS.Cookie, Profile: u.Record.Profile, Gone: u.Gone}
			if u.Record.NS.Inode != 0 {
				j.Netns = netns.FormatID(u.Record.NS.Inode)
			}
			out.Unreached = append(out.Unreached, j)
		}
		if err := jsonout.Write(o.W, out); err != nil {
			return OK, err
		}
	} else {
		w := o.W
		reverted, nothing := 0, 0
		for _, r := range rep.Namespaces {
			fmt.Fprintln(w, r.Label())
			PrintUndone(w, r.Result, dryRun)
			if rec := r.Record; rec != nil {
				fmt.Fprintf(w, "  values from before profile %s was applied (%s)\n", rec.Profile, rec.At.Format("2006-01-02 15:04:05 UTC"))
				if r.Result.Before != (keepalive.Settings{}) {
					PrintChanges(w, detect.Net{}, rec.Before, rec.Keys, r.Result, rec.Before)
				}
			}
			n := len(r.Result.Changes)
			switch {
			case r.Gone:
				fmt.Fprintln(w, "  gone: it went away since it was listed")
			case r.Err != nil:
				fmt.Fprintf(w, "  FAILED: %s\n", human.OneLine(r.Err.Error()))
			case r.Record == nil:
				nothing++
				fmt.Fprintln(w, "  nothing to revert")
			case dryRun:
				reverted++
				fmt.Fprintf(w, "  would restore %d %s and forget the record\n", n, human.Plural(n, "key"))
			case n == 0:
				reverted++
				fmt.Fprintln(w, "  reverted: the kernel already held these values")
			default:
				reverted++
				fmt.Fprintf(w, "  reverted: %d %s restored\n", n, human.Plural(n, "key"))
			}
		}
		for _, u := range rep.Unreached {
			fmt.Fprintf(w, "revert record %s (profile %s, applied %s)\n", u.Name, u.Record.Profile, u.Record.At.Format("2006-01-02 15:04:05 UTC"))
			if u.Gone {
				fmt.Fprintln(w, "  gone: its network namespace no longer exists; the next revert or apply drops the record")
			} else {
				fmt.Fprintf(w, "  NOT REACHED: no network namespace found has its identity (%s); the record is kept\n", nsIdentity(u.Record.NS))
			}
		}
		did := "reverted"
		if dryRun {
			did = "would be reverted (dry run: nothing written)"
		}
		total := len(rep.Namespaces)
		fmt.Fprintf(w, "%d of %d network %s %s, %d had nothing to revert, %d failed", reverted, total, human.Plural(total, "namespace"), did, nothing, nfailed)
		if nunreached > 0 {
			fmt.Fprintf(w, ", %d revert %s not reached", nunreached, human.Plural(nunreached, "record"))
		}
		fmt.Fprintln(w)
	}
	total := len(rep.Namespaces)
	if nfailed > 0 {
		fmt.Fprintf(o.Err, "tcpka: revert: failed in %d of %d network %s: %s\n", nfailed, total, human.Plural(total, "namespace"), failed)
	}
	if nunreached > 0 {
		fmt.Fprintf(o.Err, "tcpka: revert: %d revert %s %s a network namespace that was not reached: %s\n",
			nunreached, human.Plural(nunreached, "record"), human.Verb(nunreached, "names", "name"), strings.Join(unreachedNames, ", "))
	}
	if rep.BadRecords != nil {
		fmt.Fprintf(o.Err, "tcpka: revert: %s\n", human.OneLine(rep.BadRecords.Error()))
	}
	if nfailed > 0 || nunreached > 0 || rep.BadRecords != nil {
		return Failed, nil
	}
	return OK, nil
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
