package netscope

import (
	"errors"
	"fmt"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"

	"github.com/tcpka/tcpka/internal/caps"
	"github.com/tcpka/tcpka/internal/human"
	"github.com/tcpka/tcpka/internal/keepalive"
	"github.com/tcpka/tcpka/internal/kubepod"
	"github.com/tcpka/tcpka/internal/netns"
	"github.com/tcpka/tcpka/internal/sysctl"
)

// Roots are where tcpka finds the kernel and keeps its state, given once
// to Open and carried by the Scope.
type Roots struct {
	// Proc is the procfs tcpka reads (--proc-root; "" is /proc).
	Proc string
	// Run holds the transaction lock and the private state directory
	// (--run-dir; "" is /run).
	Run string
	// Netns holds the names of named network namespaces ("" is
	// /run/netns, where ip netns keeps them).
	Netns string
	// Host is the node's root file system as tcpka sees it: "/" with the
	// real /proc, the directory above Proc otherwise (/host for
	// /host/proc, where a DaemonSet mounts the node). The kubelet's pod
	// log directories are read below it.
	Host string
}

func (r Roots) withDefaults() Roots {
	if r.Proc == "" {
		r.Proc = sysctl.DefaultProcRoot
	}
	if r.Run == "" {
		r.Run = "/run"
	}
	if r.Netns == "" {
		r.Netns = netns.DefaultRunDir
	}
	if r.Host == "" {
		r.Host = filepath.Dir(filepath.Clean(r.Proc))
	}
	return r
}

// Scope is the handle a command works through: the network namespace it
// is bound to (tcpka's own, or --netns TARGET) or, with --all-netns,
// every network namespace on the machine, seen through one proc root,
// with tcpka's state under one run directory. Read, Transact and Revert
// are the same for one namespace and for all: a command has one path
// whichever it was given.
type Scope struct {
	roots Roots
	state sysctl.State
	ns    *NS // the namespace the scope is bound to (all: tcpka's own)
	all   bool
}

// ErrExclusive is wrapped when --netns and --all-netns are both given:
// invalid input.
var ErrExclusive = errors.New("--all-netns and --netns exclude each other")

// Open binds a scope: the namespace spec names ("" for tcpka's own, a
// name under Roots.Netns, a path, or pid:N; see netns.Resolve, whose
// errors it returns as Open of an NS does), or every namespace when all
// is set.
func Open(r Roots, spec string, all bool) (*Scope, error) {
	r = r.withDefaults()
	if all && spec != "" {
		return nil, ErrExclusive
	}
	ns, err := open(r.Proc, spec, r.Netns)
	if err != nil {
		return nil, err
	}
	return &Scope{roots: r, state: sysctl.State{RunDir: r.Run}, ns: ns, all: all}, nil
}

// Close releases the namespace the scope holds.
func (s *Scope) Close() error { return s.ns.Close() }

// All says whether the scope is every network namespace.
func (s *Scope) All() bool { return s.all }

// Roots are the scope's roots.
func (s *Scope) Roots() Roots { return s.roots }

// State is where transactions keep their lock, records and journals.
func (s *Scope) State() sysctl.State { return s.state }

// NS is the one namespace the scope is bound to: --netns TARGET, or
// tcpka's own (also for --all-netns, where a command reports tcpka's own
// namespace beside the others: watch's /metrics).
func (s *Scope) NS() *NS { return s.ns }

// ProcRoot is where procfs is read.
func (s *Scope) ProcRoot() string { return s.roots.Proc }

// RealProc says whether the proc root is this machine's /proc.
func (s *Scope) RealProc() bool { return s.ns.RealProc() }

// Member is one network namespace of a scope, as a visit found it.
type Member struct {
	// ID names it as ls -l /proc/PID/ns prints it ("net:[4026531840]"),
	// "" where a fake proc tree names none.
	ID string
	// Identity is its cookie and inode, for its records (zero on a fake
	// proc tree).
	Identity sysctl.NSID
	// Listed is the namespace as the listing found it (--all-netns only):
	// names, processes, whether it is the host's.
	Listed *netns.Namespace
	// Procs are up to ShownProcesses of its processes.
	Procs []netns.Process
	// Pod is the Kubernetes pod the namespace belongs to, from the
	// kubelet's layout on the node (listed scopes only; nil: none).
	Pod *kubepod.Pod
	// Err is why the namespace could not be entered, or what the visit
	// returned; Gone: it disappeared since it was listed (not a failure).
	Err  error
	Gone bool
}

