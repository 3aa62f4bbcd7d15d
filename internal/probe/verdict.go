package probe

import (
	"errors"
	"fmt"
	"os"
	"strconv"
	"syscall"
	"time"

	"golang.org/x/sys/unix"
)

// DeadPeer says whether the survivor's read failed as it does for a dead
// host: ETIMEDOUT, within the time allowed. Whether it failed when the
// model says is detect.Confirms'.
func (r Result) DeadPeer() bool { return !r.TimedOut && r.Errno == syscall.ETIMEDOUT }

// ErrorName is how the survivor's read failed, for --json: an errno name
// ("ETIMEDOUT" for a dead host), the error's text, or "".
func (r Result) ErrorName() string {
	switch {
	case r.Errno != 0:
		return unix.ErrnoName(r.Errno)
	case r.Err != nil:
		return r.Err.Error()
	}
	return ""
}

// Describe says how the survivor's read failed, and whether that is how a
// dead host is reported.
func (r Result) Describe() string {
	switch {
	case r.Errno == syscall.ETIMEDOUT:
		return "ETIMEDOUT (connection timed out) on the survivor's read, as for a dead host"
	case r.Errno != 0:
		return fmt.Sprintf("%s (%v) on the survivor's read: not how a dead host is reported", unix.ErrnoName(r.Errno), r.Errno)
	}
	return fmt.Sprintf("%v: not how a dead host is reported", r.Err)
}

// Describe says what became of a connection held through the NAT.
func (h Held) Describe() string {
	if h.Survived {
		return fmt.Sprintf("survived: echo in %.1f ms after %s s idle", float64(h.Echo.Microseconds())/1000, strconv.FormatFloat(h.Idle.Seconds(), 'f', 2, 64))
	}
	switch {
	case errors.Is(h.Err, os.ErrDeadlineExceeded):
		return fmt.Sprintf("lost: no echo within %d s", int(DefaultEchoWait/time.Second))
	case h.Errno == syscall.ETIMEDOUT:
		return "lost: ETIMEDOUT, keepalive gave up (its probes went unanswered)"
	case h.Errno != 0:
		return fmt.Sprintf("lost: %s (%v)", unix.ErrnoName(h.Errno), h.Errno)
	}
	return "lost: " + h.Err.Error()
}

// ErrorName is a lost connection's reason for --json: an errno name,
// "no_echo" when nothing came back, "" when it survived.
func (h Held) ErrorName() string {
	switch {
	case h.Survived:
		return ""
	case errors.Is(h.Err, os.ErrDeadlineExceeded):
		return "no_echo"
	case h.Errno != 0:
		return unix.ErrnoName(h.Errno)
	}
	return h.Err.Error()
}
