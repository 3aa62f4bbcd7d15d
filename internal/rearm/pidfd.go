package rearm

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/tcpka/tcpka/internal/keepalive"
	"github.com/tcpka/tcpka/internal/sockdiag"
	"github.com/tcpka/tcpka/internal/sysctl"
	"golang.org/x/sys/unix"
)

// readTimeSeconds reads tcp_keepalive_time of the calling thread's
// network namespace.
func readTimeSeconds(procRoot string) (int, error) {
	return sysctl.NewFS(procRoot).ReadKey(keepalive.Time)
}

// observed is what the pidfd method knows of one socket: the sock_diag
// dump, then, where it needed to ask, the owner's getsockopt.
type observed struct {
	timer     sockdiag.Timer
	expiresMs uint32 // sock_diag's idiag_expires
	// From the owner (read is false when the dump alone decided, or the
	// owner could not be reached).
	read      bool
	keepalive bool // SO_KEEPALIVE
	idle      int  // TCP_KEEPIDLE as getsockopt reports it, seconds
}

// decide is the pidfd method's rule. getsockopt(TCP_KEEPIDLE) reports
// the socket's own value or, when it has none, the sysctl, so a socket
// whose own value equals the sysctl reads as following it. Treating it so
// is safe: a toggle re-arms it with its own value (keepalive_time_when),
// which is the sysctl's, and only when its timer is due later than that,
// which a socket with that own value reaches only while probing with a
// longer interval; the re-arm then brings one probe forward. It never
// delays a probe and never changes a value. (The BPF method reads
// tcp_sock.keepalive_time and calls such a socket Own.)
//
// needOwner is true when the dump alone cannot decide.
func decide(o observed, limitSecs int) (v Verdict, needOwner bool) {
	if o.timer == sockdiag.TimerNone {
		// An established socket with keepalive on always has its
		// timer pending (or a retransmission one): no timer is off.
		return Off, false
	}
	if !o.read {
		return Unreachable, true
	}
	switch {
	case !o.keepalive:
		return Off, false
	case o.idle != limitSecs:
		return Own, false
	case o.timer != sockdiag.TimerKeepalive:
		return Busy, false
	case int64(o.expiresMs) <= int64(limitSecs)*1000:
		return Current, false
	}
	return Rearmed, false
}

// runPidfd is one pass of the fallback over the calling thread's network
// namespace: the sock_diag dump of the keepalive states, the owner of each
// socket from /proc/PID/fd, and for those the dump cannot decide, a
// duplicate of the owner's descriptor to read and toggle.
func runPidfd(ctx context.Context, opt Options, dry bool) (Result, error) {
	res := Result{Method: Pidfd}
	limit, err := readTimeSeconds(opt.ProcRoot)
	if err != nil {
		return res, err
	}
	res.Limit = time.Duration(limit) * time.Second
	procRoot := opt.ProcRoot
	if procRoot == "" {
		procRoot = sysctl.DefaultProcRoot
	}
	var owners *sockdiag.Owners // read on the first socket that needs one
	reader := sockdiag.NewOptionReader()
	defer reader.Close()
	var leftOff error
	err = sockdiag.Netlink{}.Each(stateMask(), func(s *sockdiag.Socket) error {
		if err := ctx.Err(); err != nil {
			return err
		}
		if s.Inode == 0 && orphanStates.Has(s.State) {
			return nil // closed by its process: not ours to touch or count
		}
		sock := Socket{Local: s.Local, Peer: s.Peer, State: s.State, Inode: s.Inode, DueIn: -1}
		o := observed{timer: s.Timer, expiresMs: s.Expires}
		v, needOwner := decide(o, limit)
		if needOwner && s.Inode != 0 {
			if owners == nil {
				var err error
				if owners, err = sockdiag.ReadOwners(procRoot); err != nil {
					return err
				}
			}
			if ow, ok := owners.Owner(s.Inode); ok {
				v, sock.Err = handle(reader, ow, s.Inode, o, limit, dry)
				if errors.Is(sock.Err, errLeftOff) && leftOff == nil {
					leftOff = fmt.Errorf("%s -> %s (pid %d fd %d): %w", s.Local, s.Peer, ow.PID, ow.FD, sock.Err)
				}
			}
		}
		if (v == Current || v == Rearmed) && s.Timer == sockdiag.TimerKeepalive {
			sock.DueIn = time.Duration(s.Expires) * time.Millisecond
		}
		sock.Verdict = v
		res.count(v)
		if opt.Each != nil {
			opt.Each(sock)
		}
		return nil
	})
	if err == nil {
		err = leftOff
	}
	return res, err
}

// orphanStates are the states close(2) leaves a connection in. A socket
// there without an inode has been closed by its process (an orphan, whose
// sk_timer may be its FIN-WAIT-2 timer); one in ESTABLISHED or
// CLOSE-WAIT without an inode has not been accepted yet. The BPF method
// tells orphans by SOCK_DEAD.
const orphanStates = sockdiag.States(1<<sockdiag.FinWait1 | 1<<sockdiag.FinWait2 | 1<<sockdiag.Closing | 1<<sockdiag.LastAck)

// handle reads one socket through its owner and toggles it where decide
// says so.
func handle(reader *sockdiag.OptionReader, ow sockdiag.Owner, inode uint32, o observed, limit int, dry bool) (Verdict, error) {
	fd, err := reader.Dup(ow, inode)
	if err != nil {
		return Unreachable, err // exited, closed the socket, or not permitted
	}
	defer unix.Close(fd)
	ka, err := unix.GetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_KEEPALIVE)
	if err != nil {
		return Failed, fmt.Errorf("getsockopt SO_KEEPALIVE: %w", err)
	}
	idle, err := unix.GetsockoptInt(fd, unix.IPPROTO_TCP, unix.TCP_KEEPIDLE)
	if err != nil {
		return Failed, fmt.Errorf("getsockopt TCP_KEEPIDLE: %w", err)
	}
	o.read, o.keepalive, o.idle = true, ka != 0, idle
	v, _ := decide(o, limit)
	if v != Rearmed || dry {
		return v, nil
	}
	// Between the getsockopt above and here the owner may change
	// SO_KEEPALIVE itself; the BPF method holds the socket lock across
	// both, this one cannot.
	if err := unix.SetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_KEEPALIVE, 0); err != nil {
		return Failed, fmt.Errorf("setsockopt SO_KEEPALIVE 0: %w", err)
	}
	if err := unix.SetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_KEEPALIVE, 1); err != nil {
		if err2 := unix.SetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_KEEPALIVE, 1); err2 != nil {
			return Failed, fmt.Errorf("%w: setsockopt SO_KEEPALIVE 1: %w", errLeftOff, err)
		}
	}
	return Rearmed, nil
}
