package rearm

import (
	"context"
	"errors"
	"fmt"
	"net/netip"
	"sync"
	"time"

	"github.com/tcpka/tcpka/internal/sockdiag"
)

// ErrUnsupported is wrapped when the running kernel cannot re-arm through
// a BPF iterator: no kernel BTF, no tcp iterator, bpf_setsockopt not
// allowed in it (before Linux 5.15), kernel structures not as expected, or
// any other refusal before the program ran. With Method Auto, Namespace
// falls back to pidfd on it.
var ErrUnsupported = errors.New("BPF re-arm unsupported by this kernel")

// errLeftOff is wrapped when the kernel took SO_KEEPALIVE=0 but then refused
// SO_KEEPALIVE=1 on a socket: that socket's keepalive is off. It has not
// been seen to happen (both calls go through the same checks); it is
// reported because it would be the one change tcpka must never make. It
// is not exported: a caller does nothing different from any other failure
// (exit 1), the message says which socket.
var errLeftOff = errors.New("keepalive left off")

// Method is how sockets are reached.
type Method string

// Methods.
const (
	// Auto tries BPF and falls back to Pidfd when the kernel cannot run
	// it (ErrUnsupported) or BPF is refused (enforce.ErrPermission).
	Auto Method = ""
	// BPF is one pass of a BPF TCP iterator over the namespace: no
	// process is touched, sockets without an owner process are reached,
	// the own idle time is read exactly (tcp_sock.keepalive_time), and the
	// check and the toggle happen under the socket's lock. Linux 5.15+
	// with BTF.
	BPF Method = "bpf"
	// Pidfd duplicates each socket from its owner with pidfd_getfd (as
	// enforce --pid does), checks it with getsockopt and toggles it. Linux
	// 5.6+; reaches only sockets some process holds in /proc.
	Pidfd Method = "pidfd"
)

// Verdict is what happened to one socket.
type Verdict uint8

// Verdicts.
const (
	// Off: SO_KEEPALIVE is off. Left alone: re-arming never turns
	// keepalive on.
	Off Verdict = iota + 1
	// Own: the socket has its own TCP_KEEPIDLE, which the sysctls do not
	// govern. Left alone: re-arming never gives or takes values.
	Own
	// Current: follows the sysctls and its keepalive timer is already due
	// within tcp_keepalive_time: nothing to do. A re-arm would only push
	// the fire later.
	Current
	// Rearmed: its timer was due later than tcp_keepalive_time allows (or
	// not pending): SO_KEEPALIVE was toggled off and on, and the timer now
	// fires tcp_keepalive_time from now. In a dry run: would be.
	Rearmed
	// Busy (pidfd only): a retransmission or zero-window probe timer hides
	// the keepalive timer from sock_diag, so its due time is unknown. Left
	// alone; data in flight is bounded by retransmission, not keepalive.
	Busy
	// Unreachable (pidfd only): no process holds it in /proc (kernel
	// sockets, processes in another pid namespace, connections not yet
	// accepted), or the owner could not be reached (it exited or closed
	// the socket meanwhile, or may not be traced). Err says why where
	// there is one.
	Unreachable
	// Failed: the kernel refused a getsockopt or the toggle. Err says
	// why.
	Failed
)

var verdictNames = [...]string{Off: "keepalive_off", Own: "own_values", Current: "current", Rearmed: "rearmed",
	Busy: "busy", Unreachable: "unreachable", Failed: "failed"}

// String names the verdict as JSON and metrics would.
func (v Verdict) String() string {
	if int(v) < len(verdictNames) && verdictNames[v] != "" {
		return verdictNames[v]
	}
	return fmt.Sprintf("verdict-%d", uint8(v))
}

// Socket is one connection as re-arming judged it.
type Socket struct {
	Local, Peer netip.AddrPort
	State       sockdiag.State
	Inode       uint32 // 0 where the socket has no file (kernel, orphan, not accepted)
	// DueIn is how long its keepalive timer had left before re-arming; -1
	// when no timer was pending or it is not known (Off, Own, Busy,
	// Unreachable).
	DueIn   time.Duration
	Verdict Verdict
	Err     error // with Failed
}

// Result counts what one pass did in one network namespace: every TCP
// socket in a state with a keepalive timer (established, FIN-WAIT-1/2,
// CLOSE-WAIT, CLOSING, LAST-ACK) once. Sockets their process has already
// closed (orphans, finishing their close on their own timers) are neither
// touched nor counted.
type Result struct {
	Method Method
	// Fallback says why Auto did not use BPF (nil when it did, or when a
	// method was asked for).
	Fallback error
	DryRun   bool

	Rearmed     int // re-armed (DryRun: would be)
	Current     int // following the sysctls, timer already due in time
	Own         int // own TCP_KEEPIDLE: skipped
	Off         int // keepalive off: skipped
	Busy        int // pidfd only: timer hidden by a retransmission
	Unreachable int // pidfd only: no owner found
	Failed      int
	// Limit is the namespace's tcp_keepalive_time the pass compared with.
	Limit time.Duration
	Took  time.Duration
}

