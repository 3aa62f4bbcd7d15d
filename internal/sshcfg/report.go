package sshcfg

import (
	"bufio"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"github.com/tcpka/tcpka/internal/detect"
	"github.com/tcpka/tcpka/internal/keepalive"
	"github.com/tcpka/tcpka/internal/lazy"
)

// DropInName is the sshd drop-in tcpka recommends.
const DropInName = "10-tcpka-keepalive.conf"

// Ask is what tcpka ssh judges: a host's client settings and this
// machine's sshd against a path and a detection bound.
type Ask struct {
	Host         string // "*" for every host
	IdleTimeout  int    // the path's, seconds
	DetectWithin int    // seconds
	ClientConfig string // ssh -F FILE ("" for the defaults)
	ServerConfig string // sshd -f FILE ("" for the defaults)
	SSHBin       string // "ssh"
	SSHDBin      string // "sshd"
	// MayRunSSHD: sshd -T needs root; without it the server is not judged.
	MayRunSSHD bool
	// Default is the shipped ssh profile's name and settings: recommended
	// by name when the plan for the path equals it.
	DefaultName     string
	DefaultSettings keepalive.Settings
}

// SideReport is one side read and judged, or why it was not.
type SideReport struct {
	Source string    // the command that read it
	Note   string    // why not judged ("" when judged)
	J      *Judgment // nil: not judged
	Fix    []string  // the lines it lacks
}

// Report is the whole judgment of tcpka ssh.
type Report struct {
	Ask            Ask
	Kernel         keepalive.Settings
	Client, Server SideReport
	Rec            Recommendation
	// KernelOK: the kernel's TCP keepalive alone keeps the path open and
	// notices a dead peer within the bound.
	KernelOK bool
	// ProfileName and ProfileCommand say what to apply for the TCP layer
	// ("" when KernelOK).
	ProfileName, ProfileCommand string
	// MainConfig is sshd's main file, DropIn the drop-in to write in
	// DropDir, IncludesDropIns whether the first includes DropDir.
	MainConfig, DropDir, DropIn string
	IncludesDropIns             bool
	// ServerLines are the sshd lines to add: the fix for a judged server,
	// the full recommendation otherwise.
	ServerLines []string
}

// Evaluate reads both sides and judges them with the kernel values k.
func Evaluate(a Ask, k keepalive.Settings) (*Report, error) {
	rec, err := Recommend(a.IdleTimeout, a.DetectWithin)
	if err != nil {
		return nil, err
	}
	r := &Report{Ask: a, Kernel: k, Rec: rec}

	r.Client.Source = "ssh -G " + a.Host
	if a.ClientConfig != "" {
		r.Client.Source = "ssh -F " + a.ClientConfig + " -G " + a.Host
	}
	if s, err := ReadClient(a.SSHBin, a.ClientConfig, a.Host); err != nil {
		if !errors.Is(err, ErrNotInstalled) {
			return nil, err
		}
		r.Client.Note = "ssh is not installed here: the client side is not judged"
	} else {
		j := Judge(s, k, a.IdleTimeout)
		r.Client.J, r.Client.Fix = &j, rec.Fix(j, a.DetectWithin)
	}

	r.Server.Source = "sshd -T"
	if a.ServerConfig != "" {
		r.Server.Source = "sshd -T -f " + a.ServerConfig
	}
	switch _, ferr := Find(a.SSHDBin); {
	case ferr != nil:
		r.Server.Note = "sshd is not installed here: the server side is not judged (run tcpka ssh on the server)"
	case !a.MayRunSSHD:
		r.Server.Note = "sshd -T needs root: run tcpka ssh with sudo to judge the server"
	default:
		s, err := ReadServer(a.SSHDBin, a.ServerConfig)
		if err != nil {
			if a.ServerConfig != "" {
				return nil, err
			}
			r.Server.Note = "not judged: " + err.Error()
			if strings.Contains(err.Error(), "privilege separation directory") {
				r.Server.Note += " (sshd has not run since boot; start it, then run tcpka ssh again)"
			}
		} else {
			j := Judge(s, k, a.IdleTimeout)
			r.Server.J, r.Server.Fix = &j, rec.Fix(j, a.DetectWithin)
		}
	}

	// The TCP layer: does the kernel alone meet the goal?
	r.KernelOK = detect.KeepsOpenWith(k, a.IdleTimeout) && detect.Latest(k, true).Idle <= a.DetectWithin // as plan promises
	if !r.KernelOK {
		if rec.Profile.Settings == a.DefaultSettings {
			r.ProfileName, r.ProfileCommand = a.DefaultName, "sudo tcpka apply "+a.DefaultName
		} else {
			r.ProfileCommand = fmt.Sprintf("tcpka plan --idle-timeout %ds --detect-within %ds -o ssh-path.yaml && sudo tcpka apply ./ssh-path.yaml", a.IdleTimeout, a.DetectWithin)
		}
	}

	r.DropDir, r.MainConfig = "/etc/ssh/sshd_config.d", "/etc/ssh/sshd_config"
	if a.ServerConfig != "" {
		r.MainConfig = a.ServerConfig
		r.DropDir = filepath.Join(filepath.Dir(a.ServerConfig), "sshd_config.d")
	}
	r.DropIn = filepath.Join(r.DropDir, DropInName)
	r.IncludesDropIns = includesDropIns(r.MainConfig, r.DropDir)
	r.ServerLines = r.Server.Fix
	if r.Server.J == nil {
		r.ServerLines = rec.Full(Server)
	}
	return r, nil
}

// Misses says whether the side was judged and misses the goal: with the
// kernel values too, an idle session does not survive the path or a dead
// peer is not noticed within detectWithin. A side that meets the goal only
// through the kernel values has lines to fix but does not miss it.
func (s SideReport) Misses(detectWithin int) bool {
	return s.J != nil && len(s.Fix) > 0 && !s.J.Meets(detectWithin)
}

// Missed counts the judged sides that miss the goal (tcpka ssh exits 1
// when any does).
func (r *Report) Missed() int {
	n := 0
	for _, s := range []SideReport{r.Client, r.Server} {
		if s.Misses(r.Ask.DetectWithin) {
			n++
		}
	}
	return n
}

// NothingToChange says whether both sides and the kernel meet the goal.
func (r *Report) NothingToChange() bool {
	return len(r.Client.Fix) == 0 && r.Server.J != nil && len(r.Server.Fix) == 0 && r.ProfileCommand == ""
}

// includeRE is compiled on first use, not at init, which every command
// (show included) would pay for.
var includeRE = lazy.Regexp{Expr: `(?i)^\s*include\s+(.+)$`}

// includesDropIns says whether the sshd config file includes dir/*.conf.
func includesDropIns(file, dir string) bool {
	f, err := os.Open(file)
	if err != nil {
		return false
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if m := includeRE.Get().FindStringSubmatch(sc.Text()); m != nil {
			for _, pat := range strings.Fields(m[1]) {
				if filepath.Clean(filepath.Dir(pat)) == filepath.Clean(dir) {
					return true
				}
			}
		}
	}
	return false
}
