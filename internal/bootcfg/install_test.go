package bootcfg

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"sort"
	"strings"
	"syscall"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/tcpka/tcpka/internal/atomicfile"
	"github.com/tcpka/tcpka/internal/testkit"
	"golang.org/x/sys/unix"
)

// newRoot makes a root with the directories a Debian system has.
func newRoot(t *testing.T) string {
	t.Helper()
	root := t.TempDir()
	for _, d := range []string{"etc/sysctl.d", "etc/systemd/system"} {
		if err := os.MkdirAll(filepath.Join(root, d), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	return root
}

func opts(root string) InstallOptions {
	return InstallOptions{
		Root:    root,
		DropIn:  []byte("# " + Marker + "\nnet.ipv4.tcp_keepalive_time = 60\n"),
		Profile: []byte("# " + Marker + "\ntime: 60s\n"),
		Unit:    []byte("# " + Marker + "\n[Service]\n"),
	}
}

// tree lists every path below root with its mode.
func tree(t *testing.T, root string) []string {
	t.Helper()
	var out []string
	filepath.Walk(root, func(p string, fi os.FileInfo, err error) error {
		if err != nil {
			t.Fatal(err)
		}
		rel, _ := filepath.Rel(root, p)
		if rel != "." {
			out = append(out, rel+" "+fi.Mode().String())
		}
		return nil
	})
	sort.Strings(out)
	return out
}

func ops(r *Result) []string {
	var out []string
	for _, a := range r.Actions {
		out = append(out, string(a.Op)+" "+a.Path)
	}
	return out
}

func TestInstallUninstall(t *testing.T) {
	root := newRoot(t)
	old := umask(0o077) // the modes must not depend on the caller's umask
	defer umask(old)
	before := tree(t, root)
	res, err := Install(opts(root))
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff([]string{
		"create /etc/sysctl.d/60-tcpka.conf", "create /etc/tcpka/", "create /etc/tcpka/profile.yaml",
		"create /etc/systemd/system/tcpka.service", "create /etc/tcpka/install.json",
	}, ops(res)); diff != "" {
		t.Errorf("install actions (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff([]string{
		"etc drwxr-xr-x",
		"etc/sysctl.d drwxr-xr-x",
		"etc/sysctl.d/60-tcpka.conf -rw-r--r--",
		"etc/systemd drwxr-xr-x",
		"etc/systemd/system drwxr-xr-x",
		"etc/systemd/system/tcpka.service -rw-r--r--",
		"etc/tcpka drwxr-xr-x",
		"etc/tcpka/install.json -rw-r--r--",
		"etc/tcpka/profile.yaml -rw-r--r--",
	}, tree(t, root)); diff != "" {
		t.Errorf("tree after install (-want +got):\n%s", diff)
	}
	got, _ := os.ReadFile(filepath.Join(root, "etc/sysctl.d/60-tcpka.conf"))
	if !bytes.Equal(got, opts(root).DropIn) {
		t.Errorf("drop-in content: %q", got)
	}

	// Again: nothing changes.
	res, err = Install(opts(root))
	if err != nil {
		t.Fatal(err)
	}
	if res.Changed() {
		t.Errorf("second install changed something: %v", ops(res))
	}

	// Uninstall removes exactly what install wrote, and the dir it made.
	res, err = Uninstall(root, false)
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(before, tree(t, root)); diff != "" {
		t.Errorf("tree after uninstall differs from before install (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff([]string{
		"remove /etc/sysctl.d/60-tcpka.conf", "remove /etc/tcpka/profile.yaml",
		"remove /etc/systemd/system/tcpka.service", "remove /etc/tcpka/install.json", "remove /etc/tcpka/",
	}, ops(res)); diff != "" {
		t.Errorf("uninstall actions (-want +got):\n%s", diff)
	}
	// And a second uninstall has nothing to do.
	if res, err := Uninstall(root, false); err != nil || len(res.Actions) != 0 {
		t.Errorf("second uninstall: %v %v", ops(res), err)
	}
}

func TestInstallRefusesForeignFiles(t *testing.T) {
	for _, tc := range []struct {
		name  string
		setup func(t *testing.T, root string) string // returns the path that must survive
		want  error
	}{
		{"foreign drop-in", func(t *testing.T, root string) string {
			p := filepath.Join(root, "etc/sysctl.d/60-tcpka.conf")
			os.WriteFile(p, []byte("net.ipv4.tcp_keepalive_time = 30\n"), 0o644)
			return p
		}, ErrForeign},
		{"foreign unit", func(t *testing.T, root string) string {
			p := filepath.Join(root, "etc/systemd/system/tcpka.service")
			os.WriteFile(p, []byte("[Service]\nExecStart=/bin/true\n"), 0o644)
			return p
		}, ErrForeign},
		{"symlink as the drop-in", func(t *testing.T, root string) string {
			target := filepath.Join(root, "elsewhere.conf")
			os.WriteFile(target, []byte("# "+Marker+"\nmine\n"), 0o644)
			os.Symlink(target, filepath.Join(root, "etc/sysctl.d/60-tcpka.conf"))
			return target
		}, ErrForeign},
		{"symlinked sysctl.d", func(t *testing.T, root string) string {
			os.RemoveAll(filepath.Join(root, "etc/sysctl.d"))
			os.Mkdir(filepath.Join(root, "outside"), 0o755)
			os.Symlink(filepath.Join(root, "outside"), filepath.Join(root, "etc/sysctl.d"))
			return filepath.Join(root, "outside")
		}, ErrSymlink},
	} {
		t.Run(tc.name, func(t *testing.T) {
			root := newRoot(t)
			keep := tc.setup(t, root)
			keptBefore, _ := os.ReadFile(keep)
			before := tree(t, root)
			_, err := Install(opts(root))
			if !errors.Is(err, tc.want) {
				t.Fatalf("got %v, want %v", err, tc.want)
			}
			t.Log(err)
			if diff := cmp.Diff(before, tree(t, root)); diff != "" {
				t.Errorf("a refused install changed the tree (-before +after):\n%s", diff)
			}
			if kept, _ := os.ReadFile(keep); !bytes.Equal(kept, keptBefore) {
				t.Errorf("%s changed", keep)
			}
		})
	}
}

func TestInstallForceReplacesForeignFile(t *testing.T) {
	root := newRoot(t)
	target := filepath.Join(root, "elsewhere.conf")
	os.WriteFile(target, []byte("theirs\n"), 0o644)
	link := filepath.Join(root, "etc/sysctl.d/60-tcpka.conf")
	os.Symlink(target, link)
	o := opts(root)
	o.Force = true
	res, err := Install(o)
	if err != nil {
		t.Fatal(err)
	}
	if a, _ := res.Action("/etc/sysctl.d/60-tcpka.conf"); a.Op != OpReplace {
		t.Errorf("op %s, want replace", a.Op)
	}
	if b, _ := os.ReadFile(target); string(b) != "theirs\n" {
		t.Errorf("the symlink's target was written through: %q", b)
	}
	if fi, _ := os.Lstat(link); !fi.Mode().IsRegular() {
		t.Errorf("%s is %v, want a regular file replacing the link", link, fi.Mode())
	}
}

func TestInstallBadPaths(t *testing.T) {
	t.Run("missing root", func(t *testing.T) {
		_, err := Install(opts(filepath.Join(t.TempDir(), "nope")))
		if !errors.Is(err, ErrNoDir) || !strings.Contains(err.Error(), "nope") {
			t.Fatalf("got %v", err)
		}
	})
	t.Run("missing sysctl.d", func(t *testing.T) {
		root := newRoot(t)
		o := opts(root)
		o.SysctlDir = "/etc/nosuch.d"
		before := tree(t, root)
		_, err := Install(o)
		if !errors.Is(err, ErrNoDir) || !strings.Contains(err.Error(), root+"/etc/nosuch.d: no such directory") {
			t.Fatalf("got %v", err)
		}
		if diff := cmp.Diff(before, tree(t, root)); diff != "" {
			t.Errorf("a failed install changed the tree (-before +after):\n%s", diff)
		}
	})
	t.Run("no systemd", func(t *testing.T) {
		root := newRoot(t)
		os.RemoveAll(filepath.Join(root, "etc/systemd"))
		res, err := Install(opts(root))
		if err != nil {
			t.Fatal(err)
		}
		if a, _ := res.Action("/etc/systemd/system/tcpka.service"); a.Op != OpSkip {
			t.Errorf("unit op %s, want skip", a.Op)
		}
	})
	// A binary the unit may not run (UnitBinary's refusal) stops the install
	// where the unit would be written, and only there.
	t.Run("unit refused", func(t *testing.T) {
		root := newRoot(t)
		o := opts(root)
		o.UnitErr = fmt.Errorf("tcpka.service cannot run /tmp/go-build1/b001/exe/tcpka: %w", ErrGoRun)
		before := tree(t, root)
		if _, err := Install(o); !errors.Is(err, ErrGoRun) {
			t.Fatalf("got %v, want ErrGoRun", err)
		}
		if diff := cmp.Diff(before, tree(t, root)); diff != "" {
			t.Errorf("a refused install changed the tree (-before +after):\n%s", diff)
		}
		os.RemoveAll(filepath.Join(root, "etc/systemd"))
		res, err := Install(o)
		if err != nil {
			t.Fatalf("no systemd, so no unit: %v", err)
		}
		if a, _ := res.Action("/etc/systemd/system/tcpka.service"); a.Op != OpSkip {
			t.Errorf("unit op %s, want skip", a.Op)
		}
	})
	// Not root: the tree (root's, mode 0755) cannot be written.
	t.Run("not root", func(t *testing.T) {
		testkit.NeedRoot(t, "runs Install with nobody's file-system uid over a tree root owns")
		root := newRoot(t)
		os.Chmod(filepath.Dir(root), 0o755) // t.TempDir's parent: 0700
		before := tree(t, root)
		var err error
		asNobody(t, func() { _, err = Install(opts(root)) })
		t.Log(err)
		if !errors.Is(err, ErrPermission) || strings.Count(err.Error(), "permission denied") != 1 {
			t.Fatalf("got %v, want ErrPermission, said once", err)
		}
		if diff := cmp.Diff(before, tree(t, root)); diff != "" {
			t.Errorf("a refused install changed the tree (-before +after):\n%s", diff)
		}
	})
}

// TestCrashLeftovers: a write that dies before its rename leaves the old
// file whole and at most a temp file, which the loaders do not read and the
// next write removes.
func TestCrashLeftovers(t *testing.T) {
	root := newRoot(t)
	if _, err := Install(opts(root)); err != nil {
		t.Fatal(err)
	}
	d, _, _ := atomicfile.OpenDir(root, "/etc/sysctl.d", false)
	defer d.Close()
	crash := errors.New("simulated crash")
	atomicfile.Hook = renameFails(func(int) error { return crash })
	o := opts(root)
	o.DropIn = []byte("# " + Marker + "\nnet.ipv4.tcp_keepalive_time = 90\n")
	_, err := Install(o)
	atomicfile.Hook = nil
	if !errors.Is(err, crash) {
		t.Fatalf("got %v", err)
	}
	got, _ := os.ReadFile(filepath.Join(root, "etc/sysctl.d/60-tcpka.conf"))
	if !bytes.Equal(got, opts(root).DropIn) {
		t.Errorf("the old drop-in did not survive a failed write: %q", got)
	}
	// A real crash cannot clean up: leave a half-written temp file.
	os.WriteFile(filepath.Join(root, "etc/sysctl.d/.60-tcpka.conf.tcpka-tmp-123456"), []byte("net.ipv4.tcp_keepalive_time = 9"), 0o600)
	r, err := Resolve(root)
	if err != nil {
		t.Fatal(err)
	}
	if len(r.Files) != 1 || r.Files[0].Path != "/etc/sysctl.d/60-tcpka.conf" {
		t.Errorf("the loaders would read %v", r.Files)
	}
	if _, err := Install(o); err != nil {
		t.Fatal(err)
	}
	if left := d.Temps(DropInName); len(left) != 0 {
		t.Errorf("temp files survive the next write: %v", left)
	}
}

// TestInstallRollsBack: when the second file cannot be written, the first
// gets its old content back.
func TestInstallRollsBack(t *testing.T) {
	root := newRoot(t)
	if _, err := Install(opts(root)); err != nil {
		t.Fatal(err)
	}
	before := tree(t, root)
	dropBefore, _ := os.ReadFile(filepath.Join(root, "etc/sysctl.d/60-tcpka.conf"))
	atomicfile.Hook = renameFails(func(n int) error {
		if n == 2 {
			return errors.New("disk full")
		}
		return nil
	})
	defer func() { atomicfile.Hook = nil }()
	o := opts(root)
	o.DropIn = []byte("# " + Marker + "\nnet.ipv4.tcp_keepalive_time = 90\n")
	o.Profile = []byte("# " + Marker + "\ntime: 90s\n")
	if _, err := Install(o); err == nil || !strings.Contains(err.Error(), "disk full") {
		t.Fatalf("got %v", err)
	}
	atomicfile.Hook = nil
	if got, _ := os.ReadFile(filepath.Join(root, "etc/sysctl.d/60-tcpka.conf")); !bytes.Equal(got, dropBefore) {
		t.Errorf("drop-in not rolled back: %q", got)
	}
	if diff := cmp.Diff(before, tree(t, root)); diff != "" {
		t.Errorf("tree (-before +after):\n%s", diff)
	}
}

func TestUninstallRefuses(t *testing.T) {
	t.Run("enabled", func(t *testing.T) {
		root := newRoot(t)
		Install(opts(root))
		wants := filepath.Join(root, "etc/systemd/system/multi-user.target.wants")
		os.Mkdir(wants, 0o755)
		os.Symlink("/etc/systemd/system/tcpka.service", filepath.Join(wants, UnitName))
		before := tree(t, root)
		if _, err := Uninstall(root, false); !errors.Is(err, ErrEnabled) {
			t.Fatalf("got %v", err)
		}
		if diff := cmp.Diff(before, tree(t, root)); diff != "" {
			t.Errorf("tree (-before +after):\n%s", diff)
		}
	})
	t.Run("edited file", func(t *testing.T) {
		root := newRoot(t)
		Install(opts(root))
		p := filepath.Join(root, "etc/tcpka/profile.yaml")
		os.WriteFile(p, []byte("# "+Marker+"\ntime: 45s\n"), 0o644)
		before := tree(t, root)
		if _, err := Uninstall(root, false); !errors.Is(err, ErrChanged) {
			t.Fatalf("got %v", err)
		}
		if diff := cmp.Diff(before, tree(t, root)); diff != "" {
			t.Errorf("tree (-before +after):\n%s", diff)
		}
		if _, err := Uninstall(root, true); err != nil {
			t.Fatalf("--force: %v", err)
		}
		if _, err := os.Stat(p); !errors.Is(err, os.ErrNotExist) {
			t.Errorf("--force left %s", p)
		}
	})
	t.Run("replaced by a foreign file", func(t *testing.T) {
		root := newRoot(t)
		Install(opts(root))
		p := filepath.Join(root, "etc/sysctl.d/60-tcpka.conf")
		os.WriteFile(p, []byte("net.ipv4.tcp_keepalive_time = 5\n"), 0o644)
		if _, err := Uninstall(root, true); !errors.Is(err, ErrChanged) {
			t.Fatalf("got %v", err)
		}
		if _, err := os.Stat(p); err != nil {
			t.Errorf("a foreign file was removed even with --force: %v", err)
		}
	})
	t.Run("foreign file in tcpka's dir survives", func(t *testing.T) {
		root := newRoot(t)
		Install(opts(root))
		os.WriteFile(filepath.Join(root, "etc/tcpka/notes.txt"), []byte("mine"), 0o644)
		res, err := Uninstall(root, false)
		if err != nil {
			t.Fatal(err)
		}
		if a, _ := res.Action("/etc/tcpka/"); a.Op != OpKeep {
			t.Errorf("/etc/tcpka/: %s, want keep", a.Op)
		}
		if _, err := os.Stat(filepath.Join(root, "etc/tcpka/notes.txt")); err != nil {
			t.Error(err)
		}
	})
}

func TestInstallMovesDropIn(t *testing.T) {
	root := newRoot(t)
	os.MkdirAll(filepath.Join(root, "run/sysctl.d"), 0o755)
	Install(opts(root))
	o := opts(root)
	o.SysctlDir = "/run/sysctl.d"
	res, err := Install(o)
	if err != nil {
		t.Fatal(err)
	}
	if a, _ := res.Action("/etc/sysctl.d/60-tcpka.conf"); a.Op != OpRemove {
		t.Errorf("old drop-in: %s, want remove", a.Op)
	}
	if _, err := os.Stat(filepath.Join(root, "etc/sysctl.d/60-tcpka.conf")); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("the old drop-in stayed: %v", err)
	}
	if _, err := Uninstall(root, false); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join(root, "run/sysctl.d/60-tcpka.conf")); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("uninstall left the moved drop-in: %v", err)
	}
}

