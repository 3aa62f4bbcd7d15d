package probe

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/tcpka/tcpka/internal/detect"
	"github.com/tcpka/tcpka/internal/keepalive"
	"github.com/tcpka/tcpka/internal/nstest"
	"github.com/tcpka/tcpka/internal/testkit"
)

// TestMeasureMatchesModel measures real dead-peer detection in scratch
// namespaces and holds each result to the model's band. The cases run in
// parallel; together they take as long as the longest, retries2 8 (about
// 108 s).
func TestMeasureMatchesModel(t *testing.T) {
	testkit.Slow(t, "measures the kernel's timers")
	// Private pid, mount and network namespaces with a tmpfs /run: the
	// scratch namespaces are named under a /run/netns of the test's own.
	if !nstest.Private(t) {
		return
	}
	hz, _ := detect.ReadHZ("/proc")
	tests := []struct {
		name string
		o    Options
	}{
		{"2/1/3", Options{Settings: ka(2, 1, 3, 0, 0)}},
		{"3/2/2", Options{Settings: ka(3, 2, 2, 0, 0)}},
		{"1/1/5", Options{Settings: ka(1, 1, 5, 0, 0)}},
		// TCP_USER_TIMEOUT 7 s outlives the 3 probes: probes are ignored,
		// the connection dies at 7 s, not 5 s.
		{"2/1/3 user-timeout 7s", Options{Settings: ka(2, 1, 3, 0, 7*time.Second)}},
		// Data in flight: keepalive does nothing, tcp_retries2 decides.
		// 3 and 4 end at the same retransmission (6.6-6.9 s at a 204 ms
		// RTO): the budget of 4 (6.2 s) is spent 4 ms before the timer
		// wheel fires the 5th, that of 3 long before.
		{"2/1/3 with-data retries2 2", Options{Settings: ka(2, 1, 3, 2, 0), WithData: true}},
		{"2/1/3 with-data retries2 3", Options{Settings: ka(2, 1, 3, 3, 0), WithData: true}},
		{"2/1/3 with-data retries2 4", Options{Settings: ka(2, 1, 3, 4, 0), WithData: true}},
		{"2/1/3 with-data retries2 5", Options{Settings: ka(2, 1, 3, 5, 0), WithData: true}},
		// RFC 1122's least: about 107 s, the longest case here; the others
		// run beside it.
		{"2/1/3 with-data retries2 8", Options{Settings: ka(2, 1, 3, 8, 0), WithData: true}},
		{"2/1/3 with-data user-timeout 3s", Options{Settings: ka(2, 1, 3, 3, 3*time.Second), WithData: true}},
		// A longer path (a delay line on the survivor's side): the RTO is the
		// round trip + 200 ms, 220 ms (55 jiffies) and 300 ms (75), and
		// the budget still counts from 200 ms.
		{"2/1/3 with-data retries2 4, RTT 20ms", Options{Settings: ka(2, 1, 3, 4, 0), WithData: true, Delay: 20 * time.Millisecond}},
		{"2/1/3 with-data retries2 4, RTT 100ms", Options{Settings: ka(2, 1, 3, 4, 0), WithData: true, Delay: 100 * time.Millisecond}},
		{"2/1/3 with-data user-timeout 3s, RTT 100ms", Options{Settings: ka(2, 1, 3, 15, 3*time.Second), WithData: true, Delay: 100 * time.Millisecond}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			tt.o.Timeout = 150 * time.Second
			res, err := Measure(context.Background(), tt.o)
			unsupported(t, err)
			if err != nil {
				t.Fatalf("Measure: %v", err)
			}
			for _, n := range res.Namespaces {
				if _, err := os.Stat(filepath.Join(netnsDir, n)); !os.IsNotExist(err) {
					t.Errorf("scratch netns %s left behind", n)
				}
			}
			c := detect.Case{Settings: tt.o.Settings, Data: tt.o.WithData, Retrans: detect.Retrans{RTO: res.RTO}, HZ: hz}
			b := detect.Predict(c)
			t.Logf("%s: predicted %.3f s [%.3f, %.3f], measured %.3f s, %v (rto %v)",
				tt.name, b.Nominal.Seconds(), b.Lower.Seconds(), b.Upper.Seconds(), res.Measured.Seconds(), res.Err, res.RTO)
			if res.TimedOut {
				t.Fatalf("no failure within %v", tt.o.Timeout)
			}
			if res.Errno != syscall.ETIMEDOUT {
				t.Errorf("read failed with %v, want ETIMEDOUT", res.Err)
			}
			// A machine busy with the rest of the test suite can wake
			// the survivor's reader late; never early.
			b.Upper += busy
			if !detect.Confirms(b, res.Measured) {
				t.Errorf("measured %v outside the model's band [%v, %v] (%s)", res.Measured, b.Lower, b.Upper, b.Rule)
			}
		})
	}
}

