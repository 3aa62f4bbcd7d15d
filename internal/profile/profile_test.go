package profile

import (
	"errors"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/tcpka/tcpka/internal/detect"
	"github.com/tcpka/tcpka/internal/keepalive"
	"github.com/tcpka/tcpka/internal/testkit"
	"golang.org/x/sys/unix"
)

func TestDecodeGood(t *testing.T) {
	tests := []struct {
		file     string
		wantName string
		want     keepalive.Settings
	}{
		{"full.yaml", "full", keepalive.Settings{Time: 300, Intvl: 30, Probes: 5}},
		{"time-only.yaml", "time-only", keepalive.Settings{Time: 600}},
		{"bare-seconds.yaml", "legacy", keepalive.Settings{Time: 600, Intvl: 45, Probes: 16}},
		{"data.yaml", "data", keepalive.Settings{Time: 60, Intvl: 15, Probes: 4, Retries2: 8, UserTimeout: 2 * time.Minute}},
	}
	for _, tt := range tests {
		t.Run(tt.file, func(t *testing.T) {
			p, err := LoadFile(filepath.Join("testdata/good", tt.file))
			if err != nil {
				t.Fatal(err)
			}
			if p.Name != tt.wantName {
				t.Errorf("Name = %q, want %q", p.Name, tt.wantName)
			}
			if p.Settings != tt.want {
				t.Errorf("Settings = %+v, want %+v", p.Settings, tt.want)
			}
		})
	}
}