// renameFails is an atomicfile.Hook that calls fail with the count of
// renames so far (1 for the first) before each rename.
func renameFails(fail func(n int) error) func(step, target string) error {
	n := 0
	return func(step, target string) error {
		if step != "rename" {
			return nil
		}
		n++
		return fail(n)
	}
}

// killedAt is an atomicfile.Hook that dies (a panic standing for SIGKILL:
// no rollback runs) at its n-th step, counting from 1.
func killedAt(n int) func(step, target string) error {
	i := 0
	return func(step, target string) error {
		i++
		if i == n {
			panic(killed{})
		}
		return nil
	}
}

type killed struct{}

// installKilled runs Install and reports whether it was killed.
func installKilled(o InstallOptions, hook func(step, target string) error) (died bool, err error) {
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
	_, err = Install(o)
	return false, err
}

// snapshot is a tree with every file's content and kind.
func snapshot(t *testing.T, root string) map[string]string {
	t.Helper()
	out := map[string]string{}
	filepath.Walk(root, func(p string, fi os.FileInfo, err error) error {
		if err != nil {
			t.Fatal(err)
		}
		rel, _ := filepath.Rel(root, p)
		switch {
		case fi.Mode()&os.ModeSymlink != 0:
			l, _ := os.Readlink(p)
			out[rel] = "-> " + l
		case fi.IsDir():
			out[rel] = fi.Mode().String()
		default:
			b, _ := os.ReadFile(p)
			st := fi.Sys().(*syscall.Stat_t)
			out[rel] = fmt.Sprintf("%s uid %d %s", fi.Mode(), st.Uid, sum(b))
		}
		return nil
	})
	return out
}

