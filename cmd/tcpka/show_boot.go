package main

// The boot section of 'tcpka show': what the next boot sets, from which
// file and line, where tcpka's drop-in is overridden and how to fix it, and
// where the runtime values differ. cmd_show.go calls addShowBootFlags,
// resolveBoot, printBoot and bootReport.JSON.

import (
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"

	"github.com/spf13/pflag"
	"github.com/tcpka/tcpka/internal/detect"
	"github.com/tcpka/tcpka/internal/profile"
	"github.com/tcpka/tcpka/internal/sysctl"
	"github.com/tcpka/tcpka/internal/sysctld"
)

var showRoot string

func addShowBootFlags(fs *pflag.FlagSet) {
	fs.StringVar(&showRoot, "root", "/", "resolve the boot section (what the next boot sets, from which file) under `DIR`: an image or a test tree")
}

// bootKey is one key's value at boot.
type bootKey struct {
	Key     sysctl.Key
	Value   int
	Invalid string // the winning value is not a number the kernel takes
	Verdict sysctld.Verdict
	// Service: tcpka.service is enabled and its profile sets the key: it
	// applies it after systemd-sysctl, so it wins.
	Service bool
	Runtime int
}

// By names what sets the key at boot.
func (b bootKey) By() string {
	switch {
	case b.Service:
		return "tcpka.service"
	case b.Verdict.Systemd != nil:
		return "systemd-sysctl"
	}
	return "kernel default"
}

type bootReport struct {
	Root     string
	Res      *sysctld.Resolution
	Keys     []bootKey
	Boot     sysctl.Values
	Drift    []sysctl.Key
	Unit     bool // tcpka.service installed in /etc/systemd/system
	Enabled  []string
	Profile  string // the installed profile's name
	Problems []string
}

// resolveBoot resolves the boot values under showRoot and compares them
// with the runtime values rt.
func resolveBoot(rt sysctl.Values) (*bootReport, error) {
	res, err := sysctld.Resolve(showRoot)
	if err != nil && showRoot != "/" {
		return nil, fmt.Errorf("show: boot section: %w", err)
	}
	if err != nil {
		// The running system's tree has something unreadable: show what
		// the runtime holds and say why the boot section is incomplete.
		res = &sysctld.Resolution{Root: showRoot}
	}
	b := &bootReport{Root: showRoot, Res: res, Boot: sysctl.KernelDefaults}
	if err != nil {
		b.Problems = append(b.Problems, err.Error())
	}
	_, err = os.Lstat(filepath.Join(showRoot, sysctld.UnitDir, sysctld.UnitName))
	b.Unit = err == nil
	b.Enabled = sysctld.Enabled(showRoot)
	var svc *profile.Profile
	if b.Unit && len(b.Enabled) > 0 {
		p, err := profile.LoadFile(filepath.Join(showRoot, sysctld.ProfileFile))
		if err != nil {
			b.Problems = append(b.Problems, fmt.Sprintf("tcpka.service is enabled but its profile does not load: %v", err))
		} else {
			svc = p
			b.Profile = p.Name
		}
	}
	for _, k := range sysctl.Keys {
		bk := bootKey{Key: k, Value: sysctl.KernelDefaults.Get(k), Verdict: res.Lookup(k), Runtime: rt.Get(k)}
		if a := bk.Verdict.Systemd; a != nil {
			if n, err := a.Int(); err != nil {
				bk.Invalid = a.Value
			} else {
				bk.Value = n
			}
		}
		if svc != nil {
			if n, ok := svc.Settings.Lookup(k); ok {
				bk.Value, bk.Service, bk.Invalid = n, true, ""
			}
		}
		b.Boot.Set(k, bk.Value)
		if bk.Value != bk.Runtime {
			b.Drift = append(b.Drift, k)
		}
		b.Keys = append(b.Keys, bk)
	}
	for _, p := range res.Problems() {
		b.Problems = append(b.Problems, p.String())
	}
	return b, nil
}

func printBoot(w io.Writer, b *bootReport) {
	where := ""
	if b.Root != "/" {
		where = " under " + b.Root
	}
	fmt.Fprintf(w, "\nat boot%s (sysctl.d resolved as systemd-sysctl does):\n", where)
	var fixes []string
	for _, k := range b.Keys {
		v := k.Verdict
		var src string
		switch {
		case k.Service:
			src = "tcpka.service (" + sysctld.ProfileFile + ")"
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
				theirs = sysctl.FormatValue(k.Key, n)
			}
			src += fmt.Sprintf(", OVERRIDES tcpka's %s (%s)", theirs, v.Tcpka.Where())
			fixes = append(fixes, fmt.Sprintf("  fix %s: %s", k.Key.Name(), b.Res.Fix(*v.Systemd)))
		}
		if k.Value != k.Runtime {
			src += "  DRIFT: runtime " + sysctl.FormatValue(k.Key, k.Runtime)
		}
		fmt.Fprintf(w, "%s  %s\n", keyColumn(k.Key, k.Value), src)
	}
	for _, f := range fixes {
		fmt.Fprintln(w, f)
	}
	for _, k := range b.Keys {
		v := k.Verdict
		if v.ProcpsDiffers() && v.Procps != nil {
			fmt.Fprintf(w, "  sysctl --system (procps) differs: it reads %s last, whose line %d sets %s = %s; systemd-sysctl does not read it\n",
				sysctld.SysctlConf, v.Procps.Line, k.Key.Name(), v.Procps.Value)
		}
	}
	fmt.Fprintf(w, "dead peer detected after %s at boot\n", detect.Seconds(keepalive(b.Boot).IdleSeconds()))
	switch {
	case b.Unit && len(b.Enabled) > 0:
		fmt.Fprintf(w, "tcpka.service: enabled, applies profile %s after systemd-sysctl\n", b.Profile)
	case b.Unit:
		fmt.Fprintln(w, "tcpka.service: installed, not enabled (systemctl enable tcpka.service)")
	}
	if len(b.Drift) > 0 {
		var names []string
		for _, k := range b.Drift {
			names = append(names, k.Name())
		}
		hint := "tcpka install PROFILE makes a profile permanent"
		if len(b.Res.TcpkaFiles()) > 0 {
			hint = "tcpka apply " + sysctld.ProfileFile + " sets the installed profile now"
		}
		fmt.Fprintf(w, "drift: runtime differs from boot for %s: a reboot changes %s (%s)\n",
			strings.Join(names, ", "), map[bool]string{true: "it", false: "them"}[len(names) == 1], hint)
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

func srcJSON(a *sysctld.Assignment) *sourceJSON {
	if a == nil {
		return nil
	}
	return &sourceJSON{File: a.File, Line: a.Line, Value: a.Value}
}

// JSON is the stable shape of the report.
func (b *bootReport) JSON() *bootJSON {
	d := keepalive(b.Boot).IdleSeconds()
	out := &bootJSON{Root: b.Root, DetectionS: d, Detection: detect.Words(d), Drift: len(b.Drift) > 0,
		TcpkaFiles: b.Res.TcpkaFiles(), Masked: []maskedJSON{}, Problems: b.Problems,
		Service: serviceJSON{Installed: b.Unit, Enabled: len(b.Enabled) > 0, Links: b.Enabled, Profile: b.Profile}}
	if out.TcpkaFiles == nil {
		out.TcpkaFiles = []string{}
	}
	if out.Problems == nil {
		out.Problems = []string{}
	}
	if out.Service.Links == nil {
		out.Service.Links = []string{}
	}
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
