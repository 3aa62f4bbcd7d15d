package sysctl

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/tcpka/tcpka/internal/atomicfile"
	"github.com/tcpka/tcpka/internal/keepalive"
)

func ka(t, i, p int) keepalive.Settings { return keepalive.Settings{Time: t, Intvl: i, Probes: p} }

// withRetries2 is s with tcp_retries2 n.
func withRetries2(s keepalive.Settings, n int) keepalive.Settings {
	s.Retries2 = n
	return s
}

var kernelDefaults = keepalive.KernelDefaults

// fakeTree writes a proc tree with the given values under t.TempDir().
func fakeTree(t *testing.T, v keepalive.Settings) FS {
	t.Helper()
	root := t.TempDir()
	fs := NewFS(root)
	for _, k := range Keys() {
		if err := os.MkdirAll(filepath.Dir(fs.Path(k)), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(fs.Path(k), []byte(strconv.Itoa(k.Get(v))+"\n"), 0o644); err != nil {
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
		{"tcp_keepalive_time", keepalive.Time},
		{"net.ipv4.tcp_keepalive_intvl", keepalive.Intvl},
		{"net/ipv4/tcp_keepalive_probes", keepalive.Probes},
	} {
		got, ok := keepalive.KeyBySysctl(tt.in)
		if !ok || got != tt.want {
			t.Errorf("keepalive.KeyBySysctl(%q) = %v, %v; want %v", tt.in, got, ok, tt.want)
		}
	}
	if _, ok := keepalive.KeyBySysctl("tcp_keepalive"); ok {
		t.Error("KeyByName accepted a partial name")
	}
	if got := keepalive.Probes.Dotted(); got != "net.ipv4.tcp_keepalive_probes" {
		t.Errorf("Dotted = %q", got)
	}
}

func TestReadWrite(t *testing.T) {
	fs := fakeTree(t, kernelDefaults)
	got, err := fs.Read()
	if err != nil {
		t.Fatal(err)
	}
	if got != kernelDefaults {
		t.Fatalf("Read = %+v, want %+v", got, kernelDefaults)
	}
	if err := fs.WriteKey(keepalive.Intvl, 30); err != nil {
		t.Fatal(err)
	}
	if n, _ := fs.ReadKey(keepalive.Intvl); n != 30 {
		t.Errorf("after WriteKey(keepalive.Intvl, 30) ReadKey = %d", n)
	}
}

// TestReadErrors: every failed read wraps ErrRead and the sentinel that
// says why, and keeps its text; a failed write never wraps ErrRead (the
// caller tells "could not determine" from "could not change" by it).
func TestReadErrors(t *testing.T) {
	empty := NewFS(t.TempDir())
	malformed := fakeTree(t, kernelDefaults)
	os.WriteFile(malformed.Path(keepalive.Probes), []byte("nine\n"), 0o644)
	readKey := func(fs FS) func() error { return func() error { _, err := fs.ReadKey(keepalive.Time); return err } }
	read := func(fs FS) func() error { return func() error { _, err := fs.Read(); return err } }
	tests := []struct {
		name     string
		op       func() error
		want     error
		readFail bool
		text     string
	}{
		{"Read on an empty tree", read(empty), ErrNotExist, true, "read " + empty.Path(keepalive.Time) + ": no such sysctl"},
		{"ReadKey on an empty tree", readKey(empty), ErrNotExist, true, "read " + empty.Path(keepalive.Time) + ": no such sysctl"},
		{"Read of 'nine'", read(malformed), ErrMalformed, true, "read " + malformed.Path(keepalive.Probes) + `: malformed value: "nine"`},
		{"WriteKey on an empty tree (a sysctl is never created)", func() error { return empty.WriteKey(keepalive.Time, 60) }, ErrNotExist, false, "write " + empty.Path(keepalive.Time) + ": no such sysctl"},
	}
	for _, tt := range tests {
		err := tt.op()
		if !errors.Is(err, tt.want) {
			t.Errorf("%s: %v, want %v", tt.name, err, tt.want)
		}
		if errors.Is(err, ErrRead) != tt.readFail {
			t.Errorf("%s: errors.Is(err, ErrRead) = %v, want %v", tt.name, !tt.readFail, tt.readFail)
		}
		if err != nil && !strings.HasPrefix(err.Error(), tt.text) {
			t.Errorf("%s: %q, want it to start %q", tt.name, err, tt.text)
		}
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
	tests := []struct {
		name        string
		want        keepalive.Settings
		keys        []Key
		dryRun      bool
		wantAfter   keepalive.Settings
		wantChanges []Change
		wantWritten bool
	}{
		{"all three", ka(300, 30, 5), nil, false, withRetries2(ka(300, 30, 5), 15),
			[]Change{{keepalive.Time, 7200, 300}, {keepalive.Intvl, 75, 30}, {keepalive.Probes, 9, 5}}, true},
		{"and tcp_retries2", withRetries2(ka(300, 30, 5), 8), nil, false, withRetries2(ka(300, 30, 5), 8),
			[]Change{{keepalive.Time, 7200, 300}, {keepalive.Intvl, 75, 30}, {keepalive.Probes, 9, 5}, {keepalive.Retries2, 15, 8}}, true},
		{"dry run writes nothing", ka(300, 30, 5), nil, true, kernelDefaults,
			[]Change{{keepalive.Time, 7200, 300}, {keepalive.Intvl, 75, 30}, {keepalive.Probes, 9, 5}}, false},
		{"partial leaves the rest", keepalive.Settings{Time: 600}, nil, false, withRetries2(ka(600, 75, 9), 15),
			[]Change{{keepalive.Time, 7200, 600}}, true},
		{"no change writes nothing", kernelDefaults, nil, false, kernelDefaults, nil, false},
		// A revert restores what the kernel held, even values a profile
		// may not set: every key, zero and out of range included.
		{"exact restore", withRetries2(ka(40000, 0, 200), 0), Keys(), false, withRetries2(ka(40000, 0, 200), 0),
			[]Change{{keepalive.Time, 7200, 40000}, {keepalive.Intvl, 75, 0}, {keepalive.Probes, 9, 200}, {keepalive.Retries2, 15, 0}}, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			fs := fakeTree(t, kernelDefaults)
			keys := tt.keys
			if keys == nil {
				keys = SetKeys(tt.want)
			}
			res, err := Apply(fs, tt.want, keys, tt.dryRun)
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

// TestTransactRefusesInvalid: a profile's values are held to the limits
// before anything is written; a revert's are not.
func TestTransactRefusesInvalid(t *testing.T) {
	fs := fakeTree(t, kernelDefaults)
	st := State{RunDir: t.TempDir()}
	if _, err := st.Transact(fs, Request{What: "apply", Want: ka(60, 15, 200)}); !errors.Is(err, keepalive.ErrOutOfRange) {
		t.Fatalf("Transact with probes=200: %v, want ErrOutOfRange", err)
	}
	if v, _ := fs.Read(); v != kernelDefaults {
		t.Errorf("an invalid profile wrote %+v", v)
	}
	if _, err := st.Transact(fs, Request{What: "revert", Want: ka(60, 15, 200), Keys: Keys(), Exact: true}); err != nil {
		t.Fatalf("exact Transact: %v", err)
	}
	if v, _ := fs.Read(); v != ka(60, 15, 200) {
		t.Errorf("exact restore wrote %+v", v)
	}
}

// TestApplyRollsBack makes the last write fail: the two keys already written
// must get their old values back, and the error must say so.
func TestApplyRollsBack(t *testing.T) {
	for _, failKey := range Keys() {
		t.Run(failKey.Sysctl, func(t *testing.T) {
			fs := fakeTree(t, kernelDefaults)
			rw := &failingRW{FS: fs, failKey: failKey}
			_, err := Apply(rw, withRetries2(ka(60, 15, 4), 8), Keys(), false)
			if err == nil {
				t.Fatal("Apply succeeded with a failing write")
			}
			if !errors.Is(err, ErrRolledBack) {
				t.Errorf("error %q does not report the rollback", err)
			}
			if v, _ := fs.Read(); v != kernelDefaults {
				t.Errorf("after rollback the tree holds %+v, want %+v", v, kernelDefaults)
			}
		})
	}
}

func TestApplyVerifiesReadBack(t *testing.T) {
	fs := fakeTree(t, kernelDefaults)
	rw := &clampingRW{fs}
	_, err := Apply(rw, ka(60, 15, 4), Keys(), false)
	if !errors.Is(err, ErrVerify) {
		t.Fatalf("Apply with a clamping writer: %v, want ErrVerify", err)
	}
}

// clampingRW stores 1 less than asked for probes, like a kernel that clamps.
type clampingRW struct{ FS }

func (c clampingRW) WriteKey(k Key, v int) error {
	if k == keepalive.Probes {
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
	d, err := atomicfile.PrivateDir(t.TempDir(), "tcpka")
	if err != nil {
		t.Fatal(err)
	}
	defer d.Close()
	id := NSID{Cookie: 5386, Inode: 4026531840}
	if _, err := LoadRevert(d, id); !errors.Is(err, ErrNothingToRevert) {
		t.Fatalf("LoadRevert with no record: %v", err)
	}
	first := RevertRecord{NS: id, Before: kernelDefaults, Keys: Keys(), Profile: "ssh", At: time.Unix(1, 0).UTC()}
	if err := SaveRevert(d, first); err != nil {
		t.Fatal(err)
	}
	// A second apply must not overwrite the values from before the first.
	if err := SaveRevert(d, RevertRecord{NS: id, Before: ka(60, 15, 4), Keys: Keys(), Profile: "aws-nlb"}); err != nil {
		t.Fatal(err)
	}
	got, err := LoadRevert(d, id)
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(first, got); diff != "" {
		t.Errorf("record (-want +got):\n%s", diff)
	}
	// Another namespace that reuses the inode has another cookie: no record.
	if _, err := LoadRevert(d, NSID{Cookie: 5388, Inode: 4026531840}); !errors.Is(err, ErrNothingToRevert) {
		t.Errorf("a namespace reusing the inode found a record: %v", err)
	}

	// RevertRecords: every namespace's record by file name, nothing else.
	other := RevertRecord{NS: NSID{Inode: 4026532247}, Before: ka(60, 15, 4), Keys: Keys()[:3], Profile: "aws-nlb", At: time.Unix(2, 0).UTC()}
	if err := SaveRevert(d, other); err != nil {
		t.Fatal(err)
	}
	if err := d.WriteFile(JournalName(id), []byte("{}\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	all, err := RevertRecords(d)
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]RevertRecord{"revert-c5386.json": first, "revert-i4026532247.json": other}
	if diff := cmp.Diff(want, all); diff != "" {
		t.Errorf("RevertRecords (-want +got):\n%s", diff)
	}
}

// killAfter writes n keys, then dies as a SIGKILL would: nothing after it
// runs (the panic stands for the end of the process).
type killAfter struct {
	FS
	n int
}

type killed struct{}

func (k *killAfter) WriteKey(key Key, v int) error {
	if k.n == 0 {
		panic(killed{})
	}
	k.n--
	return k.FS.WriteKey(key, v)
}

// transactKilled runs a transaction that is killed after n writes.
func transactKilled(t *testing.T, st State, fs FS, n int, req Request) {
	t.Helper()
	defer func() {
		if r := recover(); r != nil {
			if _, ok := r.(killed); !ok {
				panic(r)
			}
		}
	}()
	st.Transact(&killAfter{FS: fs, n: n}, req)
	t.Fatalf("transaction killed after %d writes returned", n)
}

// TestKilledTransaction kills an apply after each of its writes: the next
// command sees the journal, says what was left, and the next transaction
// undoes it before its own, and the record it made with it: the record
// of the next apply keeps the original values.
func TestKilledTransaction(t *testing.T) {
	for n := 0; n < 3; n++ {
		t.Run(fmt.Sprintf("after %d writes", n), func(t *testing.T) {
			fs := fakeTree(t, kernelDefaults)
			st := State{RunDir: t.TempDir()}
			id := NSID{Cookie: 7, Inode: 42}
			transactKilled(t, st, fs, n, Request{What: "apply", Want: ka(31, 15, 4), Record: "ssh", NS: id})
			now, _ := fs.Read()
			j, running := st.Interrupted(id)
			if j == nil || running {
				t.Fatalf("after a kill: journal %v running %v", j, running)
			}
			wantLeft := map[int]string{0: "the values from before it",
				1: "a mix: tcp_keepalive_time holds the value it was writing; tcp_keepalive_intvl and tcp_keepalive_probes hold the values from before it",
				2: "a mix: tcp_keepalive_time and tcp_keepalive_intvl hold the values it was writing; tcp_keepalive_probes holds the value from before it"}[n]
			if got := j.Left(now); got != wantLeft || j.Profile != "ssh" || j.Before.Keepalive() != kernelDefaults.Keepalive() {
				t.Errorf("journal %+v left %q, want %q", j, got, wantLeft)
			}
			res, err := st.Transact(fs, Request{What: "apply", Want: ka(300, 30, 5), Record: "aws-nlb", NS: id})
			if err != nil {
				t.Fatal(err)
			}
			if res.Undone == nil || res.Undone.Profile != "ssh" {
				t.Errorf("the next apply did not report the undone one: %+v", res)
			}
			if v, _ := fs.Read(); v != withRetries2(ka(300, 30, 5), 15) {
				t.Errorf("after the next apply: %+v", v)
			}
			if j, _ := st.Interrupted(id); j != nil {
				t.Errorf("journal left after the next apply: %+v", j)
			}
			d, _ := st.Dir()
			defer d.Close()
			rec, err := LoadRevert(d, id)
			if err != nil || rec.Before != kernelDefaults || rec.Profile != "aws-nlb" {
				t.Errorf("revert record %+v, %v: want the values from before the first apply, by aws-nlb", rec, err)
			}
			if left := d.Temps(""); len(left) != 0 {
				t.Errorf("temporary files left: %v", left)
			}
		})
	}
}

// TestKilledStateWrite kills an apply inside the atomic write of its
// revert record, and of its journal, after the temporary file is written
// and before the rename. Neither file is written again by the revert that
// follows (no record: nothing to revert; a record: nothing to change), so
// the next lock holder removes what the kill left.
func TestKilledStateWrite(t *testing.T) {
	id := NSID{Cookie: 7, Inode: 42}
	for _, name := range []string{RevertName(id), JournalName(id)} {
		t.Run(name, func(t *testing.T) {
			fs := fakeTree(t, kernelDefaults)
			st := State{RunDir: t.TempDir()}
			atomicfile.Hook = func(step, target string) error {
				if step == "rename" && filepath.Base(target) == name {
					panic(killed{})
				}
				return nil
			}
			func() {
				defer func() {
					atomicfile.Hook = nil
					if r := recover(); r == nil {
						t.Fatal("the apply was not killed")
					} else if _, ok := r.(killed); !ok {
						panic(r)
					}
				}()
				st.Transact(fs, Request{What: "apply", Want: ka(60, 15, 4), Record: "ssh", NS: id})
			}()
			d, err := st.Dir()
			if err != nil {
				t.Fatal(err)
			}
			defer d.Close()
			if left := d.Temps(""); len(left) != 1 {
				t.Fatalf("the kill left %v, want one temporary file", left)
			}
			// The next command: tcpka revert.
			unlock, err := st.Lock()
			if err != nil {
				t.Fatal(err)
			}
			if rec, err := LoadRevert(d, id); err == nil {
				if _, err := st.Transact(fs, Request{What: "revert", Want: rec.Before, Keys: rec.Keys, Exact: true, NS: id}); err != nil {
					t.Fatal(err)
				}
			} else if !errors.Is(err, ErrNothingToRevert) {
				t.Fatal(err)
			}
			unlock()
			if v, _ := fs.Read(); v != kernelDefaults {
				t.Errorf("after the revert: %+v", v)
			}
			if left := d.Temps(""); len(left) != 0 {
				t.Errorf("temporary files left after the next command: %v", left)
			}
		})
	}
}

// TestFailedReadBackSaysWritten: a read-back that differs after all
// writes says the keys were written.
func TestFailedReadBackSaysWritten(t *testing.T) {
	fs := fakeTree(t, kernelDefaults)
	st := State{RunDir: t.TempDir()}
	_, err := st.Transact(clampingRW{fs}, Request{What: "apply", Want: ka(60, 15, 4)})
	if !errors.Is(err, ErrVerify) || !strings.Contains(err.Error(), "apply: 3 keys written, but tcp_keepalive_probes: wrote 4, read-back differs: 3") {
		t.Errorf("error %v", err)
	}
}

func TestCollect(t *testing.T) {
	fs := fakeTree(t, kernelDefaults)
	st := State{RunDir: t.TempDir()}
	for _, id := range []NSID{{Cookie: 1, Inode: 10}, {Cookie: 2, Inode: 20}} {
		if _, err := st.Transact(fs, Request{What: "apply", Want: ka(60, 15, 4), Record: "ssh", NS: id}); err != nil {
			t.Fatal(err)
		}
		if err := fs.WriteKey(keepalive.Time, 7200); err != nil {
			t.Fatal(err)
		}
	}
	removed, err := st.Collect(func(id NSID) bool { return id.Cookie == 1 })
	if err != nil || len(removed) != 1 || removed[0] != "revert-c2.json" {
		t.Errorf("Collect removed %v, %v; want revert-c2.json", removed, err)
	}
	d, _ := st.Dir()
	defer d.Close()
	if _, err := LoadRevert(d, NSID{Cookie: 1, Inode: 10}); err != nil {
		t.Errorf("the live namespace's record: %v", err)
	}
}

func TestLease(t *testing.T) {
	st := State{RunDir: t.TempDir()}
	if pid := st.Leased("c1"); pid != 0 {
		t.Fatalf("Leased before any lease: %d", pid)
	}
	l, err := st.TakeLease("c1")
	if err != nil {
		t.Fatal(err)
	}
	if pid := st.Leased("c1"); pid != os.Getpid() {
		t.Errorf("Leased = %d, want this process %d", pid, os.Getpid())
	}
	if _, err := st.TakeLease("c1"); err == nil || !strings.Contains(err.Error(), "another tcpka watch") {
		t.Errorf("second lease: %v", err)
	}
	l.Release()
	if pid := st.Leased("c1"); pid != 0 {
		t.Errorf("Leased after release: %d", pid)
	}
}

// TestStateRefusedUnlessPrivate: a state directory others may write is
// refused with one line that names it; nothing is read from it.
func TestStateRefusedUnlessPrivate(t *testing.T) {
	run := t.TempDir()
	dir := filepath.Join(run, "tcpka")
	if err := os.Mkdir(dir, 0o777); err != nil {
		t.Fatal(err)
	}
	os.Chmod(dir, 0o777)
	st := State{RunDir: run}
	fs := fakeTree(t, kernelDefaults)
	_, err := st.Transact(fs, Request{What: "apply", Want: ka(60, 15, 4), Record: "ssh"})
	if !errors.Is(err, atomicfile.ErrUnsafe) || !strings.Contains(err.Error(), dir+": unsafe state: mode 0777 lets others write it") {
		t.Errorf("Transact with a world-writable state dir: %v", err)
	}
	if v, _ := fs.Read(); v != kernelDefaults {
		t.Errorf("wrote %+v through an unsafe state dir", v)
	}
}

// TestJournalLeftNamesKeys: an apply of a profile that sets tcp_retries2,
// killed after its three keepalive writes, left the keepalive keys on the
// new values and tcp_retries2 on the old one. The report names which key
// holds which, so a kernel that shows the profile's three keepalive
// values is not called "a mix" without saying of what.
func TestJournalLeftNamesKeys(t *testing.T) {
	before := withRetries2(ka(18683, 116, 13), 15)
	want := withRetries2(ka(10, 3, 5), 6)
	j := &Journal{Op: "apply", Profile: "fast-failover", Before: before, Want: want, Keys: SetKeys(want)}
	cases := []struct {
		name string
		now  keepalive.Settings
		want string
	}{
		{"old", before, "the values from before it"},
		{"new", want, "the values it was writing"},
		{"keepalive new, retries2 old", withRetries2(ka(10, 3, 5), 15),
			"a mix: tcp_keepalive_time, tcp_keepalive_intvl and tcp_keepalive_probes hold the values it was writing; tcp_retries2 holds the value from before it"},
		{"time new", withRetries2(ka(10, 116, 13), 15),
			"a mix: tcp_keepalive_time holds the value it was writing; tcp_keepalive_intvl, tcp_keepalive_probes and tcp_retries2 hold the values from before it"},
		{"another writer", withRetries2(ka(10, 3, 7), 15),
			"a mix: tcp_keepalive_time and tcp_keepalive_intvl hold the values it was writing; tcp_retries2 holds the value from before it; tcp_keepalive_probes holds neither value (another writer's)"},
	}
	for _, c := range cases {
		if got := j.Left(c.now); got != c.want {
			t.Errorf("%s: Left(%v)\n got %q\nwant %q", c.name, c.now, got, c.want)
		}
	}
}

// TestFailedApplyLeavesNoRecord: a transaction whose write fails and is
// rolled back changed nothing, so it leaves no revert record; a later
// successful apply records the values from just before it, and revert
// restores those (not the ones from before the failed attempt).
func TestFailedApplyLeavesNoRecord(t *testing.T) {
	fs := fakeTree(t, kernelDefaults)
	st := State{RunDir: t.TempDir()}
	id := NSID{Inode: 42}
	failing := &failingRW{FS: fs, failKey: keepalive.Intvl}
	if _, err := st.Transact(failing, Request{What: "apply", Want: ka(60, 15, 4), Record: "ssh", NS: id}); !errors.Is(err, ErrRolledBack) {
		t.Fatalf("failing apply: %v, want ErrRolledBack", err)
	}
	d, _ := st.Dir()
	defer d.Close()
	if _, err := LoadRevert(d, id); !errors.Is(err, ErrNothingToRevert) {
		t.Fatalf("after a rolled-back apply: record %v, want none", err)
	}
	// The admin sets 600 s by hand; then an apply works.
	if err := fs.WriteKey(keepalive.Time, 600); err != nil {
		t.Fatal(err)
	}
	if _, err := st.Transact(fs, Request{What: "apply", Want: ka(60, 15, 4), Record: "ssh", NS: id}); err != nil {
		t.Fatal(err)
	}
	r, err := st.Revert(fs, id, false)
	if err != nil || r.Record == nil {
		t.Fatalf("revert: %+v, %v", r, err)
	}
	if v, _ := fs.Read(); v.Time != 600 {
		t.Errorf("revert restored time %d, want the admin's 600", v.Time)
	}
	if r, err := st.Revert(fs, id, false); err != nil || r.Record != nil {
		t.Errorf("second revert: %+v, %v: want nothing to revert", r, err)
	}
}

// TestRevertUndoesJournalWithoutRecord: an apply killed after its journal
// and before its revert record (the record is made after the journal)
// changed nothing; the revert that follows has no record to restore, and
// still undoes and removes that journal instead of leaving it behind.
func TestRevertUndoesJournalWithoutRecord(t *testing.T) {
	fs := fakeTree(t, kernelDefaults)
	st := State{RunDir: t.TempDir()}
	id := NSID{Cookie: 9}
	d, err := st.Dir()
	if err != nil {
		t.Fatal(err)
	}
	j := Journal{Op: "apply", Profile: "ssh", NS: id, Before: kernelDefaults, Want: ka(60, 15, 4), Keys: SetKeys(ka(60, 15, 4)), Recorded: true, At: time.Now().UTC(), PID: 4711}
	if err := saveJournal(d, j); err != nil {
		t.Fatal(err)
	}
	d.Close()
	r, err := st.Revert(fs, id, false)
	if err != nil || r.Record != nil {
		t.Fatalf("revert: %+v, %v; want no record and no error", r, err)
	}
	if r.Result.Undone == nil {
		t.Errorf("revert did not report the interrupted apply it undid")
	}
	if j, _ := st.Interrupted(id); j != nil {
		t.Errorf("the journal is still there after the revert: %+v", j)
	}
	if v, _ := fs.Read(); v != kernelDefaults {
		t.Errorf("values after the revert: %+v", v)
	}
}
