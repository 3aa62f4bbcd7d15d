package keepalive

import (
	"errors"
	"testing"
	"time"
)

func TestOver(t *testing.T) {
	base := KernelDefaults
	tests := []struct {
		name string
		s    Settings
		want Settings
	}{
		{"nothing set", Settings{}, base},
		{"time only", Settings{Time: 60}, Settings{Time: 60, Intvl: 75, Probes: 9, Retries2: 15}},
		{"all", Settings{Time: 300, Intvl: 30, Probes: 5, Retries2: 8, UserTimeout: time.Minute},
			Settings{Time: 300, Intvl: 30, Probes: 5, Retries2: 8, UserTimeout: time.Minute}},
	}
	for _, tt := range tests {
		if got := tt.s.Over(base); got != tt.want {
			t.Errorf("%s: Over = %+v, want %+v", tt.name, got, tt.want)
		}
	}
}

func TestValidate(t *testing.T) {
	tests := []struct {
		s  Settings
		ok bool
	}{
		{Settings{Time: 1, Intvl: 1, Probes: 1}, true},
		{Settings{Time: 32767, Intvl: 32767, Probes: 127, Retries2: 255}, true},
		{Settings{Time: 60}, true},
		{Settings{Time: -5}, false},
		{Settings{Time: 32768}, false},
		{Settings{Intvl: 40000}, false},
		{Settings{Probes: 128}, false},
		{Settings{Probes: 200}, false},
		{Settings{Retries2: 256}, false},
		{Settings{UserTimeout: -time.Second}, false},
		{Settings{UserTimeout: 1500 * time.Microsecond}, false},
		{Settings{UserTimeout: 90 * time.Second}, true},
	}
	for _, tt := range tests {
		err := tt.s.Validate()
		if (err == nil) != tt.ok {
			t.Errorf("Validate(%+v) = %v, want ok=%v", tt.s, err, tt.ok)
		}
		if err != nil && !errors.Is(err, ErrOutOfRange) {
			t.Errorf("Validate(%+v) = %v: does not wrap ErrOutOfRange", tt.s, err)
		}
	}
}

func TestKeysGetSet(t *testing.T) {
	var s Settings
	for i, k := range Keys() {
		k.Set(&s, i+1)
	}
	want := Settings{Time: 1, Intvl: 2, Probes: 3, Retries2: 4, UserTimeout: 5 * time.Millisecond}
	if s != want {
		t.Fatalf("Set each key: %+v, want %+v", s, want)
	}
	for i, k := range Keys() {
		if got := k.Get(s); got != i+1 {
			t.Errorf("Get(%s) = %d, want %d", k.Profile, got, i+1)
		}
	}
	if got := want.Keepalive(); got != (Settings{Time: 1, Intvl: 2, Probes: 3}) {
		t.Errorf("Keepalive() = %+v", got)
	}
	if got := want.PerSocket(); got != (Settings{Time: 1, Intvl: 2, Probes: 3, UserTimeout: 5 * time.Millisecond}) {
		t.Errorf("PerSocket() = %+v", got)
	}
	if got := want.Sysctls(); got != (Settings{Time: 1, Intvl: 2, Probes: 3, Retries2: 4}) {
		t.Errorf("Sysctls() = %+v", got)
	}
	if got := want.Triple(); got != "1/2/3" {
		t.Errorf("Triple() = %q", got)
	}
}

// TestTable holds the table's entries to what the kernel says: the sysctl
// files, the socket options and the limits of include/net/tcp.h.
func TestTable(t *testing.T) {
	tests := []struct {
		key             *Key
		sysctl, sockopt string
		max             int
		json, metric    string
	}{
		{Time, "tcp_keepalive_time", "TCP_KEEPIDLE", 32767, "time_s", "tcpka_keepalive_time_seconds"},
		{Intvl, "tcp_keepalive_intvl", "TCP_KEEPINTVL", 32767, "intvl_s", "tcpka_keepalive_interval_seconds"},
		{Probes, "tcp_keepalive_probes", "TCP_KEEPCNT", 127, "probes", "tcpka_keepalive_probes"},
		{Retries2, "tcp_retries2", "", 255, "retries2", "tcpka_tcp_retries2"},
		{UserTimeout, "", "TCP_USER_TIMEOUT", 1<<31 - 1, "user_timeout_ms", ""},
	}
	if len(Keys()) != len(tests) {
		t.Fatalf("the table has %d keys, the test %d", len(Keys()), len(tests))
	}
	for i, tt := range tests {
		k := tt.key
		if Keys()[i] != k || k.Sysctl != tt.sysctl || k.SockOpt.Name != tt.sockopt || k.Max != tt.max || k.Min != 1 || k.JSON != tt.json || k.Metric != tt.metric {
			t.Errorf("key %d (%s): %+v", i, k.Profile, *k)
		}
	}
	if got := len(SysctlKeys()); got != 4 {
		t.Errorf("SysctlKeys: %d keys, want 4", got)
	}
	if k, ok := KeyBySysctl("net/ipv4/tcp_retries2"); !ok || k != Retries2 {
		t.Errorf("KeyBySysctl(net/ipv4/tcp_retries2) = %v, %v", k, ok)
	}
	if k, ok := KeyByProfile("user_timeout"); !ok || k != UserTimeout {
		t.Errorf("KeyByProfile(user_timeout) = %v, %v", k, ok)
	}
	if got := Time.Format(7200) + " " + Probes.Format(9) + " " + UserTimeout.Format(25000); got != "7200 s 9 25000 ms" {
		t.Errorf("Format = %q", got)
	}
}
