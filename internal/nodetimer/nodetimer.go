package nodetimer

import (
	"errors"
	"fmt"

	"github.com/tcpka/tcpka/internal/detect"
	"github.com/tcpka/tcpka/internal/keepalive"
	"golang.org/x/sys/unix"
)

// Kind is what keeps the timer: the JSON value and the metric label.
type Kind string

// Kinds, in the order Read lists them.
const (
	Conntrack    Kind = "conntrack"
	IPVS         Kind = "ipvs"
	NftCtTimeout Kind = "nft-ct-timeout"
)

// Sentinels wrapped by Unread.Err, for callers that decide (exit codes, a
// hint to run as root).
var (
	// ErrNotPermitted: reading it needs CAP_NET_ADMIN (nfnetlink and
	// IPVS's generic netlink family refuse everyone else).
	ErrNotPermitted = errors.New("needs CAP_NET_ADMIN")
	// ErrUnreadable: it is there but could not be read.
	ErrUnreadable = errors.New("cannot read")
)

// Timer is one timer that forgets an idle TCP flow after IdleTimeoutS
// seconds of silence.
type Timer struct {
	Kind Kind
	// Name: the sysctl (conntrack), "tcp" (ipvs), the object's name
	// (nft-ct-timeout).
	Name         string
	IdleTimeoutS int
	// Source is where it was read: a file, a netlink query, an nft table.
	Source string
	// Note qualifies where it applies ("" when everywhere): conntrack
	// tracking nothing now, IPVS without TCP services, an nft policy only
	// for flows a rule assigns it to.
	Note string
	// Applies: some flow of this namespace can meet it now: conntrack
	// tracks flows (or how many is unknown), IPVS has TCP virtual services
	// (or unknown), an nft policy exists. show, metrics and plan --path
	// node judge only these; --json lists all.
	Applies bool
}

// Unread is a kind that has no timer here, or could not be read, and why.
type Unread struct {
	Kind Kind
	Why  string
	// Err is set when the kind is there but was not read (wraps
	// ErrNotPermitted or ErrUnreadable); nil when it is simply absent.
	Err error
}

// Report is every timer found, and what was not.
type Report struct {
	Timers []Timer
	Unread []Unread
}

// Shortest is the timer that applies with the smallest idle timeout; ok
// is false when there is none.
func (r Report) Shortest() (t Timer, ok bool) {
	for _, x := range r.Timers {
		if x.Applies && (!ok || x.IdleTimeoutS < t.IdleTimeoutS) {
			t, ok = x, true
		}
	}
	return t, ok
}

// Sources is where Read looks; the zero value of each field is the real
// kernel, tests put fakes in.
type Sources struct {
	// ProcRoot is procfs ("/proc"): the conntrack sysctls under
	// sys/net/netfilter and IPVS's thread-self/net/ip_vs, both seen from
	// the calling thread's network namespace.
	ProcRoot string
	// IPVSConfig asks the kernel for IPVS's timeouts (nil: generic
	// netlink).
	IPVSConfig func() (IPVSTimeouts, error)
	// CtTimeouts dumps nftables ct timeout objects (nil: nfnetlink).
	CtTimeouts func() ([]CtTimeout, error)
}

// Read lists the timers of the calling thread's network namespace, as
// seen under procRoot. It does not fail: what it cannot read is in
// Report.Unread with the reason.
func Read(procRoot string) Report { return Sources{ProcRoot: procRoot}.Read() }

// Read is the package Read with these sources.
func (s Sources) Read() Report {
	if s.ProcRoot == "" {
		s.ProcRoot = "/proc"
	}
	if s.IPVSConfig == nil {
		s.IPVSConfig = ReadIPVSConfig
	}
	if s.CtTimeouts == nil {
		s.CtTimeouts = DumpCtTimeouts
	}
	r := Report{Timers: []Timer{}, Unread: []Unread{}}
	add := func(ts []Timer, u *Unread) {
		r.Timers = append(r.Timers, ts...)
		if u != nil {
			r.Unread = append(r.Unread, *u)
		}
	}
	add(s.conntrack())
	add(s.ipvs())
	add(s.nft())
	return r
}

// unreadErr sorts an error from a netlink query into the sentinels.
func unreadErr(k Kind, what string, err error) *Unread {
	if errors.Is(err, unix.EPERM) || errors.Is(err, unix.EACCES) {
		err = fmt.Errorf("%s: %w (%w)", what, ErrNotPermitted, err)
		return &Unread{Kind: k, Why: what + " needs root (CAP_NET_ADMIN)", Err: err}
	}
	err = fmt.Errorf("%s: %w: %w", what, ErrUnreadable, err)
	return &Unread{Kind: k, Why: err.Error(), Err: err}
}

// KeepsOpen is the one-line check for a connection whose keepalive runs
// with s (its effective settings, SO_KEEPALIVE on): do its answered probes
// keep its flow through t? It is the model's verdict, detect.KeepsOpen, on
// the probes' period.
func (t Timer) KeepsOpen(s keepalive.Settings) bool {
	return detect.KeepsOpenWith(s, t.IdleTimeoutS)
}

// Label names the timer for people: "conntrack (net.netfilter.nf_conntrack_tcp_timeout_established)".
func (t Timer) Label() string {
	if t.Name == "" {
		return string(t.Kind)
	}
	return string(t.Kind) + " (" + t.Name + ")"
}