// TestDecodeBad checks the exact one-line message for each bad input: file,
// line, key and reason, as the user sees it after "tcpka: ".
func TestDecodeBad(t *testing.T) {
	tests := []struct {
		file string
		want string
	}{
		{"unknown-key.yaml", "testdata/bad/unknown-key.yaml:3: probe: unknown key (known: name, description, time, interval, probes, retries2, user_timeout, idle_timeout, detect_within, sources)"},
		{"duplicate-key.yaml", "testdata/bad/duplicate-key.yaml:3: time: duplicate key (first set on line 1)"},
		{"wrong-type.yaml", "testdata/bad/wrong-type.yaml:2: probes: must be a whole number, not a string"},
		{"fraction.yaml", "testdata/bad/fraction.yaml:1: time: must be whole seconds, not a fraction"},
		{"fraction-float.yaml", "testdata/bad/fraction-float.yaml:1: time: must be whole seconds, not a fraction"},
		{"zero.yaml", "testdata/bad/zero.yaml:2: probes: 0 is out of range: must be 1..127"},
		{"negative.yaml", "testdata/bad/negative.yaml:1: interval: -30s is out of range: must be 1s..32767s"},
		{"time-too-large.yaml", "testdata/bad/time-too-large.yaml:1: time: 32768s is out of range: must be 1s..32767s"},
		{"interval-too-large.yaml", "testdata/bad/interval-too-large.yaml:1: interval: 36000s is out of range: must be 1s..32767s"},
		{"probes-too-large.yaml", "testdata/bad/probes-too-large.yaml:1: probes: 128 is out of range: must be 1..127"},
		{"empty.yaml", "testdata/bad/empty.yaml: empty profile: set at least one of time, interval, probes"},
		{"comment-only.yaml", "testdata/bad/comment-only.yaml: empty profile: set at least one of time, interval, probes"},
		{"binary.yaml", "testdata/bad/binary.yaml: not a YAML profile: the file holds binary data"},
		{"second-document.yaml", "testdata/bad/second-document.yaml:2: a second YAML document: a profile is one document"},
		{"list.yaml", "testdata/bad/list.yaml:1: a profile is a mapping of keys (time, interval, probes, ...), not a list"},
		{"syntax.yaml", "testdata/bad/syntax.yaml:1: not valid YAML: did not find expected ',' or ']'"},
		{"no-keys.yaml", "testdata/bad/no-keys.yaml:1: sets none of time, interval, probes, retries2, user_timeout"},
		{"idle-timeout.yaml", "testdata/bad/idle-timeout.yaml:1: time: 400 s does not fit below idle_timeout 350 s with the 35 s margin for timer lateness: use at most 315 s"},
		{"detect-within.yaml", "testdata/bad/detect-within.yaml:4: detect_within: time + interval*probes = 210 s, up to 216 s with late timers, exceeds detect_within 120 s"},
		// 60 + 15*4 = 120 s on the dot, but a timer at HZ=100 fires late.
		{"detect-within-late.yaml", "testdata/bad/detect-within-late.yaml:4: detect_within: time + interval*probes = 120 s, up to 127 s with late timers, exceeds detect_within 120 s"},
		{"bool.yaml", "testdata/bad/bool.yaml:1: time: must be a duration like 90s or 2m, or whole seconds, not a boolean"},
		{"leading-zero.yaml", "testdata/bad/leading-zero.yaml:1: time: 074: a leading zero makes YAML read it as octal (60): write 74"},
		{"retries2-past-bound.yaml", "testdata/bad/retries2-past-bound.yaml:4: retries2: 8 gives up on data in flight after up to 116 s, past detect_within 30 s"},
		{"interval-past-idle.yaml", "testdata/bad/interval-past-idle.yaml:3: interval: 70 s does not fit below idle_timeout 60 s: once a probe is answered the next comes max(time, interval) later; use an interval of at most 50 s"},
		{"default-interval-past-idle.yaml", "testdata/bad/default-interval-past-idle.yaml:2: time: the kernel's interval 75 s (the profile sets none) does not fit below idle_timeout 60 s: once a probe is answered the next comes max(time, interval) later; use an interval of at most 50 s"},
		{"retries2-too-large.yaml", "testdata/bad/retries2-too-large.yaml:4: retries2: 256 is out of range: must be 1..255"},
		{"user-timeout-fraction.yaml", "testdata/bad/user-timeout-fraction.yaml:2: user_timeout: must be whole seconds, not a fraction"},
		{"shadow-like.yaml", "testdata/bad/shadow-like.yaml:1: an unknown key that is not a name (known: name, description, time, interval, probes, retries2, user_timeout, idle_timeout, detect_within, sources)"},
		{"secret-value.yaml", "testdata/bad/secret-value.yaml:1: time: must be a duration like 90s or 2m, or whole seconds, not a string that is neither"},
		{"secret-key.yaml", "testdata/bad/secret-key.yaml:2: an unknown key that is not a name (known: name, description, time, interval, probes, retries2, user_timeout, idle_timeout, detect_within, sources)"},
		{"utf16.yaml", "testdata/bad/utf16.yaml: not a YAML profile: the file is UTF-16 (little-endian) text: save it as UTF-8"},
		{"huge.yaml", "testdata/bad/huge.yaml:1: time: out of range: must be 1s..32767s"},
		{"unknown-anchor.yaml", "testdata/bad/unknown-anchor.yaml: not valid YAML: unknown anchor '…' referenced"},
		{"alias.yaml", "testdata/bad/alias.yaml:2: interval: must be a duration like 90s or 2m, or whole seconds, not an alias"},
		{"control-name.yaml", "testdata/bad/control-name.yaml:1: name: not a valid name: non-empty, printable, no spaces or '/'"},
		{"sources-not-list.yaml", "testdata/bad/sources-not-list.yaml:1: sources: must be a list of strings, not a string"},
	}
	entries, _ := os.ReadDir("testdata/bad")
	if len(entries) != len(tests) {
		t.Errorf("testdata/bad has %d files, the table %d: every fixture needs its expected message", len(entries), len(tests))
	}
	for _, tt := range tests {
		t.Run(tt.file, func(t *testing.T) {
			_, err := LoadFile(filepath.Join("testdata/bad", tt.file))
			if err == nil {
				t.Fatal("decoded without error")
			}
			if err.Error() != tt.want {
				t.Errorf("error:\n got  %s\n want %s", err, tt.want)
			}
			if !errors.Is(err, ErrInvalid) {
				t.Errorf("error does not wrap ErrInvalid")
			}
			if strings.Contains(err.Error(), "\n") {
				t.Errorf("error spans lines")
			}
			// Root may be pointed at any file: no string the file holds
			// (a password hash, a secret) reaches the message.
			if strings.Contains(err.Error(), "hunter2") || strings.Contains(err.Error(), "$6$") || strings.Contains(err.Error(), "\x1b") {
				t.Errorf("error echoes the file's content")
			}
		})
	}
}

