package netscope

import (
	"errors"
	"os"
	"path/filepath"
	"testing"

	"github.com/tcpka/tcpka/internal/keepalive"
	"github.com/tcpka/tcpka/internal/netns"
	"github.com/tcpka/tcpka/internal/sysctl"
)

// tree copies the fixture proc tree testdata/NAME to a temporary
// directory a test may write.
func tree(t *testing.T, name string) string {
	t.Helper()
	dst := t.TempDir()
	src := filepath.Join("testdata", name)
	err := filepath.WalkDir(src, func(p string, d os.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(src, p)
		if d.IsDir() {
			return os.MkdirAll(filepath.Join(dst, rel), 0o755)
		}
		b, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		return os.WriteFile(filepath.Join(dst, rel), b, 0o644)
	})
	if err != nil {
		t.Fatal(err)
	}
	return dst
}

func openScope(t *testing.T, r Roots) *Scope {
	t.Helper()
	s, err := Open(r, "", false)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

// TestOneNamespaceRoundTrip: read, apply, read back, revert, through the
// one handle, as apply and revert use it.
func TestOneNamespaceRoundTrip(t *testing.T) {
	proc := tree(t, "defaults")
	s := openScope(t, Roots{Proc: proc, Run: t.TempDir()})
	if s.All() || s.RealProc() || s.ProcRoot() != proc {
		t.Fatalf("scope: all %v real %v proc %s", s.All(), s.RealProc(), s.ProcRoot())
	}
	rs, _, err := s.Read()
	if err != nil || len(rs) != 1 || rs[0].Values != keepalive.KernelDefaults {
		t.Fatalf("Read = %+v, %v", rs, err)
	}
	want := keepalive.Settings{Time: 60, Intvl: 15, Probes: 4}
	outs, _, err := s.Transact(sysctl.Request{What: "apply", Want: want, Record: "ssh"})
	if err != nil || len(outs) != 1 || !outs[0].Written || len(outs[0].Changes) != 3 {
		t.Fatalf("Transact = %+v, %v", outs, err)
	}
	if v, _ := s.NS().Read(); v != want.Over(keepalive.KernelDefaults) {
		t.Errorf("after apply: %+v", v)
	}
	// A dry run of the revert changes nothing; the revert restores.
	rep, err := s.Revert(true)
	if err != nil || rep.Namespaces[0].Record == nil || len(rep.Namespaces[0].Result.Changes) != 3 {
		t.Fatalf("dry revert = %+v, %v", rep, err)
	}
	if v, _ := s.NS().Read(); v.Time != 60 {
		t.Errorf("a dry run wrote: %+v", v)
	}
	rep, err = s.Revert(false)
	if err != nil || rep.Namespaces[0].Record.Profile != "ssh" {
		t.Fatalf("revert = %+v, %v", rep, err)
	}
	if v, _ := s.NS().Read(); v != keepalive.KernelDefaults {
		t.Errorf("after revert: %+v", v)
	}
	if rep, err := s.Revert(false); err != nil || rep.Namespaces[0].Record != nil {
		t.Errorf("second revert = %+v, %v: want nothing to revert", rep, err)
	}
}

// TestReadError: one namespace that cannot be read is the command's error.
func TestReadError(t *testing.T) {
	s := openScope(t, Roots{Proc: t.TempDir(), Run: t.TempDir()})
	if _, _, err := s.Read(); !errors.Is(err, sysctl.ErrRead) {
		t.Errorf("Read of an empty tree: %v, want sysctl.ErrRead", err)
	}
}

func TestOpenErrors(t *testing.T) {
	r := Roots{Proc: t.TempDir(), Run: t.TempDir(), Netns: t.TempDir()}
	if _, err := Open(r, "blue", true); !errors.Is(err, ErrExclusive) {
		t.Errorf("--netns with --all-netns: %v, want ErrExclusive", err)
	}
	if _, err := Open(r, "pid:x", false); !errors.Is(err, netns.ErrBadSpec) {
		t.Errorf("pid:x: %v, want netns.ErrBadSpec", err)
	}
	if _, err := Open(r, "no-such-name", false); err == nil {
		t.Errorf("a name that does not exist opened")
	}
}

// TestWatchedRefused: a change where a watch holds the lease is refused,
// naming the watch; the watch itself goes through.
func TestWatchedRefused(t *testing.T) {
	proc := tree(t, "defaults")
	s := openScope(t, Roots{Proc: proc, Run: t.TempDir()})
	lease, err := s.State().TakeLease("all")
	if err != nil {
		t.Fatal(err)
	}
	defer lease.Release()
	_, _, err = s.Transact(sysctl.Request{What: "apply", Want: keepalive.Settings{Time: 60}, Record: "x"})
	if !errors.Is(err, ErrWatched) {
		t.Fatalf("apply under a watch: %v, want ErrWatched", err)
	}
	if v, _ := s.NS().Read(); v.Time != 7200 {
		t.Errorf("a refused apply wrote: %+v", v)
	}
	// A dry run reads and says what would change.
	if outs, _, err := s.Transact(sysctl.Request{What: "apply", Want: keepalive.Settings{Time: 60}, DryRun: true}); err != nil || len(outs[0].Changes) != 1 {
		t.Errorf("dry run under a watch: %+v, %v", outs, err)
	}
	if _, _, err := s.Transact(sysctl.Request{What: "watch", Want: keepalive.Settings{Time: 60}, Record: "x"}); err != nil {
		t.Errorf("the watch's own transaction: %v", err)
	}
	if _, err := s.Revert(false); !errors.Is(err, ErrWatched) {
		t.Errorf("revert under a watch: %v, want ErrWatched", err)
	}
}

func TestMemberLabel(t *testing.T) {
	tests := []struct {
		m    Member
		want string
	}{
		{Member{ID: "net:[1]", Listed: &netns.Namespace{Ino: 1, Names: []string{"blue"}}}, "net:[1] blue"},
		{Member{ID: "net:[2]", Listed: &netns.Namespace{Ino: 2, Pids: []int{1, 5, 9}, Host: true},
			Procs: []netns.Process{{Pid: 1, Command: "systemd"}}}, "net:[2] (systemd[1] +2 more) [host]"},
		{Member{ID: "net:[3]", Listed: &netns.Namespace{Ino: 3, Pids: []int{7}},
			Procs: []netns.Process{{Pid: 7, Command: "evil\x1b[2J"}}}, `net:[3] ("evil\x1b[2J"[7])`},
	}
	for _, tt := range tests {
		if got := tt.m.Label(); got != tt.want {
			t.Errorf("Label = %q, want %q", got, tt.want)
		}
	}
}