// TestInstallKilledAnywhere kills an install over a previous one at every
// step of its writes (each write, fsync, rename, directory fsync): the next
// Recover leaves exactly the old tree or exactly the new one, with no
// backup or temporary file, and uninstall then finds what it must remove.
func TestInstallKilledAnywhere(t *testing.T) {
	testkit.Slow(t, "kills install at every step")
	oldOpts := func(root string) InstallOptions { return opts(root) }
	newOpts := func(root string) InstallOptions {
		o := opts(root)
		o.DropIn = []byte("# " + Marker + "\nnet.ipv4.tcp_keepalive_time = 90\n")
		o.Profile = []byte("# " + Marker + "\ntime: 90s\n")
		return o
	}
	for _, fresh := range []bool{true, false} {
		for n := 1; ; n++ {
			root := newRoot(t)
			empty := snapshot(t, root)
			if !fresh {
				if _, err := Install(oldOpts(root)); err != nil {
					t.Fatal(err)
				}
			}
			before := snapshot(t, root)
			died, err := installKilled(newOpts(root), killedAt(n))
			if err != nil {
				t.Fatalf("fresh=%v kill at step %d: %v", fresh, n, err)
			}
			if !died {
				if n < 8 {
					t.Errorf("fresh=%v: only %d steps: the kill points do not cover the writes", fresh, n-1)
				}
				break
			}
			acts, err := Recover(root)
			if err != nil {
				t.Fatalf("fresh=%v step %d: Recover: %v", fresh, n, err)
			}
			after := snapshot(t, root)
			cleanAfter := newRoot(t)
			if !fresh {
				Install(oldOpts(cleanAfter))
			}
			Install(newOpts(cleanAfter))
			if diff := cmp.Diff(before, after); diff != "" && !sameTree(t, snapshot(t, cleanAfter), after) {
				t.Errorf("fresh=%v step %d: after Recover (%v) the tree is neither the old nor the new one (-old +got):\n%s", fresh, n, ops(&Result{Actions: acts}), diff)
			}
			if _, err := Uninstall(root, false); err != nil {
				t.Fatalf("fresh=%v step %d: uninstall after the kill: %v", fresh, n, err)
			}
			if diff := cmp.Diff(empty, snapshot(t, root)); diff != "" {
				t.Errorf("fresh=%v step %d: uninstall left files behind (-empty +got):\n%s", fresh, n, diff)
			}
		}
	}
}

