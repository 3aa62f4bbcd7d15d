package detect

import "testing"

func TestIdleSeconds(t *testing.T) {
	// Figures from KERNEL-FACTS.md: predicted values for measured profiles.
	tests := []struct {
		k    Keepalive
		want int
	}{
		{Keepalive{7200, 75, 9}, 7875},
		{Keepalive{2, 1, 3}, 5},
		{Keepalive{10, 5, 3}, 25},
		{Keepalive{20, 1, 1}, 21},
	}
	for _, tt := range tests {
		if got := tt.k.IdleSeconds(); got != tt.want {
			t.Errorf("%+v.IdleSeconds() = %d, want %d", tt.k, got, tt.want)
		}
	}
}

func TestWords(t *testing.T) {
	tests := map[int]string{
		0: "0s", 45: "45s", 60: "1m", 300: "5m", 450: "7m30s",
		3600: "1h", 7875: "2h11m15s", 7200: "2h", 3601: "1h1s", -90: "-1m30s",
	}
	for in, want := range tests {
		if got := Words(in); got != want {
			t.Errorf("Words(%d) = %q, want %q", in, got, want)
		}
	}
}

func TestSeconds(t *testing.T) {
	tests := map[int]string{25: "25 s", 59: "59 s", 60: "60 s (1m)", 7875: "7875 s (2h11m15s)"}
	for in, want := range tests {
		if got := Seconds(in); got != want {
			t.Errorf("Seconds(%d) = %q, want %q", in, got, want)
		}
	}
}
