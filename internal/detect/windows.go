package detect

import (
	"time"

	"github.com/tcpka/tcpka/internal/keepalive"
)

// Windows is a Windows machine's TCP stack at its documented defaults.
// tcpka cannot read a Windows client's settings (a PuTTY registry export
// says nothing of them), so for PuTTY on Windows these stand in for the
// kernel values. The figures and where Microsoft documents them:
//
//   - KeepAliveTime 7,200,000 ms (2 h) and KeepAliveInterval 1,000 ms,
//     under HKLM\SYSTEM\CurrentControlSet\Services\Tcpip\Parameters
//     (TechNet, Windows 2000/2003 TCP/IP registry reference, cc957549 and
//     cc957548).
//   - 10 keepalive probes: fixed since Windows Vista (the remarks of the
//     SIO_KEEPALIVE_VALS control code, learn.microsoft.com).
//   - TcpMaxDataRetransmissions 5: a data segment is retransmitted up to 5
//     times before the connection is aborted; the retransmission timer is
//     initialized to 3 s when the connection is established, adjusted to
//     the measured round trip, and doubled after each retransmission
//     (KB 170359, "How to modify the TCP/IP maximum retransmission
//     time-out"; TechNet cc938210).
type Windows struct {
	KeepAliveTime, KeepAliveInterval int // seconds
	KeepAliveProbes                  int
	MaxDataRetransmissions           int
	RTO                              time.Duration // the first retransmission timer
}

// WindowsDefaults are the documented defaults above.
var WindowsDefaults = Windows{
	KeepAliveTime: 7200, KeepAliveInterval: 1, KeepAliveProbes: 10,
	MaxDataRetransmissions: 5, RTO: 3 * time.Second,
}

// Keepalive is w's TCP keepalive as the one value type, for Idle: the
// first probe after KeepAliveTime idle, then KeepAliveProbes probes
// KeepAliveInterval apart (7210 s at the defaults).
func (w Windows) Keepalive() keepalive.Settings {
	return keepalive.Settings{Time: w.KeepAliveTime, Intvl: w.KeepAliveInterval, Probes: w.KeepAliveProbes}
}

// Data is the time, in whole seconds, until Windows gives up on
// unacknowledged data: the segment's timer expires, it is retransmitted
// MaxDataRetransmissions times with the timer doubling each time, and the
// connection is aborted when the timer after the last retransmission
// expires (tcpka's reading of KB 170359): RTO × (2^(n+1) − 1), 189 s at
// the defaults. On a short path the measured round trip makes the timer
// smaller and Windows gives up sooner; this is the figure at the
// documented 3 s.
func (w Windows) Data() int {
	total := w.RTO * time.Duration((int64(2)<<w.MaxDataRetransmissions)-1)
	return int((total + time.Second/2) / time.Second)
}
