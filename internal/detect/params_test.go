package detect

import (
	"compress/gzip"
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
