package atomicfile

import (
	"bytes"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"
	"testing"
)

// TestWriteFileAtomic rewrites a file many times while readers read it: a
// reader sees the whole old content or the whole new one, never a part or
// nothing.
func TestWriteFileAtomic(t *testing.T) {
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
