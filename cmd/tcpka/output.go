package main

// What every command shares: the JSON shape of keepalive values, aligned
// key columns, the change list of apply and revert, and the one
// transaction path (capability check, lock, kernel handle).

import (
	"encoding/json"
	"fmt"
	"io"
	"strconv"
	"time"
	"unicode/utf8"

	"github.com/tcpka/tcpka/internal/caps"
	"github.com/tcpka/tcpka/internal/detect"
	"github.com/tcpka/tcpka/internal/human"
	"github.com/tcpka/tcpka/internal/keepalive"
	"github.com/tcpka/tcpka/internal/netns"
	"github.com/tcpka/tcpka/internal/profile"
	"github.com/tcpka/tcpka/internal/sysctl"
)

// writeJSON prints v as one indented JSON object, with <, > and & as
// they are (a shell command's "&&", PuTTY's "Connection > ..."): the
// output goes to terminals and scripts, not into HTML.
func writeJSON(w io.Writer, v any) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	enc.SetEscapeHTML(false)
	return enc.Encode(v)
}

// settingsJSON is the one JSON shape of a set of keepalive values and its
// detection times, in every command (docs/json.md): time_s, intvl_s,
// probes, user_timeout_ms where one is set, retries2 where known,
// detection_s and detection (idle), and data_in_flight_s (unacknowledged
// data: retransmission) where tcp_retries2 or a user timeout bounds it.
type settingsJSON struct {
	TimeS         int    `json:"time_s"`
	IntvlS        int    `json:"intvl_s"`
	Probes        int    `json:"probes"`
	UserTimeoutMs int    `json:"user_timeout_ms,omitempty"`
	Retries2      int    `json:"retries2,omitempty"`
	DetectionS    int    `json:"detection_s"`
	Detection     string `json:"detection"`
	DataInFlightS *int   `json:"data_in_flight_s,omitempty"`
}

// newSettingsJSON is settingsJSON for s under the kernel's retransmission
// defaults: for values not read from a namespace (plans, profiles).
func newSettingsJSON(s keepalive.Settings) settingsJSON { return newSettingsJSONIn(detect.Net{}, s) }

// profileSettingsJSON is settingsJSON for a profile's or a plan's values
// in a namespace at the kernel defaults: detection_s and
// data_in_flight_s are what the sysctls give every socket (keys left
// unset at the kernel's); user_timeout_ms is listed, but it is a socket
// option only tcpka enforce sets.
func profileSettingsJSON(s keepalive.Settings) settingsJSON {
	j := newSettingsJSON(s.Sysctls().Over(keepalive.KernelDefaults))
	j.TimeS, j.IntvlS, j.Probes, j.Retries2 = s.Time, s.Intvl, s.Probes, s.Retries2
	j.UserTimeoutMs = int(s.UserTimeout / time.Millisecond)
	return j
}

// newSettingsJSONIn is settingsJSON for s in a namespace with net's
// retransmission parameters: the figures show and apply print.
func newSettingsJSONIn(net detect.Net, s keepalive.Settings) settingsJSON {
	b := net.Bounds(s, true)
	j := settingsJSON{TimeS: s.Time, IntvlS: s.Intvl, Probes: s.Probes, UserTimeoutMs: int(s.UserTimeout / time.Millisecond),
		Retries2: s.Retries2, DetectionS: b.Idle, Detection: human.Duration(b.Idle)}
	if b.Data >= 0 {
		j.DataInFlightS = &b.Data
	}
	return j
}

// keyColumn prints "tcp_keepalive_time     7200 s" aligned for all keys.
func keyColumn(k sysctl.Key, v int) string {
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

// canWrite refuses early, before the lock and before any write, when the
// process cannot write the real /proc/sys/net. A fake tree (--proc-root)
// needs no privileges.
func (e *Env) canWrite(what string) error {
	if !e.Kernel.RealProc() {
		return nil
	}
	return caps.Require(what, caps.NetAdmin)
}

// locked runs fn as a transaction of the command: after the capability
// check, under the lock, and after the records of namespaces that are gone
// were dropped; a dry run takes none of them.
func (e *Env) locked(what string, dryRun bool, fn func() error) error {
	if dryRun {
		return fn()
	}
	if err := e.canWrite(what); err != nil {
		return err
	}
	unlock, err := e.State.Lock()
	if err != nil {
		return fmt.Errorf("%s: %w", what, err)
	}
	defer unlock()
	e.Kernel.Collect(e.State, netns.DefaultRunDir)
	return fn()
}

// transact runs one transaction in the command's namespace (locked).
func (e *Env) transact(req sysctl.Request) (res sysctl.Result, err error) {
	err = e.locked(req.What, req.DryRun, func() error {
		res, err = e.Kernel.Transact(e.State, req)
		return err
	})
	return res, err
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
func (e *Env) interrupted(now keepalive.Settings) (string, *interruptedJSON) {
	j, running := e.State.Interrupted(e.Kernel.Identity())
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

// printable is s for a terminal: a string with control characters or
// invalid UTF-8 (a cgroup or process name anyone can choose) is printed
// quoted with Go escapes, so it cannot move the cursor or forge a line.
func printable(s string) string {
	for _, r := range s {
		if r < 0x20 || r == 0x7f || r == utf8.RuneError || (r >= 0x80 && r < 0xa0) {
			return strconv.Quote(s)
		}
	}
	return s
}
