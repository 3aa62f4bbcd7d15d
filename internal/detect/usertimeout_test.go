package detect

import "testing"

func TestWithUserTimeout(t *testing.T) {
	tests := []struct {
		k    Keepalive
		ms   int
		want int
	}{
		{Keepalive{11, 7, 5}, 0, 46},       // not set: time + intvl*probes
		{Keepalive{11, 7, 5}, 3000, 18},    // shorter than the first probe: the second fire
		{Keepalive{11, 7, 5}, 18000, 18},   // exactly at a fire
		{Keepalive{11, 7, 5}, 18001, 25},   // just past: the next fire
		{Keepalive{11, 7, 5}, 30000, 32},   // 11 + 3*7
		{Keepalive{11, 7, 5}, 100000, 102}, // longer than probes allow: user timeout wins
		{Keepalive{7200, 75, 9}, 60000, 7275},
	}
	for _, tt := range tests {
		if got := tt.k.WithUserTimeout(tt.ms); got != tt.want {
			t.Errorf("%+v.WithUserTimeout(%d) = %d, want %d", tt.k, tt.ms, got, tt.want)
		}
	}
}
