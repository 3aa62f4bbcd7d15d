package probe

import (
	"syscall"
	"time"
)

// AcceptMax is the latest a measurement may come for the prediction pred
// to hold: 15 % plus a second later, room for the timer wheel's lateness
// (up to 8/63 of each timer) and a busy machine. The earliest is pred
// itself: kernel timers are never early.
func AcceptMax(pred time.Duration) time.Duration {
	return time.Duration(float64(pred)*1.15) + time.Second
}

// Matches says whether the measurement confirms the prediction pred: the
// survivor's read failed with ETIMEDOUT, as for a dead host, within
// [pred, AcceptMax(pred)].
func (r Result) Matches(pred time.Duration) bool {
	return !r.TimedOut && r.Errno == syscall.ETIMEDOUT && r.Measured >= pred && r.Measured <= AcceptMax(pred)
}
