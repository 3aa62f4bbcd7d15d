package bootcfg

import (
	"fmt"
	"os"
	"path/filepath"

	"github.com/tcpka/tcpka/internal/keepalive"
	"github.com/tcpka/tcpka/internal/profile"
	"github.com/tcpka/tcpka/internal/sysctl"
)

// BootKey is one key's value at the next boot.
type BootKey struct {
	Key     sysctl.Key
	Value   int
	Invalid string // the winning value is not a number the kernel takes
	Verdict Verdict
	// Service: tcpka.service is enabled and its profile sets the key: it
	// applies it after systemd-sysctl, so it wins.
	Service bool
	Runtime int
}

// By names what sets the key at boot.
func (b BootKey) By() string {
	switch {
	case b.Service:
		return UnitName
	case b.Verdict.Systemd != nil:
		return "systemd-sysctl"
	}
	return "kernel default"
}

// BootReport is what the next boot sets, from which file and line, and
// where the runtime values differ: the boot section of tcpka show.
type BootReport struct {
	Root    string
	Res     *Resolution
	Keys    []BootKey
	Boot    keepalive.Settings
	Drift   []sysctl.Key
	Unit    bool     // tcpka.service installed in /etc/systemd/system
	Enabled []string // its enablement links
	Profile string   // the installed profile's name, when the unit is enabled
	// Interrupted is "install" or "uninstall" when a tcpka install or
	// uninstall was killed before it finished (its record says so): the
	// next install or uninstall completes (or undoes) it. An interrupted
	// uninstall's unit is not reported as installed: it is going.
	Interrupted string
	Problems    []string
}

// Boot resolves what the next boot sets under root ("/" for this machine)
// and compares it with the runtime values rt. On the running system an
// unreadable file is a problem the report names, not an error; under
// another root it is an error.
func Boot(root string, rt keepalive.Settings) (*BootReport, error) {
	res, err := Resolve(root)
	if err != nil && root != "/" {
		return nil, err
	}
	if err != nil {
		res = &Resolution{Root: root}
	}
	b := &BootReport{Root: root, Res: res, Boot: keepalive.KernelDefaults}
	if err != nil {
		b.Problems = append(b.Problems, err.Error())
	}
	_, err = os.Lstat(filepath.Join(root, UnitDir, UnitName))
	b.Unit = err == nil
	if m, _ := readManifest(root); m != nil {
		switch m.State {
		case pendingState:
			b.Interrupted = "install"
			b.Problems = append(b.Problems, "an install of tcpka was interrupted (killed before it finished): the next tcpka install or uninstall completes or undoes it")
		case uninstallState:
			b.Interrupted, b.Unit = "uninstall", false
			left := 0
			for _, f := range m.Files {
				if _, err := os.Lstat(filepath.Join(root, f.Path)); err == nil {
					left++
				}
			}
			b.Problems = append(b.Problems, fmt.Sprintf("an uninstall of tcpka was interrupted (killed before it finished): %d of the %d files it removes are still there; the next tcpka uninstall (or install) completes it", left, len(m.Files)))
		}
	}
	b.Enabled = Enabled(root)
	var svc *profile.Profile
	if b.Unit && len(b.Enabled) > 0 {
		p, err := profile.LoadFile(filepath.Join(root, ProfileFile))
		if err != nil {
			b.Problems = append(b.Problems, fmt.Sprintf("%s is enabled but its profile does not load: %v", UnitName, err))
		} else {
			svc = p
			b.Profile = p.Name
		}
	}
	for _, k := range sysctl.Keys() {
		bk := BootKey{Key: k, Value: k.Get(keepalive.KernelDefaults), Verdict: res.Lookup(k), Runtime: k.Get(rt)}
		if a := bk.Verdict.Systemd; a != nil {
			if n, err := a.Int(); err != nil {
				bk.Invalid = a.Value
			} else {
				bk.Value = n
			}
		}
		if svc != nil {
			if n := k.Get(svc.Settings); n != 0 {
				bk.Value, bk.Service, bk.Invalid = n, true, ""
			}
		}
		k.Set(&b.Boot, bk.Value)
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
