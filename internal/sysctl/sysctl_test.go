package sysctl

import (
	"errors"
	"os"
	"path/filepath"
	"strconv"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

// fakeTree writes a proc tree with the given values under t.TempDir().
func fakeTree(t *testing.T, v Values) FS {
	t.Helper()
	root := t.TempDir()
	fs := NewFS(root)
	for _, k := range Keys {
		if err := os.MkdirAll(filepath.Dir(fs.Path(k)), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(fs.Path(k), []byte(strconv.Itoa(v.Get(k))+"\n"), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return fs
}

func TestKeyNames(t *testing.T) {
	for _, tt := range []struct {
		in   string
		want Key
	}{
		{"tcp_keepalive_time", Time},
		{"net.ipv4.tcp_keepalive_intvl", Intvl},
		{"net/ipv4/tcp_keepalive_probes", Probes},
	} {
		got, ok := KeyByName(tt.in)
		if !ok || got != tt.want {
			t.Errorf("KeyByName(%q) = %v, %v; want %v", tt.in, got, ok, tt.want)
		}
	}
	if _, ok := KeyByName("tcp_keepalive"); ok {
		t.Error("KeyByName accepted a partial name")
	}
	if got := Probes.Dotted(); got != "net.ipv4.tcp_keepalive_probes" {
		t.Errorf("Dotted = %q", got)
	}
}

func TestValidate(t *testing.T) {
	tests := []struct {
		k  Key
		v  int
		ok bool
	}{
		{Time, 1, true}, {Time, 32767, true}, {Time, 0, false}, {Time, -5, false}, {Time, 32768, false},
		{Intvl, 75, true}, {Intvl, 0, false},
		{Probes, 1, true}, {Probes, 127, true}, {Probes, 0, false}, {Probes, 128, false}, {Probes, 255, false},
	}
	for _, tt := range tests {
		err := Validate(tt.k, tt.v)
		if (err == nil) != tt.ok {
			t.Errorf("Validate(%s, %d) = %v, want ok=%v", tt.k.Name(), tt.v, err, tt.ok)
		}
		if err != nil && !errors.Is(err, ErrOutOfRange) {
			t.Errorf("Validate(%s, %d) error %v does not wrap ErrOutOfRange", tt.k.Name(), tt.v, err)
		}
	}
}

func TestReadWrite(t *testing.T) {
	fs := fakeTree(t, KernelDefaults)
	got, err := fs.Read()
	if err != nil {
		t.Fatal(err)
	}
	if got != KernelDefaults {
		t.Fatalf("Read = %+v, want %+v", got, KernelDefaults)
	}
	if err := fs.WriteKey(Intvl, 30); err != nil {
		t.Fatal(err)
	}
	if n, _ := fs.ReadKey(Intvl); n != 30 {
		t.Errorf("after WriteKey(Intvl, 30) ReadKey = %d", n)
	}
}

func TestReadErrors(t *testing.T) {
	fs := NewFS(t.TempDir())
	if _, err := fs.Read(); !errors.Is(err, ErrNotExist) {
		t.Errorf("Read on an empty tree: %v, want ErrNotExist", err)
	}
	if err := fs.WriteKey(Time, 60); !errors.Is(err, ErrNotExist) {
		t.Errorf("WriteKey on an empty tree: %v, want ErrNotExist (a sysctl is never created)", err)
	}
	fs = fakeTree(t, KernelDefaults)
	os.WriteFile(fs.Path(Probes), []byte("nine\n"), 0o644)
	if _, err := fs.Read(); !errors.Is(err, ErrMalformed) {
		t.Errorf("Read of 'nine': %v, want ErrMalformed", err)
	}
}

// failingRW wraps an FS and fails writes of one key.
type failingRW struct {
	FS
	failKey Key
	writes  []Change
}

func (f *failingRW) WriteKey(k Key, v int) error {
	if k == f.failKey {
		return errors.New("injected write failure")
	}
	old, _ := f.FS.ReadKey(k)
	f.writes = append(f.writes, Change{Key: k, Old: old, New: v})
	return f.FS.WriteKey(k, v)
}

func TestApply(t *testing.T) {
	var all Settings
	all.Set(Time, 300)
	all.Set(Intvl, 30)
	all.Set(Probes, 5)
	var timeOnly Settings
	timeOnly.Set(Time, 600)

	tests := []struct {
		name        string
		s           Settings
		dryRun      bool
		wantAfter   Values
		wantChanges []Change
		wantWritten bool
	}{
		{"all three", all, false, Values{300, 30, 5},
			[]Change{{Time, 7200, 300}, {Intvl, 75, 30}, {Probes, 9, 5}}, true},
		{"dry run writes nothing", all, true, KernelDefaults,
			[]Change{{Time, 7200, 300}, {Intvl, 75, 30}, {Probes, 9, 5}}, false},
		{"partial leaves the rest", timeOnly, false, Values{600, 75, 9},
			[]Change{{Time, 7200, 600}}, true},
		{"no change writes nothing", FromValues(KernelDefaults), false, KernelDefaults, nil, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			fs := fakeTree(t, KernelDefaults)
			res, err := Apply(fs, tt.s, tt.dryRun)
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(tt.wantChanges, res.Changes); diff != "" {
				t.Errorf("changes (-want +got):\n%s", diff)
			}
			if res.Written != tt.wantWritten {
				t.Errorf("Written = %v, want %v", res.Written, tt.wantWritten)
			}
			onDisk, _ := fs.Read()
			if onDisk != tt.wantAfter {
				t.Errorf("tree holds %+v, want %+v", onDisk, tt.wantAfter)
			}
		})
	}
}

func TestApplyRefusesInvalid(t *testing.T) {
	fs := fakeTree(t, KernelDefaults)
	var s Settings
	s.Set(Time, 60)
	s.Set(Probes, 0)
	if _, err := Apply(fs, s, false); !errors.Is(err, ErrOutOfRange) {
		t.Fatalf("Apply with probes=0: %v, want ErrOutOfRange", err)
	}
	if v, _ := fs.Read(); v != KernelDefaults {
		t.Errorf("an invalid profile wrote %+v", v)
	}
}

// TestApplyRollsBack makes the last write fail: the two keys already written
// must get their old values back, and the error must say so.
func TestApplyRollsBack(t *testing.T) {
	for _, failKey := range Keys {
		t.Run(failKey.Name(), func(t *testing.T) {
			fs := fakeTree(t, KernelDefaults)
			rw := &failingRW{FS: fs, failKey: failKey}
			_, err := Apply(rw, FromValues(Values{60, 15, 4}), false)
			if err == nil {
				t.Fatal("Apply succeeded with a failing write")
			}
			if !errors.Is(err, ErrRolledBack) {
				t.Errorf("error %q does not report the rollback", err)
			}
			if v, _ := fs.Read(); v != KernelDefaults {
				t.Errorf("after rollback the tree holds %+v, want %+v", v, KernelDefaults)
			}
		})
	}
}

func TestApplyVerifiesReadBack(t *testing.T) {
	fs := fakeTree(t, KernelDefaults)
	rw := &clampingRW{fs}
	_, err := Apply(rw, FromValues(Values{60, 15, 4}), false)
	if !errors.Is(err, ErrVerify) {
		t.Fatalf("Apply with a clamping writer: %v, want ErrVerify", err)
	}
}

// clampingRW stores 1 less than asked for probes, like a kernel that clamps.
type clampingRW struct{ FS }

func (c clampingRW) WriteKey(k Key, v int) error {
	if k == Probes {
		v--
	}
	return c.FS.WriteKey(k, v)
}

func TestLock(t *testing.T) {
	path := filepath.Join(t.TempDir(), "run", "tcpka.lock")
	unlock, err := Lock(path, time.Second)
	if err != nil {
		t.Fatal(err)
	}
	// flock locks belong to the open file description: a second open in the
	// same process contends like another process would.
	if _, err := Lock(path, 100*time.Millisecond); !errors.Is(err, ErrLocked) {
		t.Fatalf("second Lock while held: %v, want ErrLocked", err)
	}
	unlock()
	unlock2, err := Lock(path, time.Second)
	if err != nil {
		t.Fatalf("Lock after release: %v", err)
	}
	unlock2()
}

func TestRevertRecord(t *testing.T) {
	path := filepath.Join(t.TempDir(), "tcpka", "revert.json")
	if _, err := LoadRevert(path); !errors.Is(err, ErrNothingToRevert) {
		t.Fatalf("LoadRevert with no record: %v", err)
	}
	first := RevertRecord{Before: KernelDefaults, Profile: "ssh", At: time.Unix(1, 0).UTC()}
	if err := SaveRevert(path, first); err != nil {
		t.Fatal(err)
	}
	// A second apply must not overwrite the values from before the first.
	if err := SaveRevert(path, RevertRecord{Before: Values{60, 15, 4}, Profile: "aws-nlb"}); err != nil {
		t.Fatal(err)
	}
	got, err := LoadRevert(path)
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(first, got); diff != "" {
		t.Errorf("record (-want +got):\n%s", diff)
	}
}
