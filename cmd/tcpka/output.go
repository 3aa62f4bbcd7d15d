package main

// What every command shares: the JSON shape of keepalive values, aligned
// key columns, the change list of apply and revert, and the one
// transaction path (capability check, lock, kernel handle).

import (
	"encoding/json"
	"fmt"
	"io"
	"time"

	"github.com/tcpka/tcpka/internal/caps"
	"github.com/tcpka/tcpka/internal/detect"
	"github.com/tcpka/tcpka/internal/keepalive"
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
// idle detection time, in every command (docs/json.md): time_s, intvl_s,
// probes, user_timeout_ms where one is set, detection_s and detection.
type settingsJSON struct {
	TimeS         int    `json:"time_s"`
	IntvlS        int    `json:"intvl_s"`
	Probes        int    `json:"probes"`
	UserTimeoutMs int    `json:"user_timeout_ms,omitempty"`
	DetectionS    int    `json:"detection_s"`
	Detection     string `json:"detection"`
}

func newSettingsJSON(s keepalive.Settings) settingsJSON {
	d := detect.Idle(s)
	return settingsJSON{TimeS: s.Time, IntvlS: s.Intvl, Probes: s.Probes, UserTimeoutMs: int(s.UserTimeout / time.Millisecond),
		DetectionS: d, Detection: detect.Words(d)}
}

// keyColumn prints "tcp_keepalive_time     7200 s" aligned for all keys.
func keyColumn(k sysctl.Key, v int) string {
	unit := "  "
	if k.Unit() != "" {
		unit = " " + k.Unit()
	}
	return fmt.Sprintf("%-21s%6d%s", k.Name(), v, unit)
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

// transact runs one transaction in the command's namespace: the
// capability check and the lock (unless a dry run), then the transaction.
func (e *Env) transact(req sysctl.Request) (sysctl.Result, error) {
	if !req.DryRun {
		if err := e.canWrite(req.What); err != nil {
			return sysctl.Result{}, err
		}
		unlock, err := e.State.Lock()
		if err != nil {
			return sysctl.Result{}, fmt.Errorf("%s: %w", req.What, err)
		}
		defer unlock()
	}
	return e.Kernel.Transact(e.State, req)
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

// printChanges prints each key old -> new, then the detection time.
func printChanges(w io.Writer, want keepalive.Settings, keys []sysctl.Key, res sysctl.Result, after keepalive.Settings) {
	set := map[sysctl.Key]bool{}
	for _, k := range keys {
		set[k] = true
	}
	for _, k := range sysctl.Keys {
		n, old := k.Get(want), k.Get(res.Before)
		switch {
		case !set[k]:
			fmt.Fprintf(w, "  %s  (not set by the profile)\n", keyColumn(k, old))
		case n == old:
			fmt.Fprintf(w, "  %s  (unchanged)\n", keyColumn(k, old))
		default:
			fmt.Fprintf(w, "  %s -> %s\n", keyColumn(k, old), sysctl.FormatValue(k, n))
		}
	}
	before, now := detect.Idle(res.Before), detect.Idle(after)
	if before == now {
		fmt.Fprintf(w, "  dead-peer detection %s (unchanged)\n", detect.Seconds(before))
	} else {
		fmt.Fprintf(w, "  dead-peer detection %s -> %s\n", detect.Seconds(before), detect.Seconds(now))
	}
}
