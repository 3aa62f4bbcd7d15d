package probe

import (
	"context"
	"errors"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/nftables"
	"github.com/tcpka/tcpka/internal/detect"
	"github.com/tcpka/tcpka/internal/nstest"
	"github.com/tcpka/tcpka/internal/testkit"
)

// TestMeasureNATMatchesModel holds connections idle through a scratch NAT
// that forgets a flow after 4 s of silence, for 10 s, and holds each
// outcome to the model (detect.IdleFlow). The cases run in parallel and
// take about 14 s together.
func TestMeasureNATMatchesModel(t *testing.T) {
	testkit.Slow(t, "measures the kernel's timers")
	// Private pid, mount and network namespaces with a tmpfs /run: the
	// scratch namespaces are named under a /run/netns of the test's own.
	if !nstest.Private(t) {
		return
	}
	hz, _ := detect.ReadHZ("/proc")
	const timeout, idle = 4 * time.Second, 10 * time.Second
	ctBefore := ownConntrack(t)
	tests := []struct {
		name string
		o    NATOptions
		want bool
	}{
		// a probe every 2 s: the flow never goes silent for 4 s
		{"2/1/3 kept", NATOptions{Settings: ka(2, 1, 3, 0, 0)}, true},
		// the first probe comes after 8 s: the NAT forgot the flow at 4 s
		{"8/1/3 first probe too late", NATOptions{Settings: ka(8, 1, 3, 0, 0)}, false},
		// the first probe in time, but answered probes then come every
		// max(time, intvl) = 6 s
		{"2/6/3 next probe too late", NATOptions{Settings: ka(2, 6, 3, 0, 0)}, false},
	}
	// Goroutines rather than parallel subtests: -test.parallel defaults to
	// GOMAXPROCS (2 here), and these cases only wait.
	type out struct {
		res NATResult
		err error
	}
	outs := make([]out, len(tests))
	var wg sync.WaitGroup
	for i, tt := range tests {
		wg.Add(1)
		go func() {
			defer wg.Done()
			tt.o.Timeout, tt.o.Idle = timeout, idle
			outs[i].res, outs[i].err = MeasureNAT(context.Background(), tt.o)
		}()
	}
	wg.Wait()
	for i, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			sl := detect.IdleFlow(tt.o.Settings, true, idle, timeout, hz)
			if want := map[bool]detect.Flow{true: detect.FlowKept, false: detect.FlowLost}[tt.want]; sl.Flow != want {
				t.Errorf("model: %+v, want flow %v", sl, want)
			}
			res, err := outs[i].res, outs[i].err
			if err != nil {
				t.Fatalf("MeasureNAT: %v", err)
			}
			assertGone(t, res.Namespaces[:])
			k, n := res.WithKeepalive, res.WithoutKeepalive
			t.Logf("silence %v..%v; keepalive: survived %v after %v idle (echo %v, %v); without: survived %v (%v)",
				sl.Min, sl.Max, k.Survived, k.Idle, k.Echo, k.Err, n.Survived, n.Err)
			if k.Survived != tt.want {
				t.Errorf("with keepalive: survived %v, model says %v (%v)", k.Survived, tt.want, k.Err)
			}
			if n.Survived {
				t.Errorf("without keepalive: survived %v idle through a %v NAT timeout", n.Idle, timeout)
			}
		})
	}
	t.Cleanup(func() {
		if after := ownConntrack(t); after != ctBefore {
			t.Errorf("the test's own namespace changed: %s -> %s", ctBefore, after)
		}
	})
}

// ownConntrack describes what MeasureNAT must never touch outside its
// scratch namespaces: this namespace's nftables tables and conntrack
// settings.
func ownConntrack(t *testing.T) string {
	t.Helper()
	c, err := nftables.New()
	if err != nil {
		t.Fatal(err)
	}
	tables, err := c.ListTables()
	if err != nil {
		t.Fatal(err)
	}
	var s []string
	for _, tb := range tables {
		s = append(s, "table "+tb.Name)
	}
	for _, k := range []string{"nf_conntrack_tcp_timeout_established", "nf_conntrack_tcp_loose"} {
		b, err := os.ReadFile("/proc/sys/net/netfilter/" + k)
		if err != nil && !errors.Is(err, os.ErrNotExist) {
			t.Fatal(err)
		}
		s = append(s, k+"="+strings.TrimSpace(string(b)))
	}
	b, _ := os.ReadFile("/proc/sys/net/ipv4/ip_forward")
	return strings.Join(append(s, "ip_forward="+strings.TrimSpace(string(b))), " ")
}

// TestMeasureNATCleansUp: an interrupted NAT measurement (Ctrl-C cancels
// the context) leaves no namespace behind, while idle and before the
// connections exist.
func TestMeasureNATCleansUp(t *testing.T) {
	if !nstest.Private(t) {
		return
	}
	o := NATOptions{Settings: ka(2, 1, 3, 0, 0), Timeout: 4 * time.Second, Idle: time.Minute}
	ctx, cancel := context.WithTimeout(context.Background(), 1500*time.Millisecond)
	defer cancel()
	start := time.Now()
	res, err := MeasureNAT(ctx, o)
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("interrupted MeasureNAT: err = %v, want the context's error", err)
	}
	if d := time.Since(start); d > 5*time.Second {
		t.Errorf("interrupted MeasureNAT returned after %v", d)
	}
	assertGone(t, res.Namespaces[:])

	done, cancel2 := context.WithCancel(context.Background())
	cancel2()
	res, err = MeasureNAT(done, o)
	if err == nil {
		t.Fatal("MeasureNAT with a cancelled context succeeded")
	}
	t.Logf("failed half-way as expected: %v", err)
	assertGone(t, res.Namespaces[:])
}
