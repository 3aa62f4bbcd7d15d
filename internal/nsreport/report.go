package nsreport

// What show, apply, check and revert share: aligned key columns, the
// change list, a transaction a killed tcpka left, --json.

import (
	"fmt"
	"io"
	"time"

	"github.com/tcpka/tcpka/internal/detect"
	"github.com/tcpka/tcpka/internal/human"
	"github.com/tcpka/tcpka/internal/keepalive"
	"github.com/tcpka/tcpka/internal/profile"
	"github.com/tcpka/tcpka/internal/sysctl"
)

// Out is where a report goes: the command's stdout and stderr, and
// whether it is --json.
type Out struct {
	W, Err io.Writer
	JSON   bool
}

// Outcome is what a report found, for the exit status: everything read
// and done, something failed or drifted, or something could not be read.
type Outcome int

const (
	OK Outcome = iota
	Failed
	Unknown
)

// keyColumn prints "tcp_keepalive_time     7200 s" aligned for all keys.
func KeyColumn(k *keepalive.Key, v int) string {
	unit := "  "
	if k.Suffix() != "" {
		unit = " " + k.Suffix()
	}
	return fmt.Sprintf("%-21s%6d%s", k.Sysctl, v, unit)
}

// printUndone says that a transaction a killed tcpka left was undone (or,
// on a dry run, will be) before this one.
func PrintUndone(w io.Writer, res sysctl.Result, dryRun bool) {
	if res.Undone == nil {
		return
	}
	verb := "undone first"
	if dryRun {
		verb = "would be undone first"
	}
	fmt.Fprintf(w, "interrupted: the %s was killed and left %s: %s, back to %s\n",
		res.Undone.Describe(), res.Left, verb, res.Undone.Before.Triple())
}

// changeJSON is one key's change in --json output.
type ChangeJSON struct {
	Key string `json:"key"`
	Old int    `json:"old"`
	New int    `json:"new"`
}

func ChangesJSON(cs []sysctl.Change) []ChangeJSON {
	out := []ChangeJSON{}
	for _, c := range cs {
		out = append(out, ChangeJSON{Key: c.Key.Dotted(), Old: c.Old, New: c.New})
	}
	return out
}

// printChanges prints each key the namespace has old -> new, then the
// detection time of an idle connection and, when tcp_retries2 changes,
// of one with data in flight.
func PrintChanges(w io.Writer, net detect.Net, want keepalive.Settings, keys []sysctl.Key, res sysctl.Result, after keepalive.Settings) {
	set := map[sysctl.Key]bool{}
	for _, k := range keys {
		set[k] = true
	}
	for _, k := range res.Present {
		n, old := k.Get(want), k.Get(res.Before)
		switch {
		case !set[k]:
			fmt.Fprintf(w, "  %s  (not set by the profile)\n", KeyColumn(k, old))
		case n == old:
			fmt.Fprintf(w, "  %s  (unchanged)\n", KeyColumn(k, old))
		default:
			fmt.Fprintf(w, "  %s -> %s\n", KeyColumn(k, old), k.Format(n))
		}
	}
	arrow := func(what string, before, now int) {
		if before == now {
			fmt.Fprintf(w, "  %s %s (unchanged)\n", what, human.Seconds(before))
		} else {
			fmt.Fprintf(w, "  %s %s -> %s\n", what, human.Seconds(before), human.Seconds(now))
		}
	}
	arrow("dead-peer detection", detect.Idle(res.Before), detect.Idle(after))
	if b, a := res.Before.Retries2, after.Retries2; b != a && b > 0 && a > 0 {
		arrow("with data in flight", net.Data(res.Before), net.Data(after))
	}
}

// printProfileNotes says what a profile sets that apply does not write,
// and what it costs.
func PrintProfileNotes(w io.Writer, p *profile.Profile) {
	if u := p.Settings.UserTimeout; u > 0 {
		fmt.Fprintf(w, "note: user_timeout %s is TCP_USER_TIMEOUT, a socket option: tcpka enforce sets it on a process's or a cgroup's sockets; no sysctl does\n", human.Duration(int(u/time.Second)))
	}
	for _, m := range p.Warnings {
		fmt.Fprintf(w, "warning: %s\n", m)
	}
}

// interruptedJSON is a transaction a killed tcpka left (show and check).
type InterruptedJSON struct {
	Op      string `json:"op"`
	Profile string `json:"profile,omitempty"`
	PID     int    `json:"pid"`
	At      string `json:"at"`
	Left    string `json:"left"`
	Running bool   `json:"running"`
}

// Interrupted reads the journal a killed transaction left in the
// namespace id: the line to print ("" when there is none) and its JSON.
func Interrupted(st sysctl.State, id sysctl.NSID, now keepalive.Settings) (string, *InterruptedJSON) {
	j, running := st.Interrupted(id)
	if j == nil {
		return "", nil
	}
	out := &InterruptedJSON{Op: j.Op, Profile: j.Profile, PID: j.PID, At: j.At.Format(time.RFC3339), Left: j.Left(now), Running: running}
	if running {
		return fmt.Sprintf("in progress: the %s is writing these keys now", j.Describe()), out
	}
	return fmt.Sprintf("interrupted: the %s was killed and left %s (%s); the next tcpka apply or revert here undoes it, back to %s",
		j.Describe(), out.Left, now.Triple(), j.Before.Triple()), out
}

// isKernelDefault says whether the managed keys hold the compiled-in
// defaults every new namespace starts with.
func IsKernelDefault(v keepalive.Settings) bool {
	return len(sysctl.Diff(keepalive.KernelDefaults, v, sysctl.Keys())) == 0
}

func NonNil(s []string) []string {
	if s == nil {
		return []string{}
	}
	return s
}

type CheckKeyJSON struct {
	Key     string `json:"key"`
	Kernel  int    `json:"kernel"`
	Profile int    `json:"profile"`
	Match   bool   `json:"match"`
}

// checkKeys is the per-key comparison of --json.
func CheckKeys(p *profile.Profile, cur keepalive.Settings) []CheckKeyJSON {
	out := []CheckKeyJSON{}
	for _, k := range sysctl.SetKeys(p.Settings) {
		n := k.Get(p.Settings)
		out = append(out, CheckKeyJSON{Key: k.Dotted(), Kernel: k.Get(cur), Profile: n, Match: n == k.Get(cur)})
	}
	return out
}
