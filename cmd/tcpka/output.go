package main

// What every command shares: JSON output, aligned key columns, the change
// list of apply and revert.

import (
	"fmt"
	"io"
	"time"

	"github.com/tcpka/tcpka/internal/detect"
	"github.com/tcpka/tcpka/internal/human"
	"github.com/tcpka/tcpka/internal/jsonout"
	"github.com/tcpka/tcpka/internal/keepalive"
	"github.com/tcpka/tcpka/internal/profile"
	"github.com/tcpka/tcpka/internal/sysctl"
)

// writeJSON prints v as one indented JSON object, settings in place
// (jsonout.Marshal), with <, > and & as they are (a shell command's "&&",
// PuTTY's "Connection > ..."): the output goes to terminals and scripts,
// not into HTML.
func writeJSON(w io.Writer, v any) error {
	b, err := jsonout.MarshalIndent(v, "  ")
	if err != nil {
		return err
	}
	_, err = w.Write(append(b, '\n'))
	return err
}

// keyColumn prints "tcp_keepalive_time     7200 s" aligned for all keys.
func keyColumn(k *keepalive.Key, v int) string {
	unit := "  "
	if k.Suffix() != "" {
		unit = " " + k.Suffix()
	}
	return fmt.Sprintf("%-21s%6d%s", k.Sysctl, v, unit)
}

func plural(n int, word string) string {
	if n == 1 {
		return word
	}
	return word + "s"
}

func verb(n int, one, many string) string {
	if n == 1 {
		return one
	}
	return many
}

// printUndone says that a transaction a killed tcpka left was undone (or,
// on a dry run, will be) before this one.
func printUndone(w io.Writer, res sysctl.Result, dryRun bool) {
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
type changeJSON struct {
	Key string `json:"key"`
	Old int    `json:"old"`
	New int    `json:"new"`
}

func changesJSON(cs []sysctl.Change) []changeJSON {
	out := []changeJSON{}
	for _, c := range cs {
		out = append(out, changeJSON{Key: c.Key.Dotted(), Old: c.Old, New: c.New})
	}
	return out
}

// printChanges prints each key the namespace has old -> new, then the
// detection time of an idle connection and, when tcp_retries2 changes,
// of one with data in flight.
func printChanges(w io.Writer, net detect.Net, want keepalive.Settings, keys []sysctl.Key, res sysctl.Result, after keepalive.Settings) {
	set := map[sysctl.Key]bool{}
	for _, k := range keys {
		set[k] = true
	}
	for _, k := range res.Present {
		n, old := k.Get(want), k.Get(res.Before)
		switch {
		case !set[k]:
			fmt.Fprintf(w, "  %s  (not set by the profile)\n", keyColumn(k, old))
		case n == old:
			fmt.Fprintf(w, "  %s  (unchanged)\n", keyColumn(k, old))
		default:
			fmt.Fprintf(w, "  %s -> %s\n", keyColumn(k, old), k.Format(n))
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
func printProfileNotes(w io.Writer, p *profile.Profile) {
	if u := p.Settings.UserTimeout; u > 0 {
		fmt.Fprintf(w, "note: user_timeout %s is TCP_USER_TIMEOUT, a socket option: tcpka enforce sets it on a process's or a cgroup's sockets; no sysctl does\n", human.Duration(int(u/time.Second)))
	}
	for _, m := range p.Warnings {
		fmt.Fprintf(w, "warning: %s\n", m)
	}
}

// interruptedJSON is a transaction a killed tcpka left (show and check).
type interruptedJSON struct {
	Op      string `json:"op"`
	Profile string `json:"profile,omitempty"`
	PID     int    `json:"pid"`
	At      string `json:"at"`
	Left    string `json:"left"`
	Running bool   `json:"running"`
}

// interrupted reads the journal a killed transaction left in the command's
// namespace: the line to print ("" when there is none) and its JSON.
func (e *Env) interrupted(id sysctl.NSID, now keepalive.Settings) (string, *interruptedJSON) {
	j, running := e.Scope.State().Interrupted(id)
	if j == nil {
		return "", nil
	}
	out := &interruptedJSON{Op: j.Op, Profile: j.Profile, PID: j.PID, At: j.At.Format(time.RFC3339), Left: j.Left(now), Running: running}
	if running {
		return fmt.Sprintf("in progress: the %s is writing these keys now", j.Describe()), out
	}
	return fmt.Sprintf("interrupted: the %s was killed and left %s (%s); the next tcpka apply or revert here undoes it, back to %s",
		j.Describe(), out.Left, now.Triple(), j.Before.Triple()), out
}

// printable is s for a terminal (human.Safe).
func printable(s string) string { return human.Safe(s) }
