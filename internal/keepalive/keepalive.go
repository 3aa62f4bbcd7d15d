package keepalive

import (
	"errors"
	"fmt"
	"strconv"
	"time"
)

// Settings is one set of keepalive values, in the kernel's units. The key
// table (Keys) says which sysctl, socket option, profile key, JSON field
// and metric carries each field.
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

	// extra holds the values of keys added with Register.
	extra [ExtraSlots]int
}

// KernelDefaults are the compiled-in values every new network namespace
// starts with (include/net/tcp.h; tcp_sk_init).
var KernelDefaults = Settings{Time: 7200, Intvl: 75, Probes: 9, Retries2: 15}

// Over returns base with every key that s sets (non-zero) replaced: what
// a socket or a namespace holds once s is applied to base.
func (s Settings) Over(base Settings) Settings {
	for _, k := range Keys() {
		if n := k.Get(s); n != 0 {
			k.Set(&base, n)
		}
	}
	return base
}

// only keeps the keys keep says yes to.
func (s Settings) only(keep func(*Key) bool) Settings {
	var out Settings
	for _, k := range Keys() {
		if keep(k) {
			k.Set(&out, k.Get(s))
		}
	}
	return out
}

// Keepalive is s with only the three keepalive fields: what a socket's
// TCP_KEEPIDLE/INTVL/CNT say, without the namespace-wide and the
// per-socket extras.
func (s Settings) Keepalive() Settings {
	return Settings{Time: s.Time, Intvl: s.Intvl, Probes: s.Probes}
}

// PerSocket is s with only the keys a socket option carries
// (TCP_KEEPIDLE/INTVL/CNT and TCP_USER_TIMEOUT): tcp_retries2 exists only
// per network namespace.
func (s Settings) PerSocket() Settings {
	return s.only(func(k *Key) bool { return k.SockOpt.Name != "" })
}

// Sysctls is s with only the keys a network namespace's sysctls hold
// (not TCP_USER_TIMEOUT).
func (s Settings) Sysctls() Settings {
	return s.only(func(k *Key) bool { return k.Sysctl != "" })
}

// SetsKeepalive says whether s sets any of the three keepalive fields.
func (s Settings) SetsKeepalive() bool { return s.Time != 0 || s.Intvl != 0 || s.Probes != 0 }

// IsZero says whether s sets nothing.
func (s Settings) IsZero() bool { return s == Settings{} }

// ErrOutOfRange is wrapped by Validate's errors.
var ErrOutOfRange = errors.New("out of range")

// Validate holds every key s sets to its Min..Max: the kernel takes 0 and
// negatives through the sysctls, but probes=0 resets an idle connection
// as soon as the idle time ends, intvl=0 sends probes back to back, and a
// socket option out of range fails (in a BPF program, silently).
func (s Settings) Validate() error {
	for _, k := range Keys() {
		if n := k.Get(s); n != 0 {
			if err := k.Check(n); err != nil {
				return err
			}
		}
	}
	if s.UserTimeout%time.Millisecond != 0 {
		return fmt.Errorf("user_timeout %s: %w: whole milliseconds", s.UserTimeout, ErrOutOfRange)
	}
	return nil
}

// Triple prints the three keepalive values as "60/15/4".
func (s Settings) Triple() string {
	return strconv.Itoa(s.Time) + "/" + strconv.Itoa(s.Intvl) + "/" + strconv.Itoa(s.Probes)
}

// Equal says whether s and o hold the same values (go-cmp compares
// settings with it).
func (s Settings) Equal(o Settings) bool { return s == o }
