package detect

import (
	"strconv"
	"strings"
	"time"
)

// Keepalive is a socket's or a netns's effective keepalive settings, in
// seconds, as the kernel stores them.
type Keepalive struct {
	Time   int // idle seconds before the first probe
	Intvl  int // seconds between unanswered probes
	Probes int // unanswered probes before the connection is reset
}

// IdleSeconds is the detection time of an idle connection whose peer is
// silently gone: Time + Intvl*Probes.
func (k Keepalive) IdleSeconds() int { return k.Time + k.Intvl*k.Probes }

// Idle is IdleSeconds as a duration.
func (k Keepalive) Idle() time.Duration { return time.Duration(k.IdleSeconds()) * time.Second }

// Words prints a whole number of seconds the way people read it, without
// zero units: 7875 -> "2h11m15s", 300 -> "5m", 45 -> "45s", 0 -> "0s".
func Words(seconds int) string {
	if seconds == 0 {
		return "0s"
	}
	var b strings.Builder
	if seconds < 0 {
		b.WriteByte('-')
		seconds = -seconds
	}
	h, m, s := seconds/3600, seconds/60%60, seconds%60
	if h > 0 {
		b.WriteString(strconv.Itoa(h) + "h")
	}
	if m > 0 {
		b.WriteString(strconv.Itoa(m) + "m")
	}
	if s > 0 {
		b.WriteString(strconv.Itoa(s) + "s")
	}
	return b.String()
}

// Seconds prints n with its unit and, past a minute, in words too:
// "7875 s (2h11m15s)", "45 s".
func Seconds(n int) string {
	if n < 60 && n > -60 {
		return strconv.Itoa(n) + " s"
	}
	return strconv.Itoa(n) + " s (" + Words(n) + ")"
}