// ShownProcesses is how many of a namespace's processes a Member names.
const ShownProcesses = 3

// Failed says the namespace could not be read or changed. One that went
// away since it was listed did not fail: there is nothing left to do.
func (m *Member) Failed() bool { return m.Err != nil && !m.Gone }

// Host says whether it is PID 1's namespace.
func (m *Member) Host() bool { return m.Listed != nil && m.Listed.Host }

// Names are its names under /run/netns.
func (m *Member) Names() []string {
	if m.Listed == nil {
		return nil
	}
	return m.Listed.Names
}

// ProcessCount is how many processes are in it (listed scopes only).
func (m *Member) ProcessCount() int {
	if m.Listed == nil {
		return 0
	}
	return len(m.Listed.Pids)
}

// Label names the namespace in per-namespace output and logs:
// "net:[4026532247] blue", "net:[4026532301] (sleep[88])".
func (m *Member) Label() string {
	var b strings.Builder
	b.WriteString(m.ID)
	if m.Listed != nil && m.Listed.Ino == 0 { // a broken name: ID is its path
		return b.String()
	}
	if m.Pod != nil {
		b.WriteString(" pod " + m.Pod.String())
	} else if names := m.Names(); len(names) > 0 {
		b.WriteString(" " + strings.Join(names, ","))
	} else if len(m.Procs) > 0 {
		b.WriteString(" (" + m.ProcsCell() + ")")
	}
	if m.Host() {
		b.WriteString(" [host]")
	}
	return b.String()
}

// ProcsCell is "systemd[1] +40 more", or "-": the first process, as its
// command and, in brackets, its PID, and how many others there are (JSON
// lists ShownProcesses of them).
func (m *Member) ProcsCell() string {
	if len(m.Procs) == 0 {
		return "-"
	}
	p := m.Procs[0]
	s := human.Safe(p.Command) + "[" + strconv.Itoa(p.Pid) + "]"
	if more := max(m.ProcessCount(), len(m.Procs)) - 1; more > 0 {
		s += fmt.Sprintf(" +%d more", more)
	}
	return s
}

// Visits are the members of one visit, and what listing them found.
type Visits struct {
	Members []Member
	// Listing: the machine's namespaces (--all-netns); Unreadable and
	// HostErr say what could not be listed.
	Listing netns.Listing
}

// Failed lists the members that failed.
func (v Visits) Failed() []*Member {
	var out []*Member
	for i := range v.Members {
		if v.Members[i].Failed() {
			out = append(out, &v.Members[i])
		}
	}
	return out
}

// Visit runs fn in every namespace of the scope, one after the other on
// one locked OS thread, with the namespace's sysctl file system and its
// identity filled in. For one namespace, an error entering it, or fn's,
// is the error Visit returns. For all, they are the member's Err, and
// Visit fails only when the namespaces cannot be listed.
func (s *Scope) Visit(fn func(m *Member, fs sysctl.FS) error) (Visits, error) {
	if !s.all {
		v := Visits{Members: []Member{{ID: s.ns.ID()}}}
		m := &v.Members[0] // fn may key what it finds by m
		err := s.ns.In(func(fs sysctl.FS) error {
			if s.RealProc() {
				m.Identity = IdentityHere()
			}
			return fn(m, fs)
		})
		m.Err = err
		return v, err
	}
	l, err := netns.List(s.roots.Netns, s.roots.Proc)
	if err != nil {
		return Visits{Listing: l}, err
	}
	v := Visits{Listing: l, Members: make([]Member, len(l.Namespaces))}
	pods := kubepod.Finder{ProcRoot: s.roots.Proc, HostRoot: s.roots.Host}
	for i := range l.Namespaces {
		n := &l.Namespaces[i]
		v.Members[i] = Member{ID: n.ID(), Listed: n, Procs: n.Processes(ShownProcesses)}
		if p, ok := pods.Of(n.Pids); ok {
			v.Members[i].Pod = &p
		}
	}
	fs := sysctl.NewFS(s.roots.Proc)
	errs, err := netns.Each(len(v.Members),
		func(i int) (*netns.NS, error) { return l.Namespaces[i].Open() },
		func(i int) error {
			m := &v.Members[i]
			if s.RealProc() {
				m.Identity = IdentityHere()
			}
			return fn(m, fs)
		},
		true)
	if err != nil {
		return v, err
	}
	for i := range v.Members {
		v.Members[i].Err = errs[i]
		v.Members[i].Gone = netns.IsGone(errs[i])
	}
	return v, nil
}

