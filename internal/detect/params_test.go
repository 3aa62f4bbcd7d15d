package detect

import (
	"bytes"
	"compress/gzip"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"testing"
	"time"
)

func TestHzOfTick(t *testing.T) {
	for _, hz := range []int{24, 100, 128, 200, 250, 256, 300, 500, 1000, 1024} {
		tick := (time.Second + time.Duration(hz/2)) / time.Duration(hz) // TICK_NSEC
		if got, ok := hzOfTick(tick); !ok || got != hz {
			t.Errorf("hzOfTick(%v) = %d, %v; want %d", tick, got, ok, hz)
		}
	}
	for _, d := range []time.Duration{0, -1, 1, 4*time.Millisecond + 1, 2 * time.Second} {
		if got, ok := hzOfTick(d); ok {
			t.Errorf("hzOfTick(%v) = %d, ok; want not a tick", d, got)
		}
	}
}

// TestReadHZRunningKernel: the clock and the published kernel config agree.
func TestReadHZRunningKernel(t *testing.T) {
	want, ok := configHZ("/proc")
	if !ok {
		t.Skip("no kernel config to compare with: neither /proc/config.gz nor /boot/config-RELEASE")
	}
	got, ok := ReadHZ("/proc")
	if !ok || got != want {
		t.Errorf("ReadHZ(/proc) = %d, %v; CONFIG_HZ in the kernel config is %d", got, ok, want)
	}
	if c, ok := clockHZ(); !ok || c != want {
		t.Errorf("clockHZ() = %d, %v; CONFIG_HZ is %d", c, ok, want)
	}
}

// TestReadHZProcRoot: another proc tree is read, not the running kernel's clock.
func TestReadHZProcRoot(t *testing.T) {
	dir := t.TempDir()
	if hz, ok := ReadHZ(dir); ok || hz != DefaultHZ {
		t.Errorf("empty tree: ReadHZ = %d, %v; want %d, false", hz, ok, DefaultHZ)
	}
	f, err := os.Create(filepath.Join(dir, "config.gz"))
	if err != nil {
		t.Fatal(err)
	}
	zw := gzip.NewWriter(f)
	zw.Write([]byte("CONFIG_HZ_300=y\n# CONFIG_HZ_1000 is not set\nCONFIG_HZ=300\nCONFIG_SCHED_HRTICK=y\n"))
	zw.Close()
	f.Close()
	if hz, ok := ReadHZ(dir); !ok || hz != 300 {
		t.Errorf("tree with config.gz: ReadHZ = %d, %v; want 300, true", hz, ok)
	}
}

// TestReadSmallFile: what os.ReadFile gives, content and errors, for a
// /proc/sys file, files around its first buffer's size, a missing file
// and a directory.
func TestReadSmallFile(t *testing.T) {
	dir := t.TempDir()
	paths := []string{"/proc/sys/net/ipv4/tcp_retries2", filepath.Join(dir, "missing"), dir}
	for _, n := range []int{0, 1, 63, 64, 65, 200, 5000} {
		p := filepath.Join(dir, fmt.Sprint(n))
		if err := os.WriteFile(p, bytes.Repeat([]byte{'7'}, n), 0o644); err != nil {
			t.Fatal(err)
		}
		paths = append(paths, p)
	}
	for _, p := range paths {
		want, wantErr := os.ReadFile(p)
		got, err := ReadSmallFile(p)
		if !bytes.Equal(got, want) || fmt.Sprint(err) != fmt.Sprint(wantErr) || errors.Is(err, os.ErrNotExist) != errors.Is(wantErr, os.ErrNotExist) {
			t.Errorf("%s: %d bytes, %v; os.ReadFile: %d bytes, %v", p, len(got), err, len(want), wantErr)
		}
	}
}
