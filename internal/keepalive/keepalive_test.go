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

func TestFieldsGetSet(t *testing.T) {
	var s Settings
	for i, f := range Fields {
		s.Set(f, i+1)
	}
	want := Settings{Time: 1, Intvl: 2, Probes: 3, Retries2: 4, UserTimeout: 5 * time.Millisecond}
	if s != want {
		t.Fatalf("Set each field: %+v, want %+v", s, want)
	}
	for i, f := range Fields {
		if got := s.Get(f); got != i+1 {
			t.Errorf("Get(%s) = %d, want %d", f.Name(), got, i+1)
		}
	}
	if got := want.Keepalive(); got != (Settings{Time: 1, Intvl: 2, Probes: 3}) {
		t.Errorf("Keepalive() = %+v", got)
	}
	if got := want.Triple(); got != "1/2/3" {
		t.Errorf("Triple() = %q", got)
	}
}
