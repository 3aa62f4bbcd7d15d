package sysctl

import (
	"github.com/tcpka/tcpka/internal/keepalive"
)

// Key is one sysctl tcpka reads or writes: an entry of the one key table
// (keepalive.Keys) that a namespace's sysctl holds.
type Key = *keepalive.Key

// Keys lists the keys tcpka manages, in the order they are shown and
// written: the three keepalive keys, which bound an idle connection, and
// tcp_retries2, which bounds one with unacknowledged data in flight (and
// any key registered after them).
func Keys() []Key { return keepalive.SysctlKeys() }

// SetKeys lists, in order, the managed keys that s sets (non-zero): what
// applying a profile writes.
func SetKeys(s keepalive.Settings) []Key {
	var out []Key
	for _, k := range Keys() {
		if k.Get(s) != 0 {
			out = append(out, k)
		}
	}
	return out
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