// sameTree compares two trees by their paths below the root and contents.
func sameTree(t *testing.T, a, b map[string]string) bool {
	t.Helper()
	return cmp.Equal(a, b)
}

// TestInstallFailuresRestoreExactly: a write that fails (EIO at each step)
// puts back every file exactly: a replaced symlink stays a symlink, a
// foreign file keeps its bytes (over 1 MiB), mode and owner.
func TestInstallFailuresRestoreExactly(t *testing.T) {
	for _, step := range []string{"write", "fsync", "rename", "fsync-dir"} {
		for nth := 1; nth <= 4; nth++ {
			root := newRoot(t)
			big := bytes.Repeat([]byte("net.ipv4.tcp_keepalive_time = 30\n"), 40000) // 1.3 MB
			prof := filepath.Join(root, "etc/tcpka")
			os.MkdirAll(prof, 0o755)
			os.WriteFile(filepath.Join(prof, "profile.yaml"), big, 0o600)
			os.Chmod(filepath.Join(prof, "profile.yaml"), 0o600)
			if os.Geteuid() == 0 {
				os.Chown(filepath.Join(prof, "profile.yaml"), 1234, 1234)
			}
			os.Symlink("/usr/lib/sysctl.d/elsewhere.conf", filepath.Join(root, "etc/sysctl.d/60-tcpka.conf"))
			before := snapshot(t, root)
			o := opts(root)
			o.Force = true
			count := 0
			eio := errors.New("input/output error")
			atomicfile.Hook = func(s, target string) error {
				if s == step {
					count++
					if count == nth {
						return eio
					}
				}
				return nil
			}
			_, err := Install(o)
			atomicfile.Hook = nil
			if count < nth {
				continue // fewer such steps than nth: done
			}
			if !errors.Is(err, eio) {
				t.Errorf("%s #%d: Install: %v, want the injected error", step, nth, err)
			}
			if diff := cmp.Diff(before, snapshot(t, root)); diff != "" {
				t.Errorf("%s #%d: the tree was not put back exactly (-before +after):\n%s", step, nth, diff)
			}
		}
	}
}