// TestLoadPaths: each failure says what and why in one line and wraps the
// sentinel a caller decides on (tcpka's exit code, metrics' default file).
func TestLoadPaths(t *testing.T) {
	dir := t.TempDir()
	tests := []struct {
		arg  string
		want string
		is   error
	}{
		{dir, dir + ": is a directory, not a profile file", ErrInvalid},
		{filepath.Join(dir, "missing.yaml"), filepath.Join(dir, "missing.yaml") + ": no such file", ErrNotFound},
		{"no-such-profile", "no-such-profile: unknown profile: shipped profiles are aws-nlb, azure-lb, fast-failover, gcp-vpc, kernel-default, ssh; a file path needs a '/' or a .yaml suffix", ErrUnknown},
		// A regular file whose read fails (EIO at offset 0).
		{"/proc/self/mem", "/proc/self/mem: read /proc/self/mem: input/output error", ErrUnreadable},
	}
	for _, tt := range tests {
		_, err := Load(tt.arg)
		if err == nil || err.Error() != tt.want {
			t.Errorf("Load(%q) = %v, want %q", tt.arg, err, tt.want)
		}
		if !errors.Is(err, tt.is) {
			t.Errorf("Load(%q) = %v, want it to wrap %v", tt.arg, err, tt.is)
		}
	}
}

// TestLoadHostileFiles: what is not a profile file is refused on the
// opened descriptor, at once, with one line: a FIFO (which would block a
// read), a /proc file whose stat says 0 bytes but that never ends, a device.
func TestLoadHostileFiles(t *testing.T) {
	fifo := filepath.Join(t.TempDir(), "fifo.yaml")
	if err := unix.Mkfifo(fifo, 0o600); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		path, want string
	}{
		{fifo, fifo + ": not a regular file: it is a FIFO"},
		{"/proc/self/pagemap", "/proc/self/pagemap: larger than 1024 KiB: not a profile"},
		{"/dev/zero", "/dev/zero: not a regular file: it is a device"},
	}
	for _, tt := range tests {
		done := make(chan error, 1)
		go func() { _, err := LoadFile(tt.path); done <- err }()
		select {
		case err := <-done:
			if err == nil || err.Error() != tt.want {
				t.Errorf("LoadFile(%s) = %v, want %q", tt.path, err, tt.want)
			}
			if !errors.Is(err, ErrInvalid) {
				t.Errorf("LoadFile(%s) = %v, want it to wrap ErrInvalid", tt.path, err)
			}
		case <-time.After(5 * time.Second):
			t.Fatalf("LoadFile(%s) did not return within 5 s", tt.path)
		}
	}
}

// TestLoadRefusesWritableByOthers: as root, a profile that group or others
// may change, or that sits in a directory they may write (without the
// sticky bit), is refused, as sshd's StrictModes refuses such keys.
func TestLoadRefusesWritableByOthers(t *testing.T) {
	testkit.NeedRoot(t, "the check applies only when tcpka runs as root")
	good := []byte("time: 60s\ninterval: 15s\nprobes: 4\n")
	dir := t.TempDir()
	write := func(name string, mode os.FileMode) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, good, mode); err != nil {
			t.Fatal(err)
		}
		if err := os.Chmod(p, mode); err != nil {
			t.Fatal(err)
		}
		return p
	}
	if _, err := LoadFile(write("ok.yaml", 0o644)); err != nil {
		t.Errorf("a 0644 profile in a 0700 directory: %v", err)
	}
	p := write("group.yaml", 0o664)
	if _, err := LoadFile(p); !errors.Is(err, ErrUnsafe) || !errors.Is(err, ErrInvalid) || !strings.Contains(err.Error(), "mode 0664 lets group or others change what root applies") {
		t.Errorf("a 0664 profile: %v", err)
	}
	open := filepath.Join(dir, "open")
	os.Mkdir(open, 0o777)
	os.Chmod(open, 0o777)
	q := filepath.Join(open, "p.yaml")
	os.WriteFile(q, good, 0o644)
	if _, err := LoadFile(q); !errors.Is(err, ErrUnsafe) || !strings.Contains(err.Error(), "it lies in "+open+", which group or others may write (mode 0777)") {
		t.Errorf("a profile in a 0777 directory: %v", err)
	}
	unix.Chmod(open, 0o1777) // sticky, like /tmp: others cannot replace root's file
	if _, err := LoadFile(q); err != nil {
		t.Errorf("a profile in a sticky 1777 directory: %v", err)
	}
}

