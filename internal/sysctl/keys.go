package sysctl

import (
	"strconv"
	"strings"

	"github.com/tcpka/tcpka/internal/keepalive"
)

// Key is one sysctl tcpka reads or writes.
type Key int

const (
	Time     Key = iota // tcp_keepalive_time: idle seconds before the first probe
	Intvl               // tcp_keepalive_intvl: seconds between unanswered probes
	Probes              // tcp_keepalive_probes: unanswered probes before reset
	Retries2            // tcp_retries2: how long unacknowledged data is retransmitted
)

// Keys lists the keys tcpka manages, in the order they are shown and
// written: the three keepalive keys, which bound an idle connection, and
// tcp_retries2, which bounds one with unacknowledged data in flight.
var Keys = []Key{Time, Intvl, Probes, Retries2}

// KeepaliveKeys are the three keys that decide an idle connection.
var KeepaliveKeys = []Key{Time, Intvl, Probes}

var keyNames = [...]string{"tcp_keepalive_time", "tcp_keepalive_intvl", "tcp_keepalive_probes", "tcp_retries2"}

// Name is the file name under /proc/sys/net/ipv4, e.g. "tcp_keepalive_time".
func (k Key) Name() string { return keyNames[k] }

// Dotted is the sysctl(8) name, e.g. "net.ipv4.tcp_keepalive_time".
func (k Key) Dotted() string { return "net.ipv4." + keyNames[k] }

// RelPath is the path below /proc/sys, e.g. "net/ipv4/tcp_keepalive_time".
func (k Key) RelPath() string { return "net/ipv4/" + keyNames[k] }

// Field is the keepalive.Settings field the key holds.
func (k Key) Field() keepalive.Field {
	return [...]keepalive.Field{keepalive.Time, keepalive.Intvl, keepalive.Probes, keepalive.Retries2}[k]
}

// Optional says whether a proc tree may lack the key: tcp_retries2 is read
// for the data-in-flight bound, and a tree without it (a bind mount of the
// keepalive files alone) still has keepalive. A missing optional key reads
// as 0, "unknown"; writing it is an error.
func (k Key) Optional() bool { return k == Retries2 }

// Unit is "s" for the two durations and "" for the counts.
func (k Key) Unit() string {
	if k == Time || k == Intvl {
		return "s"
	}
	return ""
}

// Meaning says in a few words what the key controls.
func (k Key) Meaning() string {
	return [...]string{
		"idle time before the first probe",
		"between unanswered probes",
		"unanswered probes before the connection is reset",
		"retransmissions before unacknowledged data gives up",
	}[k]
}

// Max is the largest value tcpka writes from a profile (see
// keepalive.Field.Max).
func (k Key) Max() int { return k.Field().Max() }

// Get is k's value in s.
func (k Key) Get(s keepalive.Settings) int { return s.Get(k.Field()) }

// Set stores n as k's value in s.
func (k Key) Set(s *keepalive.Settings, n int) { s.Set(k.Field(), n) }

// KeyByName accepts "tcp_keepalive_time", "net.ipv4.tcp_keepalive_time" or
// "net/ipv4/tcp_keepalive_time".
func KeyByName(s string) (Key, bool) {
	s = strings.ReplaceAll(s, "/", ".")
	s = strings.TrimPrefix(s, "net.ipv4.")
	for k := range keyNames {
		if keyNames[k] == s {
			return Key(k), true
		}
	}
	return 0, false
}

// SetKeys lists, in order, the managed keys that s sets (non-zero): what
// applying a profile writes.
func SetKeys(s keepalive.Settings) []Key {
	var out []Key
	for _, k := range Keys {
		if k.Get(s) != 0 {
			out = append(out, k)
		}
	}
	return out
}

// FormatValue prints v with its unit: "7200 s" or "9".
func FormatValue(k Key, v int) string {
	if u := k.Unit(); u != "" {
		return strconv.Itoa(v) + " " + u
	}
	return strconv.Itoa(v)
}

// Change is one key moving from Old to New.
type Change struct {
	Key Key
	Old int
	New int
}

// Diff lists, in key order, the keys among keys whose value in want
// differs from cur.
func Diff(want, cur keepalive.Settings, keys []Key) []Change {
	var out []Change
	for _, k := range keys {
		if n := k.Get(want); n != k.Get(cur) {
			out = append(out, Change{Key: k, Old: k.Get(cur), New: n})
		}
	}
	return out
}

// Drift lists the keys a profile sets whose kernel value differs.
func Drift(profile, cur keepalive.Settings) []Change { return Diff(profile, cur, SetKeys(profile)) }