// Reading is what Read found in one namespace.
type Reading struct {
	*Member
	Values keepalive.Settings
}

// Read reads the managed sysctls of every namespace of the scope.
func (s *Scope) Read() ([]Reading, Visits, error) {
	vals := map[*Member]keepalive.Settings{}
	v, err := s.Visit(func(m *Member, fs sysctl.FS) error {
		val, err := fs.Read()
		vals[m] = val
		return err
	})
	return readings(v, vals), v, err
}

func readings(v Visits, vals map[*Member]keepalive.Settings) []Reading {
	out := make([]Reading, len(v.Members))
	for i := range v.Members {
		out[i] = Reading{Member: &v.Members[i], Values: vals[&v.Members[i]]}
	}
	return out
}

// Outcome is what a transaction found and did in one namespace.
type Outcome struct {
	*Member
	sysctl.Result
}

// canWrite refuses early, before the lock and before any write, when the
// process cannot write the real /proc/sys/net. A fake tree needs no
// privileges.
func (s *Scope) canWrite(what string) error {
	if !s.RealProc() {
		return nil
	}
	return caps.Require(what, caps.NetAdmin)
}

// Locked runs fn as a transaction of the command what: after the
// capability check, under the lock, after the records of namespaces that
// are gone were dropped. A dry run takes none of them: it reads what it
// can without privileges.
func (s *Scope) Locked(what string, dryRun bool, fn func() error) error {
	if dryRun {
		return fn()
	}
	if err := s.canWrite(what); err != nil {
		return err
	}
	unlock, err := s.state.Lock()
	if err != nil {
		return fmt.Errorf("%s: %w", what, err)
	}
	defer unlock()
	if s.RealProc() {
		_, _ = s.state.Collect(Alive(s.roots.Proc, s.roots.Netns))
	}
	return fn()
}

// ErrWatched is wrapped when a tcpka watch keeps a profile applied in a
// namespace a command would change: the watch would undo it at its next
// check, silently.
var ErrWatched = errors.New("a tcpka watch keeps a profile applied here")

// watched is a refusal because of a watch: its own words, and ErrWatched.
type watched struct{ msg string }

func (e watched) Error() string { return e.msg }
func (e watched) Unwrap() error { return ErrWatched }

func refusedf(format string, args ...any) error { return watched{fmt.Sprintf(format, args...)} }

// watchedBy returns the pid of the watch holding a lease on the
// namespace (its own, or all namespaces), 0 when none does.
func (s *Scope) watchedBy(id sysctl.NSID) int {
	for _, key := range []string{id.Key(), "all"} {
		if pid := s.state.Leased(key); pid != 0 {
			return pid
		}
	}
	return 0
}

// Transact runs req in every namespace of the scope, one transaction
// each, under one lock (see sysctl.State.Transact; req.NS is filled in per
// namespace). A change where a tcpka watch keeps a profile applied is
// refused there, naming the watch, unless the watch itself asks.
func (s *Scope) Transact(req sysctl.Request) ([]Outcome, Visits, error) {
	res := map[*Member]sysctl.Result{}
	var v Visits
	err := s.Locked(req.What, req.DryRun, func() (err error) {
		v, err = s.Visit(func(m *Member, fs sysctl.FS) error {
			if req.What != "watch" && !req.DryRun {
				if pid := s.watchedBy(m.Identity); pid != 0 {
					return refusedf("%s: %s keeps a profile applied in this network namespace and would put it back at its next check: stop it first (systemctl stop tcpka-watch), or change the profile it watches and let it apply that",
						req.What, WatchName(pid))
				}
			}
			r := req
			r.NS = m.Identity
			out, err := s.state.Transact(fs, r)
			res[m] = out
			return err
		})
		return err
	})
	out := make([]Outcome, len(v.Members))
	for i := range v.Members {
		out[i] = Outcome{Member: &v.Members[i], Result: res[&v.Members[i]]}
	}
	return out, v, err
}

