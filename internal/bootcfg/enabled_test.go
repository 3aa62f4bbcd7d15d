package bootcfg

import (
	"os"
	"path/filepath"
	"sort"
	"testing"

	"github.com/google/go-cmp/cmp"
)

// TestEnabled builds a unit dir with links that count and near misses,
// and checks Enabled against the list and against filepath.Glob of the
// two patterns (what it replaced).
func TestEnabled(t *testing.T) {
	root := t.TempDir()
	unitDir := filepath.Join(root, UnitDir)
	mk := func(rel string) string {
		p := filepath.Join(unitDir, rel)
		if err := os.MkdirAll(p, 0o755); err != nil {
			t.Fatal(err)
		}
		return p
	}
	if got := Enabled(root); got != nil {
		t.Errorf("no unit dir: Enabled = %v, want none", got)
	}
	os.Symlink("/etc/systemd/system/tcpka.service", filepath.Join(mk("multi-user.target.wants"), UnitName)) // dangling here: still a link
	os.WriteFile(filepath.Join(mk("sysinit.target.requires"), UnitName), nil, 0o644)
	mk("timers.target.wants") // other units only
	os.WriteFile(filepath.Join(mk("getty.target.wants"), "getty@tty1.service"), nil, 0o644)
	os.WriteFile(filepath.Join(mk("foo.wantsx"), UnitName), nil, 0o644) // not *.wants
	os.WriteFile(filepath.Join(unitDir, "file.wants"), nil, 0o644)      // not a directory
	os.WriteFile(filepath.Join(mk("elsewhere"), UnitName), nil, 0o644)
	os.Symlink(filepath.Join(unitDir, "elsewhere"), filepath.Join(unitDir, "linked.target.wants")) // dir symlink: followed
	os.WriteFile(filepath.Join(unitDir, UnitName), nil, 0o644)                                     // the unit itself

	want := []string{
		"/etc/systemd/system/linked.target.wants/tcpka.service",
		"/etc/systemd/system/multi-user.target.wants/tcpka.service",
		"/etc/systemd/system/sysinit.target.requires/tcpka.service",
	}
	got := Enabled(root)
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("Enabled (-want +got):\n%s", diff)
	}
	var glob []string
	for _, pat := range []string{"*.wants", "*.requires"} {
		m, _ := filepath.Glob(filepath.Join(unitDir, pat, UnitName))
		for _, p := range m {
			rel, _ := filepath.Rel(root, p)
			glob = append(glob, "/"+filepath.ToSlash(rel))
		}
	}
	sort.Strings(glob)
	if diff := cmp.Diff(glob, got); diff != "" {
		t.Errorf("Enabled differs from filepath.Glob (-glob +Enabled):\n%s", diff)
	}
}
