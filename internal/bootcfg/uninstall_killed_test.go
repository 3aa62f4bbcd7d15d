package bootcfg

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/tcpka/tcpka/internal/atomicfile"
	"github.com/tcpka/tcpka/internal/keepalive"
)

// uninstallKilled runs Uninstall and reports whether it was killed.
func uninstallKilled(root string, hook func(step, target string) error) (died bool, err error) {
	atomicfile.Hook = hook
	defer func() {
		atomicfile.Hook = nil
		if r := recover(); r != nil {
			if _, ok := r.(killed); !ok {
				panic(r)
			}
			died = true
		}
	}()
	_, err = Uninstall(root, false)
	return false, err
}

// TestUninstallKilledAnywhere kills an uninstall at every step (each
// write of its journal, each unlink and rmdir): a tree that is neither
// installed nor empty is named by show's boot section (BootReport) as an
// interrupted uninstall, which no longer offers the unit as installed;
// the next uninstall, or install, completes it.
func TestUninstallKilledAnywhere(t *testing.T) {
	for _, next := range []string{"uninstall", "install"} {
		for n := 1; ; n++ {
			root := t.TempDir() // /etc without sysctl.d: install makes it, uninstall removes it
			if err := os.Mkdir(filepath.Join(root, "etc"), 0o755); err != nil {
				t.Fatal(err)
			}
			empty := snapshot(t, root)
			if _, err := Install(opts(root)); err != nil {
				t.Fatal(err)
			}
			installed := snapshot(t, root)
			died, err := uninstallKilled(root, killedAt(n))
			if err != nil {
				t.Fatalf("%s: kill at step %d: %v", next, n, err)
			}
			if !died {
				if n < 5 {
					t.Errorf("only %d steps: the kill points do not cover the removals", n-1)
				}
				break
			}
			now := snapshot(t, root)
			for p := range now { // a killed write's temporary file is no state
				if strings.Contains(p, ".tcpka-tmp-") {
					delete(now, p)
				}
			}
			if _, rec := now["etc/tcpka/install.json"]; !rec && len(now) == len(empty)+1 {
				delete(now, "etc/tcpka") // killed at its last step, the rmdir: an empty directory, which the next run removes
			}
			mixed := !cmp.Equal(now, installed) && !cmp.Equal(now, empty)
			b, err := Boot(root, keepalive.KernelDefaults)
			if err != nil {
				t.Fatal(err)
			}
			named := b.Interrupted == "uninstall" && strings.Contains(strings.Join(b.Problems, "\n"), "an uninstall of tcpka was interrupted")
			if mixed && !named {
				t.Errorf("step %d: the kill left neither the install nor nothing, and show's boot section does not say so: problems %q\n%s", n, b.Problems, cmp.Diff(installed, now))
			}
			if named && b.Unit {
				t.Errorf("step %d: an interrupted uninstall still reports tcpka.service as installed (show offers to enable it)", n)
			}
			switch next {
			case "uninstall":
				res, err := Uninstall(root, false)
				if err != nil {
					t.Fatalf("step %d: uninstall after the kill: %v", n, err)
				}
				if named && !strings.Contains(strings.Join(ops(res), "\n"), "complete ") {
					t.Errorf("step %d: the next uninstall does not say it completed the interrupted one: %v", n, ops(res))
				}
				if d := cmp.Diff(empty, snapshot(t, root)); d != "" {
					t.Errorf("step %d: after the next uninstall (-empty +got):\n%s", n, d)
				}
			case "install":
				if _, err := Install(opts(root)); err != nil {
					t.Fatalf("step %d: install after the kill: %v", n, err)
				}
				if d := cmp.Diff(installed, snapshot(t, root)); d != "" {
					t.Errorf("step %d: after the next install (-installed +got):\n%s", n, d)
				}
			}
		}
	}
}
