package nsreport

import (
	"fmt"
	"io"
	"strings"

	"github.com/tcpka/tcpka/internal/bootcfg"
	"github.com/tcpka/tcpka/internal/detect"
	"github.com/tcpka/tcpka/internal/human"
	"github.com/tcpka/tcpka/internal/jsonout"
	"github.com/tcpka/tcpka/internal/keepalive"
	"github.com/tcpka/tcpka/internal/netscope"
	"github.com/tcpka/tcpka/internal/nodetimer"
	"github.com/tcpka/tcpka/internal/sysctl"
)

// What show prints for one network namespace, and its boot section.

// showJSONOut is show's --json shape; field names are stable.
type showJSONOut struct {
	Netns string `json:"netns,omitempty"`
	jsonout.Settings
	KernelDefaults bool      `json:"kernel_defaults"`
	Boot           *bootJSON `json:"boot"`
	// NodeIdleTimers: the node's own timers that forget idle TCP flows
	// here, and whether idle connections with these values keep theirs.
	NodeIdleTimers []NodeTimerJSON `json:"node_idle_timers"`
	// Interrupted: a transaction a killed tcpka left in this namespace.
	Interrupted *InterruptedJSON `json:"interrupted,omitempty"`
}

// ShowIn is what show prints for one namespace.
type ShowIn struct {
	netscope.Reading
	Net   detect.Net          // its retransmission parameters
	Boot  *bootcfg.BootReport // what the next boot sets, and from which file
	State sysctl.State        // where a killed transaction's journal is
	Note  string              // a line about enforcements, "" for none
	// Timers are the node's own timers that forget idle flows here.
	Timers nodetimer.Report
}

// NodeTimerJSON is one of the node's idle timers in --json.
type NodeTimerJSON struct {
	Kind         string `json:"kind"`
	Name         string `json:"name"`
	IdleTimeoutS int    `json:"idle_timeout_s"`
	Source       string `json:"source"`
	Note         string `json:"note,omitempty"`
	// Applies: some flow of the namespace can meet it now (conntrack
	// tracks flows, IPVS has TCP services, the nft policy exists).
	Applies bool `json:"applies"`
	// Survives: an idle connection with the namespace's keepalive values
	// keeps its flow through it (detect.KeepsOpen).
	Survives bool `json:"survives"`
}

// NodeTimers is the node's idle timers in --json, judged against s.
func NodeTimers(r nodetimer.Report, s keepalive.Settings) []NodeTimerJSON {
	out := []NodeTimerJSON{}
	for _, t := range r.Timers {
		out = append(out, NodeTimerJSON{Kind: string(t.Kind), Name: t.Name, IdleTimeoutS: t.IdleTimeoutS, Source: t.Source, Note: t.Note, Applies: t.Applies, Survives: t.KeepsOpen(s)})
	}
	return out
}

// printNodeTimers says, for each of the node's idle timers, whether an
// idle connection with s keeps its flow, and which kinds could not be read.
func printNodeTimers(w io.Writer, r nodetimer.Report, s keepalive.Settings) {
	var unread []string
	for _, u := range r.Unread {
		if u.Err != nil {
			unread = append(unread, string(u.Kind)+" ("+u.Why+")")
		}
	}
	var timers []nodetimer.Timer
	for _, t := range r.Timers {
		if t.Applies {
			timers = append(timers, t)
		}
	}
	if len(timers) == 0 && len(unread) == 0 {
		return // no timer here forgets a flow of this namespace
	}
	fmt.Fprintf(w, "node idle timers (an idle connection here sends a packet every %s):\n", human.Duration(detect.AnsweredEvery(s)))
	for _, t := range timers {
		verdict := "kept open"
		if !t.KeepsOpen(s) {
			verdict = "LOST: forgets idle flows first (tcpka plan --path node)"
		}
		name := string(t.Kind)
		if t.Kind == nodetimer.NftCtTimeout {
			name += " " + human.Safe(t.Name)
		}
		fmt.Fprintf(w, "  %-16s %s: %s\n", name, human.Seconds(t.IdleTimeoutS), verdict)
		if t.Note != "" {
			fmt.Fprintf(w, "    %s\n", t.Note)
		}
	}
	if len(unread) > 0 {
		fmt.Fprintf(w, "  not read: %s\n", strings.Join(unread, ", "))
	}
}