// asNobody runs fn with the file-system permissions of an unprivileged
// user: as root, on a thread of its own whose file-system uid is 65534
// (setfsuid also drops CAP_DAC_OVERRIDE from that thread, so a mode 0555
// directory is refused as for anyone else); the thread is thrown away
// afterwards.
func asNobody(t *testing.T, fn func()) {
	t.Helper()
	if os.Geteuid() != 0 {
		fn()
		return
	}
	done := make(chan struct{})
	go func() {
		defer close(done)
		runtime.LockOSThread() // never unlocked: the thread ends with the goroutine
		unix.Setfsuid(65534)
		unix.Setfsgid(65534)
		fn()
	}()
	<-done
}

// TestDryRunSaysWhatInstallDoes: in each starting state, --dry-run lists
// exactly the actions the real install then takes (the directories it
// makes and the record included), and writes nothing.
func TestDryRunSaysWhatInstallDoes(t *testing.T) {
	other := opts("")
	other.DropIn = []byte("# " + Marker + "\nnet.ipv4.tcp_keepalive_time = 90\n")
	cases := []struct {
		name  string
		setup func(t *testing.T, root string)
		o     func(root string) InstallOptions
	}{
		{"debian", func(*testing.T, string) {}, opts},
		{"empty tree", func(t *testing.T, root string) { os.RemoveAll(filepath.Join(root, "etc")) }, opts},
		{"no sysctl.d", func(t *testing.T, root string) { os.RemoveAll(filepath.Join(root, "etc/sysctl.d")) }, opts},
		{"installed", func(t *testing.T, root string) { mustInstall(t, opts(root)) }, opts},
		{"installed, another profile", func(t *testing.T, root string) { mustInstall(t, opts(root)) },
			func(root string) InstallOptions { o := other; o.Root = root; return o }},
		{"installed elsewhere", func(t *testing.T, root string) {
			o := opts(root)
			o.SysctlDir = "/usr/local/lib/sysctl.d"
			mustInstall(t, o)
		}, opts},
		{"into /run/sysctl.d, not there", func(*testing.T, string) {},
			func(root string) InstallOptions { o := opts(root); o.SysctlDir = "/run/sysctl.d"; return o }},
		{"foreign drop-in, --force", func(t *testing.T, root string) {
			os.WriteFile(filepath.Join(root, "etc/sysctl.d/60-tcpka.conf"), []byte("x = 1\n"), 0o644)
		}, func(root string) InstallOptions { o := opts(root); o.Force = true; return o }},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			root := newRoot(t)
			c.setup(t, root)
			before := tree(t, root)
			o := c.o(root)
			o.DryRun = true
			dry, err := Install(o)
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(before, tree(t, root)); diff != "" {
				t.Fatalf("the dry run changed the tree (-before +after):\n%s", diff)
			}
			o.DryRun = false
			real, err := Install(o)
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(ops(real), ops(dry)); diff != "" {
				t.Errorf("dry run (+) and install (-) differ:\n%s", diff)
			}
		})
	}
}

func mustInstall(t *testing.T, o InstallOptions) {
	t.Helper()
	if _, err := Install(o); err != nil {
		t.Fatal(err)
	}
}