// TestMeasureCleansUp: an interrupted measurement (Ctrl-C cancels the
// context) and one that fails half-way both leave no namespace behind.
func TestMeasureCleansUp(t *testing.T) {
	// Private pid, mount and network namespaces with a tmpfs /run: the
	// scratch namespaces are named under a /run/netns of the test's own.
	if !nstest.Private(t) {
		return
	}
	long := Options{Settings: ka(60, 10, 3, 0, 0), Timeout: time.Minute}

	ctx, cancel := context.WithTimeout(context.Background(), 1500*time.Millisecond)
	defer cancel()
	start := time.Now()
	res, err := Measure(ctx, long)
	if err == nil || !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("interrupted Measure: err = %v, want the context's error", err)
	}
	if d := time.Since(start); d > 5*time.Second {
		t.Errorf("interrupted Measure returned after %v", d)
	}
	assertGone(t, res.Namespaces[:])

	// A context cancelled before the listener exists: Measure fails after
	// creating the namespaces and the veth pair.
	done, cancel2 := context.WithCancel(context.Background())
	cancel2()
	res, err = Measure(done, long)
	if err == nil {
		t.Fatal("Measure with a cancelled context succeeded")
	}
	t.Logf("failed half-way as expected: %v", err)
	assertGone(t, res.Namespaces[:])
}

// TestMeasureRemovesStale: namespaces of a tcpka measure that was killed
// (its pid no longer exists) are removed by the next one.
func TestMeasureRemovesStale(t *testing.T) {
	// Private pid, mount and network namespaces with a tmpfs /run: the
	// scratch namespaces are named under a /run/netns of the test's own.
	if !nstest.Private(t) {
		return
	}
	// a pid that cannot exist: above pid_max's hard limit (4194304)
	stale := "tcpka-measure-4194305-1-a"
	if err := os.MkdirAll(netnsDir, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(netnsDir, stale), nil, 0o444); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.Remove(filepath.Join(netnsDir, stale)) })
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	res, _ := Measure(ctx, Options{Settings: ka(60, 10, 3, 0, 0), Timeout: time.Minute})
	assertGone(t, res.Namespaces[:])
	if _, err := os.Stat(filepath.Join(netnsDir, stale)); !os.IsNotExist(err) {
		t.Errorf("stale %s still there (stat: %v)", stale, err)
	}
}

// busy is how much later than the band a measurement may come on a
// machine loaded by the rest of the test suite (compilers, other
// namespaces' tests): the reader's wake-up, not the kernel's timers.
const busy = 500 * time.Millisecond

func assertGone(t *testing.T, names []string) {
	t.Helper()
	for _, n := range names {
		if n == "" {
			t.Fatal("no namespace names reported")
		}
	}
	// Anonymous namespaces: the only things that could hold one of them
	// are this process's descriptors, and a name left under /run/netns.
	ids := map[string]bool{}
	for _, n := range names {
		if i := strings.Index(n, "net:["); i >= 0 {
			ids[n[i:]] = true
		}
	}
	es, _ := os.ReadDir("/proc/self/fd")
	for _, e := range es {
		if l, err := os.Readlink(filepath.Join("/proc/self/fd", e.Name())); err == nil && ids[l] {
			t.Errorf("scratch namespace %s is still held open", l)
		}
	}
	if es, _ := os.ReadDir(netnsDir); len(es) > 0 {
		for _, e := range es {
			if strings.HasPrefix(e.Name(), "tcpka-measure-") {
				t.Errorf("%s/%s left behind", netnsDir, e.Name())
			}
		}
	}
}

func ka(t, i, p, retries2 int, ut time.Duration) keepalive.Settings {
	return keepalive.Settings{Time: t, Intvl: i, Probes: p, Retries2: retries2, UserTimeout: ut}
}
