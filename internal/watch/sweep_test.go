package watch

import (
	"errors"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/tcpka/tcpka/internal/metrics"
)

// TestSweepAtMostOncePerInterval: 200 scrapes at once cost one scan; a
// scrape after the interval gets the last result at once (the scan that
// refreshes it runs behind), with its age, and the next one the new result.
func TestSweepAtMostOncePerInterval(t *testing.T) {
	var scans atomic.Int64
	release := make(chan struct{}, 10)
	s := NewSweep(100*time.Millisecond, time.Hour, func() (int64, error) {
		n := scans.Add(1)
		if n > 1 {
			<-release // a slow scan, after the first
		}
		return n, nil
	})
	var wg sync.WaitGroup
	for i := 0; i < 200; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if v, _, err := s.Get(); v != 1 || err != nil {
				t.Errorf("a first scrape got %d, %v", v, err)
			}
		}()
	}
	wg.Wait()
	if n := scans.Load(); n != 1 {
		t.Errorf("200 scrapes within the interval ran %d scans, want 1", n)
	}
	time.Sleep(150 * time.Millisecond)
	t0 := time.Now()
	for i := 0; i < 50; i++ {
		v, age, err := s.Get()
		if v != 1 || err != nil || age < 150*time.Millisecond {
			t.Fatalf("a scrape while the second scan runs: %d, age %v, %v; want the first result, at least 150ms old", v, age, err)
		}
	}
	if d := time.Since(t0); d > 50*time.Millisecond {
		t.Errorf("50 scrapes during a slow scan took %v: they waited for it", d)
	}
	release <- struct{}{}
	for deadline := time.Now().Add(2 * time.Second); s.Sweeps() < 2 && time.Now().Before(deadline); time.Sleep(time.Millisecond) {
	}
	if v, age, err := s.Get(); v != 2 || err != nil || age > 100*time.Millisecond {
		t.Errorf("after the second scan: %d, age %v, %v", v, age, err)
	}
	if n := scans.Load(); n != 2 {
		t.Errorf("%d scans, want 2", n)
	}
}

// TestSweepStale: a scan that never finishes does not leave scrapes
// reading old numbers as if they were current.
func TestSweepStale(t *testing.T) {
	var scans atomic.Int64
	stuck := make(chan struct{})
	defer close(stuck)
	s := NewSweep(10*time.Millisecond, 50*time.Millisecond, func() (int, error) {
		if scans.Add(1) > 1 {
			<-stuck
		}
		return 7, nil
	})
	if v, _, err := s.Get(); v != 7 || err != nil {
		t.Fatalf("first: %d %v", v, err)
	}
	time.Sleep(20 * time.Millisecond)
	s.Get() // starts the stuck scan
	time.Sleep(60 * time.Millisecond)
	if _, age, err := s.Get(); !errors.Is(err, errStale) {
		t.Errorf("a result %v old with a 50ms bound: err %v, want errStale", age, err)
	}
}

// TestLastSweepCopies: watch fills in the samples of each snapshot it is
// given; one scrape's changes never reach the cached snapshot or another
// scrape.
func TestLastSweepCopies(t *testing.T) {
	base := LastSweep(time.Hour, func() (metrics.Info, []metrics.Sample, error) {
		return metrics.Info{}, []metrics.Sample{{Netns: "a"}}, nil
	})
	_, s1, _ := base()
	s1[0].Netns = "changed"
	if _, s2, _ := base(); s2[0].Netns != "a" {
		t.Errorf("a scrape's change reached the cache: %q", s2[0].Netns)
	}
}