// WatchName names the tcpka watch holding a lease ("tcpka watch (pid 42)").
func WatchName(pid int) string {
	if pid > 0 {
		return fmt.Sprintf("tcpka watch (pid %d)", pid)
	}
	return "tcpka watch"
}

// Reverted is what a revert found and did in one namespace.
type Reverted struct {
	*Member
	sysctl.Reverted
}

// Unreached is a revert record whose namespace no visit reached.
type Unreached struct {
	Name   string // its file
	Record sysctl.RevertRecord
	// Gone: no namespace has its identity any more (a dry run; a real run
	// drops such records first).
	Gone bool
}

// RevertReport is what Revert did in every namespace of the scope.
type RevertReport struct {
	Namespaces []Reverted
	Visits     Visits
	// Unreached: records of namespaces the visit did not reach (all only).
	Unreached []Unreached
	// BadRecords: records that could not be read (all only).
	BadRecords error
}

// Revert restores in every namespace of the scope the values its revert
// record holds, one transaction each, and forgets the record
// (sysctl.State.Revert). With all, records whose namespace was not
// reached are reported, not touched. A namespace a watch keeps is
// refused, as for Transact.
func (s *Scope) Revert(dryRun bool) (RevertReport, error) {
	var rep RevertReport
	got := map[*Member]sysctl.Reverted{}
	err := s.Locked("revert", dryRun, func() error {
		if s.all && !dryRun {
			if pid := s.state.Leased("all"); pid != 0 {
				return refusedf("revert: %s keeps a profile applied in every network namespace and would undo the revert: stop it first (systemctl stop tcpka-watch), then run tcpka revert --all-netns",
					WatchName(pid))
			}
		}
		reached := map[string]bool{}
		v, err := s.Visit(func(m *Member, fs sysctl.FS) error {
			if !dryRun {
				if pid := s.watchedBy(m.Identity); pid != 0 {
					return refusedf("revert: %s keeps a profile applied in this network namespace and would undo the revert: stop it first (systemctl stop tcpka-watch), then run tcpka revert",
						WatchName(pid))
				}
			}
			r, err := s.state.Revert(fs, m.Identity, dryRun)
			got[m] = r
			if r.Record != nil {
				reached[sysctl.RevertName(m.Identity)] = true
			}
			return err
		})
		rep.Visits = v
		if err != nil || !s.all {
			return err
		}
		recs, bad := s.state.RevertRecords()
		rep.BadRecords = bad
		var alive func(sysctl.NSID) bool
		for _, name := range slices.Sorted(maps.Keys(recs)) {
			if reached[name] {
				continue
			}
			if alive == nil {
				alive = Alive(s.roots.Proc, s.roots.Netns)
			}
			rep.Unreached = append(rep.Unreached, Unreached{Name: name, Record: recs[name], Gone: !alive(recs[name].NS)})
		}
		return nil
	})
	for i := range rep.Visits.Members {
		m := &rep.Visits.Members[i]
		rep.Namespaces = append(rep.Namespaces, Reverted{Member: m, Reverted: got[m]})
	}
	return rep, err
}

// Unreadable says why, for a listing, the network namespaces of other
// processes could not be read: it takes root, and root needs
// CAP_SYS_PTRACE for a process that holds capabilities tcpka lacks.
func Unreadable() string {
	switch {
	case os.Geteuid() != 0:
		return " (needs root)"
	case !caps.Has(caps.SysPtrace):
		return " (needs CAP_SYS_PTRACE)"
	}
	return ""
}
