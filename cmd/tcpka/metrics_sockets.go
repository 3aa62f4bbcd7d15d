package main

import (
	"os"
	"path/filepath"

	"github.com/tcpka/tcpka/internal/metrics"
	"github.com/tcpka/tcpka/internal/sockdiag"
	"github.com/tcpka/tcpka/internal/sockopt"
	"github.com/tcpka/tcpka/internal/sysctl"
)

func init() { socketSource = liveSocketSource }

// liveSocketSource feeds tcpka metrics' tcpka_sockets gauges from the same
// pipeline as `tcpka sockets --summary --processes`. Telling sockets that
// follow the sysctls from those with their own values needs each socket's
// options through pidfd_getfd, so it needs root and the real /proc; without
// them the gauges are left out (nil), never estimated.
func liveSocketSource(env *Env) (metrics.SocketSource, error) {
	if os.Geteuid() != 0 || filepath.Clean(env.ProcRoot) != sysctl.DefaultProcRoot {
		return nil, nil
	}
	return liveSockets{env}, nil
}

type liveSockets struct{ env *Env }

// SocketCounts summarises the established TCP sockets of the namespace:
// keepalive off, following the sysctls, or with their own values. Sockets
// whose options could not be read (owner gone mid-scan) count in neither
// of the last two.
func (l liveSockets) SocketCounts() (metrics.SocketCounts, error) {
	sysv, err := l.env.readValues()
	if err != nil {
		return metrics.SocketCounts{}, err
	}
	owners, err := sockdiag.ReadOwners(l.env.ProcRoot)
	if err != nil {
		return metrics.SocketCounts{}, err
	}
	opts := sockdiag.NewOptionReader()
	defer opts.Close()
	states, err := sockdiag.ParseStates("established")
	if err != nil {
		return metrics.SocketCounts{}, err
	}
	sum := sockdiag.NewSummary()
	sys := keepalive(sysv)
	err = l.env.inNetns(func() error {
		return sockdiag.Kernel{}.Each(states, func(s *sockdiag.Socket) error {
			var o *sockopt.Options
			if owner, ok := owners.Owner(s.Inode); ok {
				if v, err := opts.Read(owner, s.Inode); err == nil {
					o = &v
				}
			}
			sum.Add(sockdiag.Judge(s, o, sys))
			return nil
		})
	})
	if err != nil {
		return metrics.SocketCounts{}, err
	}
	return metrics.SocketCounts{Off: sum.KeepaliveOff, Sysctl: sum.Sysctl, Own: sum.Own}, nil
}
