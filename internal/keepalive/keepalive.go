package keepalive

import (
	"errors"
	"fmt"
	"strconv"
	"time"
)

// Settings is one set of keepalive values, in the kernel's units.
type Settings struct {
	// Time is the idle time before the first probe, in seconds:
	// tcp_keepalive_time, TCP_KEEPIDLE.
	Time int
	// Intvl is the time between unanswered probes, in seconds:
	// tcp_keepalive_intvl, TCP_KEEPINTVL.
	Intvl int
	// Probes is how many unanswered probes reset the connection:
	// tcp_keepalive_probes, TCP_KEEPCNT.
	Probes int
	// Retries2 bounds the retransmission of unacknowledged data:
	// tcp_retries2, a network namespace's only (sockets use their
	// namespace's).
	Retries2 int
	// UserTimeout is TCP_USER_TIMEOUT, a socket's only (0: none).
	UserTimeout time.Duration
}

// The kernel's limits. The per-socket ones (include/net/tcp.h:
// MAX_TCP_KEEPIDLE, MAX_TCP_KEEPINTVL, MAX_TCP_KEEPCNT) are the tighter
// of the two ways to set a value, so a valid value works as a sysctl and
// as a socket option. tcp_retries2 is a u8 sysctl; TCP_USER_TIMEOUT an int
// of milliseconds.
const (
	MaxTime        = 32767
	MaxIntvl       = 32767
	MaxProbes      = 127
	MaxRetries2    = 255
	MaxUserTimeout = (1<<31 - 1) * time.Millisecond
)

// KernelDefaults are the compiled-in values every new network namespace
// starts with (include/net/tcp.h; tcp_sk_init).
var KernelDefaults = Settings{Time: 7200, Intvl: 75, Probes: 9, Retries2: 15}

// Over returns base with every field that s sets (non-zero) replaced: what
// a socket or a namespace holds once s is applied to base.
func (s Settings) Over(base Settings) Settings {
	if s.Time != 0 {
		base.Time = s.Time
	}
	if s.Intvl != 0 {
		base.Intvl = s.Intvl
	}
	if s.Probes != 0 {
		base.Probes = s.Probes
	}
	if s.Retries2 != 0 {
		base.Retries2 = s.Retries2
	}
	if s.UserTimeout != 0 {
		base.UserTimeout = s.UserTimeout
	}
	return base
}

// Keepalive is s with only the three keepalive fields: what a socket's
// TCP_KEEPIDLE/INTVL/CNT say, without the namespace-wide and the
// per-socket extras.
func (s Settings) Keepalive() Settings {
	return Settings{Time: s.Time, Intvl: s.Intvl, Probes: s.Probes}
}

// PerSocket is s without tcp_retries2: what a socket option can carry
// (TCP_KEEPIDLE/INTVL/CNT and TCP_USER_TIMEOUT). tcp_retries2 exists only
// per network namespace.
func (s Settings) PerSocket() Settings {
	s.Retries2 = 0
	return s
}

// Sysctls is s without TCP_USER_TIMEOUT: what a network namespace's
// sysctls can carry.
func (s Settings) Sysctls() Settings {
	s.UserTimeout = 0
	return s
}

// SetsKeepalive says whether s sets any of the three keepalive fields.
func (s Settings) SetsKeepalive() bool { return s.Time != 0 || s.Intvl != 0 || s.Probes != 0 }

// IsZero says whether s sets nothing.
func (s Settings) IsZero() bool { return s == Settings{} }

// ErrOutOfRange is wrapped by Validate's errors.
var ErrOutOfRange = errors.New("out of range")

// Field names a field of Settings for messages and for the key-by-key
// loops of callers: the profile key, the sysctl and the socket option.
type Field int

// The fields, in the order they are shown and written.
const (
	Time Field = iota
	Intvl
	Probes
	Retries2
	UserTimeout
)

// Fields lists every field in order.
var Fields = [...]Field{Time, Intvl, Probes, Retries2, UserTimeout}

// Name is the profile key: "time", "interval", "probes", "retries2",
// "user_timeout".
func (f Field) Name() string {
	return [...]string{"time", "interval", "probes", "retries2", "user_timeout"}[f]
}

// Max is the largest valid value, in the field's unit (seconds, a count,
// or for UserTimeout milliseconds).
func (f Field) Max() int {
	return [...]int{MaxTime, MaxIntvl, MaxProbes, MaxRetries2, int(MaxUserTimeout / time.Millisecond)}[f]
}

// Get returns f's value: seconds, a count, or for UserTimeout milliseconds.
func (s Settings) Get(f Field) int {
	switch f {
	case Time:
		return s.Time
	case Intvl:
		return s.Intvl
	case Probes:
		return s.Probes
	case Retries2:
		return s.Retries2
	}
	return int(s.UserTimeout / time.Millisecond)
}

// Set stores n as f's value (for UserTimeout, in milliseconds).
func (s *Settings) Set(f Field, n int) {
	switch f {
	case Time:
		s.Time = n
	case Intvl:
		s.Intvl = n
	case Probes:
		s.Probes = n
	case Retries2:
		s.Retries2 = n
	default:
		s.UserTimeout = time.Duration(n) * time.Millisecond
	}
}

// Validate holds every field s sets to 1..Max: the kernel takes 0 and
// negatives through the sysctls, but probes=0 resets an idle connection
// as soon as the idle time ends, intvl=0 sends probes back to back, and a
// socket option out of range fails (in a BPF program, silently).
func (s Settings) Validate() error {
	for _, f := range Fields {
		if n := s.Get(f); n != 0 {
			if err := CheckField(f, n); err != nil {
				return err
			}
		}
	}
	if s.UserTimeout%time.Millisecond != 0 {
		return fmt.Errorf("user_timeout %s: %w: whole milliseconds", s.UserTimeout, ErrOutOfRange)
	}
	return nil
}

// CheckField refuses n for f unless it lies in 1..f.Max().
func CheckField(f Field, n int) error {
	if n >= 1 && n <= f.Max() {
		return nil
	}
	switch f {
	case Probes, Retries2:
		return fmt.Errorf("%s %d is %w: must be 1..%d", f.Name(), n, ErrOutOfRange, f.Max())
	case UserTimeout:
		return fmt.Errorf("%s %d ms is %w: must be 1..%d ms", f.Name(), n, ErrOutOfRange, f.Max())
	}
	return fmt.Errorf("%s %d s is %w: must be 1..%d s", f.Name(), n, ErrOutOfRange, f.Max())
}

// Triple prints the three keepalive values as "60/15/4".
func (s Settings) Triple() string {
	return strconv.Itoa(s.Time) + "/" + strconv.Itoa(s.Intvl) + "/" + strconv.Itoa(s.Probes)
}
