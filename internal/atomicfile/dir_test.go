package atomicfile

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/tcpka/tcpka/internal/testkit"
	"golang.org/x/sys/unix"
)

// TestWriteFileAtomic rewrites a file many times while readers read it: a
// reader sees the whole old content or the whole new one, never a part or
// nothing.
func TestWriteFileAtomic(t *testing.T) {
	testkit.Slow(t, "kills writers mid-write")
	root := t.TempDir()
	if err := os.MkdirAll(filepath.Join(root, "etc/sysctl.d"), 0o755); err != nil {
		t.Fatal(err)
	}
	d, _, err := OpenDir(root, "/etc/sysctl.d", false)
	if err != nil {
		t.Fatal(err)
	}
	defer d.Close()
	a := bytes.Repeat([]byte("# aaaaaaaaaaaaaaaa\n"), 400)
	b := bytes.Repeat([]byte("# bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb\n"), 300)
	if err := d.WriteFile("x.conf", a, 0o644); err != nil {
		t.Fatal(err)
	}
	var stop atomic.Bool
	var bad atomic.Value
	var reads atomic.Int64
	var wg sync.WaitGroup
	for i := 0; i < 2; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for !stop.Load() {
				got, err := os.ReadFile(filepath.Join(root, "etc/sysctl.d/x.conf"))
				if err != nil || (!bytes.Equal(got, a) && !bytes.Equal(got, b)) {
					bad.Store(len(got))
					return
				}
				reads.Add(1)
			}
		}()
	}
	for i := 0; i < 100; i++ {
		data := a
		if i%2 == 0 {
			data = b
		}
		if err := d.WriteFile("x.conf", data, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	stop.Store(true)
	wg.Wait()
	if v := bad.Load(); v != nil {
		t.Fatalf("a reader saw a partial or missing file (%d bytes)", v)
	}
	if len(d.Temps("x.conf")) != 0 {
		t.Errorf("temporary files left: %v", d.Temps("x.conf"))
	}
	t.Logf("%d reads during 100 rewrites, all whole", reads.Load())
}

// TestWriteFileNeverFollowsSymlinks: a symlink planted where tcpka writes
// (at the target's name, or at the fixed ".tmp" name older versions used)
// is replaced or ignored; the file it points at is never written.
func TestWriteFileNeverFollowsSymlinks(t *testing.T) {
	dir := t.TempDir()
	victim := filepath.Join(t.TempDir(), "victim")
	os.WriteFile(victim, []byte("precious\n"), 0o600)
	os.Symlink(victim, filepath.Join(dir, "record.json"))
	os.Symlink(victim, filepath.Join(dir, "record.json.tmp"))
	d, _, err := OpenDir("/", dir, false)
	if err != nil {
		t.Fatal(err)
	}
	defer d.Close()
	if err := d.WriteFile("record.json", []byte("{}\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if b, _ := os.ReadFile(victim); string(b) != "precious\n" {
		t.Errorf("the symlink's target was written: %q", b)
	}
	if fi, err := os.Lstat(filepath.Join(dir, "record.json")); err != nil || !fi.Mode().IsRegular() {
		t.Errorf("record.json is not a regular file now: %v %v", fi, err)
	}
	if _, err := d.ReadPrivate("record.json.tmp", 100); !errors.Is(err, ErrSymlink) {
		t.Errorf("ReadPrivate of a symlink: %v, want ErrSymlink", err)
	}
}

// TestPrivateDirRefusesOthers: a state directory another user owns, or
// others may write, is refused with one line that names it.
func TestPrivateDirRefusesOthers(t *testing.T) {
	base := t.TempDir()
	open := filepath.Join(base, "tcpka")
	os.Mkdir(open, 0o777)
	os.Chmod(open, 0o777)
	if _, err := PrivateDir(base, "tcpka"); !errors.Is(err, ErrUnsafe) || !strings.Contains(err.Error(), open+": unsafe state: mode 0777 lets others write it") {
		t.Errorf("world-writable: %v", err)
	}
	os.Chmod(open, 0o700)
	if d, err := PrivateDir(base, "tcpka"); err != nil {
		t.Errorf("0700 and ours: %v", err)
	} else {
		d.Close()
	}
	testkit.NeedRoot(t, "give the directory to another user")
	os.Chown(open, 65534, 65534)
	if _, err := PrivateDir(base, "tcpka"); !errors.Is(err, ErrUnsafe) || !strings.Contains(err.Error(), open+": unsafe state: owned by uid 65534, not 0") {
		t.Errorf("owned by nobody: %v", err)
	}
	fresh := t.TempDir()
	d, err := PrivateDir(fresh, "tcpka/enforce")
	if err != nil {
		t.Fatal(err)
	}
	d.Close()
	for _, p := range []string{filepath.Join(fresh, "tcpka"), filepath.Join(fresh, "tcpka/enforce")} {
		if fi, err := os.Stat(p); err != nil || fi.Mode().Perm() != 0o700 {
			t.Errorf("%s: %v %v, want mode 0700", p, fi.Mode(), err)
		}
	}
}

// TestCreateFileRefusesExisting: CreateFile writes a name that is free and
// leaves whatever holds a taken one (a file, a symlink, a directory) as it
// was, with ErrExist and no temporary file left; WriteFile replaces.
func TestCreateFileRefusesExisting(t *testing.T) {
	t.Run("renameat2", testCreateFile)
	// A file system without RENAME_NOREPLACE: link, then unlink.
	defer func(f func(int, string, int, string, uint) error) { renameat2 = f }(renameat2)
	renameat2 = func(int, string, int, string, uint) error { return unix.EINVAL }
	t.Run("link", testCreateFile)
}

func testCreateFile(t *testing.T) {
	dir := t.TempDir()
	victim := filepath.Join(t.TempDir(), "victim")
	os.WriteFile(victim, []byte("precious\n"), 0o600)
	os.WriteFile(filepath.Join(dir, "file.yaml"), []byte("old\n"), 0o644)
	os.Symlink(victim, filepath.Join(dir, "link.yaml"))
	os.Mkdir(filepath.Join(dir, "dir.yaml"), 0o755)
	tests := []struct {
		name string
		want error
		keep string // what the name holds afterwards, read through it
	}{
		{"new.yaml", nil, "new\n"},
		{"file.yaml", ErrExist, "old\n"},
		{"link.yaml", ErrExist, "precious\n"},
		{"dir.yaml", ErrExist, ""},
	}
	for _, tt := range tests {
		p := filepath.Join(dir, tt.name)
		err := CreateFile(p, []byte("new\n"), 0o644)
		if !errors.Is(err, tt.want) || (err != nil) != (tt.want != nil) {
			t.Errorf("CreateFile(%s): %v, want %v", tt.name, err, tt.want)
		}
		if err != nil && (!errors.Is(err, os.ErrExist) || err.Error() != "write "+p+": file exists") {
			t.Errorf("CreateFile(%s): %q, want %q wrapping os.ErrExist", tt.name, err, "write "+p+": file exists")
		}
		if tt.keep != "" {
			if b, _ := os.ReadFile(p); string(b) != tt.keep {
				t.Errorf("CreateFile(%s): it holds %q, want %q", tt.name, b, tt.keep)
			}
		}
	}
	if b, _ := os.ReadFile(victim); string(b) != "precious\n" {
		t.Errorf("the symlink's target was written: %q", b)
	}
	entries, _ := os.ReadDir(dir)
	for _, e := range entries {
		if strings.Contains(e.Name(), tempInfix) {
			t.Errorf("temporary file left: %s", e.Name())
		}
	}
	if err := WriteFile(filepath.Join(dir, "file.yaml"), []byte("new\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if b, _ := os.ReadFile(filepath.Join(dir, "file.yaml")); string(b) != "new\n" {
		t.Errorf("WriteFile did not replace file.yaml: %q", b)
	}
}

// TestMissing: the directories OpenDir would create, and the same refusals.
func TestMissing(t *testing.T) {
	root := t.TempDir()
	os.MkdirAll(filepath.Join(root, "etc/tcpka"), 0o755)
	os.WriteFile(filepath.Join(root, "file"), nil, 0o644)
	os.Symlink("etc", filepath.Join(root, "link"))
	cases := []struct {
		root, dir string
		want      []string
		err       error
	}{
		{root, "/etc/tcpka", nil, nil},
		{root, "/", nil, nil},
		{root, "/etc/sysctl.d", []string{"/etc/sysctl.d"}, nil},
		{root, "/usr/lib/sysctl.d", []string{"/usr", "/usr/lib", "/usr/lib/sysctl.d"}, nil},
		{root, "/file/x", nil, ErrNotDir},
		{root, "/link/sysctl.d", nil, ErrSymlink},
		{filepath.Join(root, "nope"), "/etc", nil, ErrNoDir},
	}
	for _, c := range cases {
		got, err := Missing(c.root, c.dir)
		if strings.Join(got, " ") != strings.Join(c.want, " ") || !errors.Is(err, c.err) || (c.err == nil) != (err == nil) {
			t.Errorf("Missing(%s, %s) = %q, %v; want %q, %v", c.root, c.dir, got, err, c.want, c.err)
		}
		if c.err == nil {
			d, made, err := OpenDir(c.root, c.dir, true)
			if err != nil {
				t.Fatal(err)
			}
			d.Close()
			if strings.Join(made, " ") != strings.Join(c.want, " ") {
				t.Errorf("OpenDir(%s, %s, true) made %q, Missing said %q", c.root, c.dir, made, c.want)
			}
		}
	}
}

// TestClassifyText: a permission or read-only error reads as what it is,
// once, and is still the errno for errors.Is.
func TestClassifyText(t *testing.T) {
	cases := []struct {
		err      error
		want     string
		sentinel error
	}{
		{unix.EACCES, "permission denied", ErrPermission},
		{unix.EPERM, "permission denied", ErrPermission},
		{unix.EROFS, "read-only file system", ErrReadOnly},
		{&os.PathError{Op: "open", Path: "/etc/x", Err: unix.EACCES}, "permission denied", ErrPermission},
		{fmt.Errorf("by policy: %w", unix.EPERM), "permission denied (by policy: operation not permitted)", ErrPermission},
		{unix.ENOSPC, "no space left on device", nil},
	}
	for _, c := range cases {
		got := Classify(c.err)
		if got.Error() != c.want || !errors.Is(got, c.err) || c.sentinel != nil && !errors.Is(got, c.sentinel) {
			t.Errorf("Classify(%v) = %q, want %q (and errors.Is %v)", c.err, got, c.want, c.sentinel)
		}
	}
}
