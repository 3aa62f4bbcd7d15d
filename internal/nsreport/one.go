package nsreport

import (
	"fmt"

	"github.com/tcpka/tcpka/internal/detect"
	"github.com/tcpka/tcpka/internal/human"
	"github.com/tcpka/tcpka/internal/jsonout"
	"github.com/tcpka/tcpka/internal/netscope"
	"github.com/tcpka/tcpka/internal/profile"
	"github.com/tcpka/tcpka/internal/sysctl"
)

// What apply, check and revert print in one network namespace.

type applyJSONOut struct {
	Profile string           `json:"profile"`
	Origin  string           `json:"origin"`
	Netns   string           `json:"netns,omitempty"`
	DryRun  bool             `json:"dry_run"`
	Applied bool             `json:"applied"`
	Changes []ChangeJSON     `json:"changes"`
	Before  jsonout.Settings `json:"before"`
	After   jsonout.Settings `json:"after"`
	// Rearm: the live connections' keepalive timers after the change.
	Rearm *RearmJSON `json:"rearm,omitempty"`
}

// ApplyOne prints apply in one namespace: the keys old -> new, the
// detection times, what the profile sets that apply does not write.
func ApplyOne(o Out, p *profile.Profile, dryRun bool, oc netscope.Outcome, net detect.Net, rv *Rearm) (Outcome, error) {
	res := oc.Result
	after := p.Applied(res.Before)
	if o.JSON {
		out := applyJSONOut{
			Profile: p.Name, Origin: human.Safe(p.Origin), Netns: oc.ID,
			DryRun: dryRun, Applied: res.Written,
			Changes: ChangesJSON(res.Changes),
			Before:  jsonout.Of(res.Before, net), After: jsonout.Of(after, net),
		}
		if v := rv.visit(oc.ID); v != nil {
			out.Rearm = rearmJSON(*v, rv.DryRun || !rv.Asked)
		}
		return rearmOutcome(rv), jsonout.Write(o.W, out)
	}
	PrintUndone(o.W, res, dryRun)
	fmt.Fprintf(o.W, "profile %s (%s)\n", p.Name, human.Safe(p.Origin))
	PrintChanges(o.W, net, p.Settings, sysctl.SetKeys(p.Settings), res, after)
	PrintProfileNotes(o.W, p)
	n := len(res.Changes)
	switch {
	case n == 0:
		fmt.Fprintf(o.W, "nothing to change: the kernel already matches %s\n", p.Name)
	case dryRun:
		fmt.Fprintf(o.W, "dry run: %d %s would change; nothing written\n", n, human.Plural(n, "key"))
	default:
		fmt.Fprintf(o.W, "applied: %d %s written and read back\n", n, human.Plural(n, "key"))
	}
	rv.print(o.W, rv.visit(oc.ID), "")
	return rearmOutcome(rv), nil
}

type checkJSONOut struct {
	Profile string           `json:"profile"`
	Netns   string           `json:"netns,omitempty"`
	Match   bool             `json:"match"`
	Keys    []CheckKeyJSON   `json:"keys"`
	Kernel  jsonout.Settings `json:"kernel"`
	// Interrupted: a transaction a killed tcpka left in this namespace.
	Interrupted *InterruptedJSON `json:"interrupted,omitempty"`
}

// CheckOne prints check in one namespace: each key the profile sets with
// the kernel's value; Failed when any drifted.
func CheckOne(o Out, p *profile.Profile, arg string, r netscope.Reading, net detect.Net, st sysctl.State) (Outcome, error) {
	cur := r.Values
	drift := sysctl.Drift(p.Settings, cur)
	interrupted, ij := Interrupted(st, r.Identity, cur)
	if o.JSON {
		out := checkJSONOut{Profile: p.Name, Netns: r.ID, Match: len(drift) == 0, Kernel: jsonout.Of(cur, net), Keys: CheckKeys(p, cur), Interrupted: ij}
		if err := jsonout.Write(o.W, out); err != nil {
			return OK, err
		}
	} else {
		w := o.W
		keys := sysctl.SetKeys(p.Settings)
		for _, k := range keys {
			n := k.Get(p.Settings)
			mark := "ok"
			if n != k.Get(cur) {
				mark = "DRIFT: profile " + k.Format(n)
			}
			fmt.Fprintf(w, "%s  %s\n", KeyColumn(k, k.Get(cur)), mark)
		}
		if interrupted != "" {
			fmt.Fprintln(w, interrupted)
		}
		if len(drift) == 0 {
			fmt.Fprintf(w, "kernel matches profile %s: dead peer detected after %s\n", p.Name, human.Seconds(detect.Idle(cur)))
		} else {
			fmt.Fprintf(w, "drift: %d of %d %s differ from profile %s (fix: sudo tcpka apply %s)\n",
				len(drift), len(keys), human.Plural(len(keys), "key"), p.Name, human.Safe(arg))
		}
	}
	if len(drift) > 0 {
		return Failed, nil
	}
	return OK, nil
}

type revertJSONOut struct {
	Reverted bool         `json:"reverted"`
	DryRun   bool         `json:"dry_run"`
	Profile  string       `json:"profile,omitempty"`
	Changes  []ChangeJSON `json:"changes"`
}

// RevertOne prints revert in one namespace: the values restored, or that
// there was nothing to revert.
func RevertOne(o Out, dryRun bool, r netscope.Reverted, net detect.Net) (Outcome, error) {
	if r.Record == nil {
		if o.JSON {
			return OK, jsonout.Write(o.W, revertJSONOut{Changes: []ChangeJSON{}, DryRun: dryRun})
		}
		// A killed apply may have left a journal and no record yet:
		// revert undid it, and says so before saying there was no record.
		PrintUndone(o.W, r.Result, dryRun)
		fmt.Fprintln(o.W, "nothing to revert: tcpka has changed nothing in this network namespace since boot or the last revert")
		return OK, nil
	}
	rec, res := r.Record, r.Result
	if o.JSON {
		return OK, jsonout.Write(o.W, revertJSONOut{Reverted: !dryRun, DryRun: dryRun, Profile: rec.Profile, Changes: ChangesJSON(res.Changes)})
	}
	PrintUndone(o.W, res, dryRun)
	fmt.Fprintf(o.W, "values from before profile %s was applied (%s)\n", rec.Profile, rec.At.Format("2006-01-02 15:04:05 UTC"))
	PrintChanges(o.W, net, rec.Before, rec.Keys, res, rec.Before)
	n := len(res.Changes)
	switch {
	case dryRun:
		fmt.Fprintf(o.W, "dry run: %d %s would change; nothing written\n", n, human.Plural(n, "key"))
	case n == 0:
		fmt.Fprintln(o.W, "reverted: the kernel already held these values")
	default:
		fmt.Fprintf(o.W, "reverted: %d %s restored\n", n, human.Plural(n, "key"))
	}
	return OK, nil
}

// rearmOutcome is Failed when a re-arm pass failed.
func rearmOutcome(rv *Rearm) Outcome {
	if rv.Failed() {
		return Failed
	}
	return OK
}
