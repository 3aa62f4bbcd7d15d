package sysctl

import (
	"errors"
	"fmt"
	"strconv"
	"strings"
)

// Key is one of the three keepalive sysctls.
type Key int

const (
	Time   Key = iota // tcp_keepalive_time: idle seconds before the first probe
	Intvl             // tcp_keepalive_intvl: seconds between unanswered probes
	Probes            // tcp_keepalive_probes: unanswered probes before reset
)

// Keys lists the keys in the order they are shown and written.
var Keys = [...]Key{Time, Intvl, Probes}

var keyNames = [...]string{"tcp_keepalive_time", "tcp_keepalive_intvl", "tcp_keepalive_probes"}

// Name is the file name under /proc/sys/net/ipv4, e.g. "tcp_keepalive_time".
func (k Key) Name() string { return keyNames[k] }

// Dotted is the sysctl(8) name, e.g. "net.ipv4.tcp_keepalive_time".
func (k Key) Dotted() string { return "net.ipv4." + keyNames[k] }

// RelPath is the path below /proc/sys, e.g. "net/ipv4/tcp_keepalive_time".
func (k Key) RelPath() string { return "net/ipv4/" + keyNames[k] }

// Unit is "s" for the two durations and "" for the probe count.
func (k Key) Unit() string {
	if k == Probes {
		return ""
	}
	return "s"
}

// Meaning says in a few words what the key controls.
func (k Key) Meaning() string {
	switch k {
	case Time:
		return "idle time before the first probe"
	case Intvl:
		return "between unanswered probes"
	default:
		return "unanswered probes before the connection is reset"
	}
}

// Max is the largest value tcpka accepts: the kernel's per-socket limits
// MAX_TCP_KEEPIDLE/MAX_TCP_KEEPINTVL (32767 s) and MAX_TCP_KEEPCNT (127), so
// a value is valid both as a sysctl and as a per-socket option.
func (k Key) Max() int {
	if k == Probes {
		return 127
	}
	return 32767
}

// KeyByName accepts "tcp_keepalive_time", "net.ipv4.tcp_keepalive_time" or
// "net/ipv4/tcp_keepalive_time".
func KeyByName(s string) (Key, bool) {
	s = strings.ReplaceAll(s, "/", ".")
	s = strings.TrimPrefix(s, "net.ipv4.")
	for _, k := range Keys {
		if keyNames[k] == s {
			return k, true
		}
	}
	return 0, false
}

// ErrOutOfRange is wrapped by Validate's errors.
var ErrOutOfRange = errors.New("out of range")

// Validate refuses values the kernel would take but that break keepalive:
// 0 and negatives (probes=0 kills idle connections at once, intvl=0 probes
// back to back) and values past the per-socket limits.
func Validate(k Key, v int) error {
	if v < 1 || v > k.Max() {
		return fmt.Errorf("%s: %d is %w: must be 1..%d%s", k.Name(), v, ErrOutOfRange, k.Max(), unitSuffix(k))
	}
	return nil
}

func unitSuffix(k Key) string {
	if u := k.Unit(); u != "" {
		return " " + u
	}
	return ""
}

// FormatValue prints v with its unit: "7200 s" or "9".
func FormatValue(k Key, v int) string {
	return strconv.Itoa(v) + unitSuffix(k)
}
