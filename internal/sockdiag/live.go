package sockdiag

import (
	"time"

	"github.com/tcpka/tcpka/internal/detect"
	"github.com/tcpka/tcpka/internal/keepalive"
)

// Live is the model's input for this socket (detect.Live): its armed timer
// and tcp_info, with eff, the values in force for it (its own options over
// its namespace's sysctls, the namespace's tcp_retries2, its
// TCP_USER_TIMEOUT), keepaliveOn (SO_KEEPALIVE; an armed keepalive timer
// says on whatever is given) and its namespace's net. Without tcp_info
// (Netlink.NoInfo) the model has only the timer to go by: it takes the
// peer as silent since now.
func (s *Socket) Live(eff keepalive.Settings, keepaliveOn bool, net detect.Net) detect.Live {
	l := detect.Live{
		Timer:       detect.Timer(s.Timer),
		Expires:     time.Duration(s.Expires) * time.Millisecond,
		KeepaliveOn: keepaliveOn || s.Timer == TimerKeepalive,
		Settings:    eff,
		Net:         net,
	}
	switch s.Timer {
	case TimerKeepalive, TimerProbe0:
		l.Out = int(s.Retrans) // icsk_probes_out
	case TimerRetransmit:
		l.Retransmits = int(s.Retrans) // icsk_retransmits
	}
	if !s.HasInfo {
		return l
	}
	i := &s.Info
	l.Out, l.Retransmits, l.Backoff, l.RTO = int(i.Probes), int(i.Retransmits), int(i.Backoff), i.RTO
	l.LastDataRecv, l.LastAckRecv = i.LastDataRecv, i.LastAckRecv
	// The RTO time of the only recovery there has been is the time since
	// its first retransmission (rto_stamp and retrans_stamp are one
	// moment when no fast retransmit came first).
	if i.TotalRTORecoveries == 1 && i.Retransmits > 0 {
		l.SinceRetransmit, l.SinceRetransmitKnown = i.TotalRTOTime, true
	}
	return l
}