// TestWarnings: what a valid profile costs is said, not refused.
func TestWarnings(t *testing.T) {
	for _, tt := range []struct {
		text string
		want []string
	}{
		{"time: 60s\ninterval: 15s\nprobes: 4\nretries2: 8\nuser_timeout: 2m\n", nil},
		{"retries2: 5\n", []string{"retries2 5 gives up on unacknowledged data after 13 s, below the 100 s RFC 1122 asks for: a network outage that long breaks busy connections too, not only dead peers"}},
		{"time: 11s\ninterval: 7s\nprobes: 5\nuser_timeout: 30s\n", []string{"user_timeout 30s ends an idle connection at 32 s, before its 5 probes are out: time + interval x probes = 46s keeps keepalive's meaning"}},
	} {
		p, err := Decode("w.yaml", "w", []byte(tt.text))
		if err != nil {
			t.Fatal(err)
		}
		if !slices.Equal(p.Warnings, tt.want) {
			t.Errorf("%q: warnings %q, want %q", tt.text, p.Warnings, tt.want)
		}
	}
}

func TestIsPath(t *testing.T) {
	for arg, want := range map[string]bool{
		"ssh": false, "aws-nlb": false, "./ssh": true, "/etc/tcpka/profile.yaml": true, "my.yaml": true, "my.yml": true,
	} {
		if got := IsPath(arg); got != want {
			t.Errorf("IsPath(%q) = %v, want %v", arg, got, want)
		}
	}
}

// TestShippedProfiles holds every shipped profile to what it claims: its
// idle time sits below the idle timeout it names with the lateness margin,
// it stays inside detect_within, it has a description and a source, and its
// name matches its file.
func TestShippedProfiles(t *testing.T) {
	all, err := All()
	if err != nil {
		t.Fatal(err)
	}
	want := []string{"aws-nlb", "azure-lb", "fast-failover", "gcp-vpc", "kernel-default", "ssh"}
	names := ShippedNames()
	if strings.Join(names, ",") != strings.Join(want, ",") {
		t.Errorf("shipped %v, want at least %v", names, want)
	}
	wantIdle := map[string]int{"aws-nlb": 350, "azure-lb": 240, "gcp-vpc": 600, "ssh": 240}
	for _, p := range all {
		t.Run(p.Name, func(t *testing.T) {
			if p.Description == "" || len(p.Sources) == 0 {
				t.Error("needs a description and at least one source")
			}
			if !p.Complete() {
				t.Errorf("sets %+v, shipped profiles set all three", p.Settings)
			}
			if got := p.IdleTimeout; got != wantIdle[p.Name] {
				t.Errorf("idle_timeout = %d s, want the published %d s", got, wantIdle[p.Name])
			}
			k := p.Settings
			if p.IdleTimeout > 0 {
				if room := p.IdleTimeout - k.Time; room < max(p.IdleTimeout/10, 10) {
					t.Errorf("time %d s leaves %d s below the %d s idle timeout: less than 10 %% / 10 s", k.Time, room, p.IdleTimeout)
				}
			}
			if p.DetectWithin > 0 && detect.Idle(k) > p.DetectWithin {
				t.Errorf("detection %d s exceeds detect_within %d s", detect.Idle(k), p.DetectWithin)
			}
		})
	}
	ff, _ := Shipped("fast-failover")
	if d := detect.Idle(ff.Settings); d >= 30 {
		t.Errorf("fast-failover detects after %d s, want under 30 s", d)
	}
	kd, _ := Shipped("kernel-default")
	if v := kd.Settings; v != keepalive.KernelDefaults {
		t.Errorf("kernel-default = %+v, want %+v", v, keepalive.KernelDefaults)
	}
}

// FuzzDecode feeds arbitrary bytes to the decoder: it must never panic, and
// whatever it accepts must be valid for the kernel.
func FuzzDecode(f *testing.F) {
	for _, dir := range []string{"testdata/good", "testdata/bad"} {
		entries, _ := os.ReadDir(dir)
		for _, e := range entries {
			b, _ := os.ReadFile(filepath.Join(dir, e.Name()))
			f.Add(b)
		}
	}
	f.Add([]byte("time: 1h\ninterval: 1m\nprobes: 127\n"))
	f.Add([]byte("time: &a 60\ninterval: *a\n"))
	f.Add([]byte("{time: 5, probes: 3}"))
	f.Fuzz(func(t *testing.T, data []byte) {
		p, err := Decode("fuzz.yaml", "fuzz", data)
		if err != nil {
			if !errors.Is(err, ErrInvalid) {
				t.Fatalf("error %q does not wrap ErrInvalid", err)
			}
			if strings.Contains(err.Error(), "\n") {
				t.Fatalf("multi-line error %q", err)
			}
			return
		}
		if p.Settings.IsZero() {
			t.Fatal("accepted a profile that sets nothing")
		}
		if err := p.Settings.Validate(); err != nil {
			t.Fatalf("accepted an invalid profile: %v", err)
		}
	})
}
