package human

import (
	"fmt"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"
)

// Duration prints a whole number of seconds the way people read it,
// without zero units: 7875 -> "2h11m15s", 300 -> "5m", 45 -> "45s", 0 ->
// "0s".
func Duration(seconds int) string {
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
	return strconv.Itoa(n) + " s (" + Duration(n) + ")"
}

// Short prints a time in one column's style: seconds with their unit
// under a minute, the duration above: "9 s", "14m32s".
func Short(n int) string {
	if n < 60 && n > -60 {
		return strconv.Itoa(n) + " s"
	}
	return Duration(n)
}

// Span prints a duration a flag was given as, without Go's zero units:
// "10m" for 10m0s, "2h30m", "1m30s"; a duration with a fraction of a
// second keeps Go's form ("3.9s", "250ms").
func Span(d time.Duration) string {
	if d%time.Second != 0 {
		return d.String()
	}
	return Duration(int(d / time.Second))
}

// FloatSeconds prints a measured or predicted time with two decimals and
// its unit, and past a minute in words: "25.49 s", "928.68 s (15m29s)".
func FloatSeconds(d time.Duration) string {
	s := fmt.Sprintf("%.2f s", d.Seconds())
	if d >= time.Minute {
		s += " (" + Duration(int(d.Round(time.Second)/time.Second)) + ")"
	}
	return s
}

// Tenths prints a duration in seconds with one decimal: "924.6 s".
func Tenths(d time.Duration) string { return fmt.Sprintf("%.1f s", d.Seconds()) }

// Safe is s for a terminal or a log line: a string with control
// characters or invalid UTF-8 (a path, a process or session name anyone
// can choose) is quoted with Go escapes, so it cannot move the cursor,
// recolour the screen or forge a line.
func Safe(s string) string {
	for _, r := range s {
		if r < 0x20 || r == 0x7f || r == utf8.RuneError || (r >= 0x80 && r < 0xa0) {
			return strconv.Quote(s)
		}
	}
	return s
}

// Plural is word, with an s unless n is 1: "1 key", "3 keys".
func Plural(n int, word string) string {
	if n == 1 {
		return word
	}
	return word + "s"
}

// Verb is one when n is 1, else many: "1 differs", "3 differ".
func Verb(n int, one, many string) string {
	if n == 1 {
		return one
	}
	return many
}

// OneLine keeps a message to one line, whatever a library put in it:
// line breaks become "; ", runs of space one space.
func OneLine(s string) string {
	return strings.Join(strings.Fields(strings.ReplaceAll(s, "\n", "; ")), " ")
}
