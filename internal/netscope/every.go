package netscope

import (
	"fmt"
	"strconv"
	"strings"

	"github.com/tcpka/tcpka/internal/netns"
	"github.com/tcpka/tcpka/internal/sysctl"
)

// ShownProcesses is how many of a namespace's processes a Visit names.
const ShownProcesses = 3

// Visit is one namespace Every found, with what its visit returned.
type Visit struct {
	netns.Namespace
	// Procs are up to ShownProcesses of its processes, with their commands.
	Procs []netns.Process
	// Err is why the namespace could not be entered, or what fn returned.
	Err error
	// Gone: the namespace disappeared between the listing and the visit
	// (its last process exited, its name was deleted); Err says so.
	Gone bool
}

// Every lists every network namespace on the machine (netns.List: the
// names under runDir and the namespaces of the processes under procRoot)
// and runs fn in each, one after the other on one locked OS thread, with
// that namespace's sysctl file system. A namespace that cannot be entered
// gets its error in Visit.Err and fn is not called for it.
func Every(procRoot, runDir string, fn func(v *Visit, fs sysctl.FS) error) ([]Visit, netns.Listing, error) {
	l, err := netns.List(runDir, procRoot)
	if err != nil {
		return nil, l, err
	}
	visits := make([]Visit, len(l.Namespaces))
	for i, n := range l.Namespaces {
		visits[i] = Visit{Namespace: n, Procs: n.Processes(ShownProcesses)}
	}
	fs := sysctl.NewFS(procRoot)
	errs, err := netns.Each(len(visits),
		func(i int) (*netns.NS, error) { return visits[i].Open() },
		func(i int) error { return fn(&visits[i], fs) },
		true)
	if err != nil {
		return nil, l, err
	}
	for i := range visits {
		visits[i].Err = errs[i]
		visits[i].Gone = netns.IsGone(errs[i])
	}
	return visits, l, nil
}

// Label names the namespace in per-namespace output and logs:
// "net:[4026532247] blue", "net:[4026532301] (pid 88 sleep)".
func (v *Visit) Label() string {
	var b strings.Builder
	b.WriteString(v.ID())
	if v.Ino == 0 { // a broken name: ID is its path
		return b.String()
	}
	if len(v.Names) > 0 {
		b.WriteString(" " + strings.Join(v.Names, ","))
	} else if len(v.Procs) > 0 {
		b.WriteString(" (" + v.ProcsCell() + ")")
	}
	if v.Host {
		b.WriteString(" [host]")
	}
	return b.String()
}

// ProcsCell is "1 systemd, 312 sshd +40 more", or "-".
func (v *Visit) ProcsCell() string {
	if len(v.Procs) == 0 {
		return "-"
	}
	var parts []string
	for _, p := range v.Procs {
		parts = append(parts, strconv.Itoa(p.Pid)+" "+p.Command)
	}
	s := strings.Join(parts, ", ")
	if more := len(v.Pids) - len(v.Procs); more > 0 {
		s += fmt.Sprintf(" +%d more", more)
	}
	return s
}
