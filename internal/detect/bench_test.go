package detect

import (
	"testing"
	"time"

	"github.com/tcpka/tcpka/internal/keepalive"
)

// BenchmarkFate: the model of one live socket, as a scan of every socket
// runs it (the keepalive timer of a socket following 7200/75/9, and one
// retransmitting).
func BenchmarkFate(b *testing.B) {
	ka := Live{Timer: TimerKeepalive, KeepaliveOn: true, Expires: 5000 * time.Second, LastDataRecv: 2200 * time.Second, LastAckRecv: 2200 * time.Second,
		Settings: keepalive.KernelDefaults, Net: Net{HZ: 250}}
	rtx := Live{Timer: TimerRetransmit, Expires: time.Second, Retransmits: 3, Backoff: 3, RTO: 1632 * time.Millisecond,
		Settings: keepalive.KernelDefaults, Net: Net{HZ: 250}}
	b.Run("keepalive", func(b *testing.B) {
		for range b.N {
			ka.Fate()
		}
	})
	b.Run("retransmit", func(b *testing.B) {
		for range b.N {
			rtx.Fate()
		}
	})
}
