package human

import (
	"testing"
	"time"
)

func TestDuration(t *testing.T) {
	tests := map[int]string{
		0: "0s", 45: "45s", 60: "1m", 300: "5m", 450: "7m30s",
		3600: "1h", 7875: "2h11m15s", 7200: "2h", 3601: "1h1s", -90: "-1m30s",
	}
	for in, want := range tests {
		if got := Duration(in); got != want {
			t.Errorf("Duration(%d) = %q, want %q", in, got, want)
		}
	}
}

func TestSeconds(t *testing.T) {
	tests := map[int]string{25: "25 s", 59: "59 s", 60: "60 s (1m)", 7875: "7875 s (2h11m15s)", -5: "-5 s"}
	for in, want := range tests {
		if got := Seconds(in); got != want {
			t.Errorf("Seconds(%d) = %q, want %q", in, got, want)
		}
	}
}

func TestShortAndSpan(t *testing.T) {
	for in, want := range map[int]string{0: "0 s", 9: "9 s", 59: "59 s", 60: "1m", 872: "14m32s"} {
		if got := Short(in); got != want {
			t.Errorf("Short(%d) = %q, want %q", in, got, want)
		}
	}
	for in, want := range map[time.Duration]string{10 * time.Minute: "10m", 150 * time.Minute: "2h30m", 90 * time.Second: "1m30s",
		3900 * time.Millisecond: "3.9s", 250 * time.Millisecond: "250ms"} {
		if got := Span(in); got != want {
			t.Errorf("Span(%s) = %q, want %q", in, got, want)
		}
	}
}

func TestFloatSeconds(t *testing.T) {
	tests := map[time.Duration]string{
		25490 * time.Millisecond:  "25.49 s",
		928680 * time.Millisecond: "928.68 s (15m29s)",
	}
	for in, want := range tests {
		if got := FloatSeconds(in); got != want {
			t.Errorf("FloatSeconds(%s) = %q, want %q", in, got, want)
		}
	}
	if got := Tenths(924600 * time.Millisecond); got != "924.6 s" {
		t.Errorf("Tenths = %q", got)
	}
}

func TestSafe(t *testing.T) {
	tests := map[string]string{
		"/etc/tcpka/profile.yaml": "/etc/tcpka/profile.yaml",
		"web-0":                   "web-0",
		"a\x1b[31mred":            `"a\x1b[31mred"`,
		"two\nlines":              `"two\nlines"`,
		"bad\xffutf8":             `"bad\xffutf8"`,
	}
	for in, want := range tests {
		if got := Safe(in); got != want {
			t.Errorf("Safe(%q) = %s, want %s", in, got, want)
		}
	}
}