// ShowOne prints show: the values, the detection times, the namespace,
// and the boot section.
func ShowOne(o Out, in ShowIn) (Outcome, error) {
	r, v := in.Reading, in.Reading.Values
	net := in.Net
	settings := jsonout.Of(v, net)
	bounds := settings.Bounds()
	interrupted, ij := Interrupted(in.State, r.Identity, v)
	if o.JSON {
		out := showJSONOut{Netns: r.ID, Settings: settings, KernelDefaults: IsKernelDefault(v), Boot: newBootJSON(in.Boot),
			NodeIdleTimers: NodeTimers(in.Timers, v), Interrupted: ij}
		return OK, jsonout.Write(o.W, out)
	}
	w := o.W
	for _, k := range sysctl.Keys() {
		if k.Optional && k.Get(v) == 0 {
			continue // not in this proc tree: see the data-in-flight line
		}
		fmt.Fprintf(w, "%s  %s\n", KeyColumn(k, k.Get(v)), k.Meaning)
	}
	fmt.Fprintf(w, "dead peer detected after %s of silence on an idle connection\n", human.Seconds(bounds.Idle))
	if interrupted != "" {
		fmt.Fprintln(w, interrupted)
	}
	data := "a time tcpka cannot tell (tcp_retries2 not readable)"
	if bounds.Data >= 0 {
		data = fmt.Sprintf("%s (retransmission, tcp_retries2 %d)", human.Seconds(bounds.Data), v.Retries2)
	}
	fmt.Fprintf(w, "with data in flight: after %s\n", data)
	fmt.Fprintln(w, "sockets with their own values: see tcpka sockets --processes")
	if id := r.ID; id != "" {
		note := "other namespaces and containers have their own values"
		if IsKernelDefault(v) {
			note = "still the kernel defaults"
		}
		fmt.Fprintf(w, "network namespace %s: %s\n", id, note)
	}
	printNodeTimers(w, in.Timers, v)
	if in.Note != "" {
		fmt.Fprintln(w, in.Note)
	}
	printBoot(w, in.Boot)
	return OK, nil
}

// printBoot prints show's boot section.
func printBoot(w io.Writer, b *bootcfg.BootReport) {
	where := ""
	if b.Root != "/" {
		where = " under " + b.Root
	}
	fmt.Fprintf(w, "\nat boot%s (sysctl.d resolved as systemd-sysctl does):\n", where)
	var fixes []string
	type row struct{ key, src, drift string }
	var rows []row
	for _, k := range b.Keys {
		v := k.Verdict
		var src string
		switch {
		case k.Service:
			src = bootcfg.UnitName + " (" + bootcfg.ProfileFile + ")"
			if v.Systemd != nil {
				src += ", after " + v.Systemd.Where() + " sets " + v.Systemd.Value
			}
		case v.Systemd != nil:
			src = v.Systemd.Where()
			if v.Systemd == v.Tcpka || (v.Tcpka != nil && v.Systemd.Where() == v.Tcpka.Where()) {
				src += " (tcpka)"
			}
			if v.Systemd.Glob {
				src += " (glob " + v.Systemd.Dotted() + ")"
			}
			if k.Invalid != "" {
				src += fmt.Sprintf(": %q is not a number, the kernel refuses it and the key keeps its default", k.Invalid)
			}
		default:
			src = "kernel default: no file sets it"
		}
		if v.Overridden() {
			theirs := v.Tcpka.Value
			if n, err := v.Tcpka.Int(); err == nil {
				theirs = k.Key.Format(n)
			}
			src += fmt.Sprintf(", OVERRIDES tcpka's %s (%s)", theirs, v.Tcpka.Where())
			fixes = append(fixes, fmt.Sprintf("  fix %s: %s", k.Key.Sysctl, b.Res.Fix(*v.Systemd)))
		}
		r := row{key: KeyColumn(k.Key, k.Value), src: src}
		if k.Value != k.Runtime {
			r.drift = "  DRIFT: runtime " + k.Key.Format(k.Runtime)
		}
		rows = append(rows, r)
	}
	width := 0 // the DRIFT notes line up, past short sources only
	for _, r := range rows {
		if r.drift != "" && len(r.src) <= 48 {
			width = max(width, len(r.src))
		}
	}
	for _, r := range rows {
		src := r.src
		if r.drift != "" {
			src = fmt.Sprintf("%-*s%s", width, src, r.drift)
		}
		fmt.Fprintf(w, "%s  %s\n", r.key, src)
	}
	for _, f := range fixes {
		fmt.Fprintln(w, f)
	}
	for _, k := range b.Keys {
		v := k.Verdict
		if v.ProcpsDiffers() && v.Procps != nil {
			fmt.Fprintf(w, "  sysctl --system (procps) differs: it reads %s last, whose line %d sets %s = %s; systemd-sysctl does not read it\n",
				bootcfg.SysctlConf, v.Procps.Line, k.Key.Sysctl, v.Procps.Value)
		}
	}
	fmt.Fprintf(w, "dead peer detected after %s at boot\n", human.Seconds(detect.Idle(b.Boot)))
	switch {
	case b.Unit && len(b.Enabled) > 0:
		fmt.Fprintf(w, "tcpka.service: enabled, applies profile %s after systemd-sysctl\n", b.Profile)
	case b.Unit:
		fmt.Fprintln(w, "tcpka.service: installed, not enabled (systemctl enable tcpka.service)")
	}
	if len(b.Drift) > 0 {
		var names []string
		for _, k := range b.Drift {
			names = append(names, k.Sysctl)
		}
		hint := "tcpka install PROFILE makes a profile permanent"
		if len(b.Res.TcpkaFiles()) > 0 {
			hint = "tcpka apply " + bootcfg.ProfileFile + " sets the installed profile now"
		}
		them := "them"
		if len(names) == 1 {
			them = "it"
		}
		fmt.Fprintf(w, "drift: runtime differs from boot for %s: a reboot changes %s (%s)\n", strings.Join(names, ", "), them, hint)
	}
	for _, p := range b.Problems {
		fmt.Fprintf(w, "problem: %s\n", p)
	}
}

