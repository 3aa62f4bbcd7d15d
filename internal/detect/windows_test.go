package detect

import (
	"testing"
	"time"
)

func TestWindows(t *testing.T) {
	w := WindowsDefaults
	// 2 h idle, then 10 probes 1 s apart.
	if got := Idle(w.Keepalive()); got != 7210 {
		t.Errorf("Idle(Windows defaults) = %d, want 7210", got)
	}
	tests := []struct {
		retries int
		rto     time.Duration
		want    int
	}{
		{5, 3 * time.Second, 189},       // 3+6+12+24+48+96
		{5, 300 * time.Millisecond, 19}, // a short path: 18.9 s
		{3, 3 * time.Second, 45},        // 3+6+12+24
		{0, 3 * time.Second, 3},         // no retransmission: the first timer ends it
	}
	for _, tt := range tests {
		w.MaxDataRetransmissions, w.RTO = tt.retries, tt.rto
		if got := w.Data(); got != tt.want {
			t.Errorf("Data(retransmissions %d, RTO %s) = %d, want %d", tt.retries, tt.rto, got, tt.want)
		}
	}
}