// Total is the number of sockets judged.
func (r Result) Total() int {
	return r.Rearmed + r.Current + r.Own + r.Off + r.Busy + r.Unreachable + r.Failed
}

func (r *Result) count(v Verdict) {
	switch v {
	case Off:
		r.Off++
	case Own:
		r.Own++
	case Current:
		r.Current++
	case Rearmed:
		r.Rearmed++
	case Busy:
		r.Busy++
	case Unreachable:
		r.Unreachable++
	case Failed:
		r.Failed++
	}
}

// Options control a pass.
type Options struct {
	Method Method
	// ProcRoot is where the pidfd method finds sockets' owners and reads
	// the sysctls ("" is /proc).
	ProcRoot string
	// Each, when set, is called with every socket judged, after it was
	// handled.
	Each func(Socket)
}

// Namespace re-arms, in the network namespace of the calling thread, the
// keepalive timer of every TCP connection that has SO_KEEPALIVE on, no own
// TCP_KEEPIDLE, and a timer due later than the namespace's
// tcp_keepalive_time allows, so that the current sysctls hold from now
// on. Run it inside netns.Do for another namespace (the BPF iterator
// walks the namespace of the thread that creates it; sock_diag and
// /proc/sys/net answer for the calling thread's).
//
// It never turns keepalive on or off for good, never sets a per-socket
// value, and never makes a timer fire later than it would have: a socket
// whose timer is already due within the sysctl is left alone, so running
// it again (watch) changes nothing until the sysctls are lowered again.
//
// A non-nil error with a partly filled Result means the pass stopped
// part way (ctx cancelled, a socket left with keepalive off); the counts
// say what was done.
//
// It loads the BPF program for this one pass; a caller that visits many
// namespaces, or comes back every interval, keeps a Rearmer instead.
func Namespace(ctx context.Context, opt Options) (Result, error) {
	r := New(opt)
	defer r.Close()
	return r.Namespace(ctx)
}

// DryRun counts what Namespace would do, changing nothing: Rearmed counts
// the sockets it would re-arm.
func DryRun(ctx context.Context, opt Options) (Result, error) {
	r := New(opt)
	defer r.Close()
	return r.DryRun(ctx)
}

// Rearmer runs passes, one namespace at a time, and keeps the BPF
// programs it loaded (about 30 ms to load and verify) until Close; it
// also remembers that BPF cannot run here, so Auto goes straight to pidfd
// after the first refusal. Nothing it loads is pinned or attached to
// anything: the programs run only while a pass reads its iterator, and
// Close (or the process's exit) frees them. Safe for concurrent use;
// passes run one at a time.
type Rearmer struct {
	opt    Options
	mu     sync.Mutex
	iters  [2]*bpfIter // live, dry; loaded on first use
	bpfErr error       // why BPF cannot run (ErrUnsupported, enforce.ErrPermission)
}

// New returns a Rearmer for opt; it loads nothing yet.
func New(opt Options) *Rearmer { return &Rearmer{opt: opt} }

// Namespace is the package's Namespace with what r loaded.
func (r *Rearmer) Namespace(ctx context.Context) (Result, error) { return r.run(ctx, false) }

// DryRun is the package's DryRun with what r loaded.
func (r *Rearmer) DryRun(ctx context.Context) (Result, error) { return r.run(ctx, true) }

// Close frees the loaded programs.
func (r *Rearmer) Close() error {
	r.mu.Lock()
	defer r.mu.Unlock()
	var errs []error
	for i, it := range r.iters {
		if it != nil {
			errs = append(errs, it.close())
			r.iters[i] = nil
		}
	}
	return errors.Join(errs...)
}

func (r *Rearmer) run(ctx context.Context, dry bool) (Result, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	start := time.Now()
	var res Result
	var err error
	switch r.opt.Method {
	case BPF:
		res, err = r.runBPF(ctx, dry)
	case Pidfd:
		res, err = runPidfd(ctx, r.opt, dry)
	case Auto:
		res, err = r.runBPF(ctx, dry)
		if fallback(err) {
			why := err
			res, err = runPidfd(ctx, r.opt, dry)
			res.Fallback = why
		}
	default:
		return Result{}, fmt.Errorf("re-arm: unknown method %q (want bpf or pidfd)", r.opt.Method)
	}
	res.DryRun = dry
	res.Took = time.Since(start)
	return res, err
}