// bootJSON is the "boot" object of show --json; field names are stable.
type bootJSON struct {
	Root       string        `json:"root"`
	Keys       []bootKeyJSON `json:"keys"`
	DetectionS int           `json:"detection_s"`
	Detection  string        `json:"detection"`
	Drift      bool          `json:"drift"`
	TcpkaFiles []string      `json:"tcpka_files"`
	Masked     []maskedJSON  `json:"masked"`
	Service    serviceJSON   `json:"service"`
	Problems   []string      `json:"problems"`
	// Interrupted: "install" or "uninstall" a killed tcpka left half done
	// (the next install or uninstall completes it).
	Interrupted string `json:"interrupted_op,omitempty"`
}

type bootKeyJSON struct {
	Key        string      `json:"key"`
	Value      int         `json:"value"`
	By         string      `json:"by"` // systemd-sysctl, tcpka.service, kernel default
	Source     *sourceJSON `json:"source"`
	Tcpka      *sourceJSON `json:"tcpka"`
	Overridden bool        `json:"overridden"`
	Fix        string      `json:"fix,omitempty"`
	Procps     *sourceJSON `json:"procps"`
	Runtime    int         `json:"runtime"`
	Drift      bool        `json:"drift"`
}

type sourceJSON struct {
	File  string `json:"file"`
	Line  int    `json:"line"`
	Value string `json:"value"`
}

type maskedJSON struct {
	Path string `json:"path"`
	By   string `json:"by"`
}

type serviceJSON struct {
	Installed bool     `json:"installed"`
	Enabled   bool     `json:"enabled"`
	Links     []string `json:"links"`
	Profile   string   `json:"profile,omitempty"`
}

func srcJSON(a *bootcfg.Assignment) *sourceJSON {
	if a == nil {
		return nil
	}
	return &sourceJSON{File: a.File, Line: a.Line, Value: a.Value}
}

func newBootJSON(b *bootcfg.BootReport) *bootJSON {
	d := detect.Idle(b.Boot)
	out := &bootJSON{Root: b.Root, DetectionS: d, Detection: human.Duration(d), Drift: len(b.Drift) > 0,
		TcpkaFiles: NonNil(b.Res.TcpkaFiles()), Masked: []maskedJSON{}, Problems: NonNil(b.Problems),
		Service:     serviceJSON{Installed: b.Unit, Enabled: len(b.Enabled) > 0, Links: NonNil(b.Enabled), Profile: b.Profile},
		Interrupted: b.Interrupted}
	for _, m := range b.Res.Masked {
		out.Masked = append(out.Masked, maskedJSON{Path: m.Path, By: m.By})
	}
	for _, k := range b.Keys {
		kj := bootKeyJSON{Key: k.Key.Dotted(), Value: k.Value, By: k.By(), Source: srcJSON(k.Verdict.Systemd),
			Tcpka: srcJSON(k.Verdict.Tcpka), Overridden: k.Verdict.Overridden(), Procps: srcJSON(k.Verdict.Procps),
			Runtime: k.Runtime, Drift: k.Value != k.Runtime}
		if kj.Overridden {
			kj.Fix = b.Res.Fix(*k.Verdict.Systemd)
		}
		out.Keys = append(out.Keys, kj)
	}
	return out
}
