// Command truth measures, on the running kernel, what tcpka predicts, and
// prints one markdown table per question:
//
//   - data in flight: tcp_retries2 1..8 (with -full 1..15) at loopback's
//     RTO, and some at 20 ms and 100 ms round trips: the model's band and
//     the kernel's time;
//   - plans: `tcpka plan --idle-timeout D --detect-within B` for paths of
//     60, 240 and 350 s (with -full also 600 and 3600 s), each plan's
//     values written in a scratch namespace and the dead peer's detection
//     measured idle, with data in flight (tcp_retries2) and with the
//     plan's TCP_USER_TIMEOUT, against the bound B;
//   - an armed timer: a connection made under 30/1/2, the sysctls then set
//     to 2/1/2, read once and timed.
//
// Every case runs at once in scratch network namespaces of its own (they
// only wait). Run it as root in private mount and pid namespaces with a
// tmpfs on /run (bench/truth/run does); nothing outside the scratch
// namespaces is written. Exit 1 when a measurement misses its band or a
// plan its bound.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"net"
	"os"
	"sort"
	"sync"
	"syscall"
	"time"

	"github.com/tcpka/tcpka/internal/detect"
	"github.com/tcpka/tcpka/internal/keepalive"
	"github.com/tcpka/tcpka/internal/plan"
	"github.com/tcpka/tcpka/internal/probe"
	"golang.org/x/sys/unix"
)

// row is one measured case.
type row struct {
	table int // which table it goes in
	order int
	cells []string
	band  detect.Band
	got   time.Duration
	bound time.Duration // a plan's bound (0: none)
	err   error
	miss  bool
}

func main() {
	full := flag.Bool("full", false, "also the long cases: tcp_retries2 9..15, the 600 s and 3600 s paths")
	flag.Parse()
	hz, _ := detect.ReadHZ("/proc")
	var (
		mu   sync.Mutex
		rows []*row
		wg   sync.WaitGroup
	)
	run := func(r *row, fn func(r *row)) {
		mu.Lock()
		rows = append(rows, r)
		mu.Unlock()
		wg.Add(1)
		go func() {
			defer wg.Done()
			fn(r)
		}()
	}
	ctx := context.Background()

	// tcp_retries2 at the RTO the connection has.
	maxR := 8
	if *full {
		maxR = 15
	}
	type rtt struct {
		delay time.Duration
		name  string
	}
	var dataCases []struct {
		r int
		d rtt
	}
	for r := 1; r <= maxR; r++ {
		dataCases = append(dataCases, struct {
			r int
			d rtt
		}{r, rtt{0, "loopback"}})
	}
	for _, r := range []int{2, 4, 6} {
		for _, d := range []rtt{{20 * time.Millisecond, "20 ms"}, {100 * time.Millisecond, "100 ms"}} {
			dataCases = append(dataCases, struct {
				r int
				d rtt
			}{r, d})
		}
	}
	for i, c := range dataCases {
		run(&row{table: 0, order: i}, func(r *row) {
			o := probe.Options{Settings: keepalive.Settings{Time: 7200, Intvl: 75, Probes: 9, Retries2: c.r}, WithData: true, Delay: c.d.delay, Timeout: 20 * time.Minute}
			res, err := probe.Measure(ctx, o)
			b := detect.Predict(detect.Case{Settings: o.Settings, Data: true, Retrans: detect.Retrans{RTO: res.RTO}, HZ: hz})
			r.cells = []string{fmt.Sprint(c.r), c.d.name, fmt.Sprintf("%d ms", res.RTO.Milliseconds()), secs(detect.Retrans{}.Budget(c.r))}
			r.finish(b, res, err)
		})
	}

	// Plans for paths, held to their bounds.
	paths := []struct{ idle, within int }{{60, 120}, {240, 120}, {350, 300}}
	if *full {
		paths = append(paths, struct{ idle, within int }{600, 600}, struct{ idle, within int }{3600, 3600})
	}
	for i, pth := range paths {
		p, err := plan.Solve(plan.Ask{IdleTimeout: pth.idle, DetectWithin: pth.within})
		if err != nil {
			fmt.Fprintf(os.Stderr, "truth: plan %d s / %d s: %v\n", pth.idle, pth.within, err)
			os.Exit(1)
		}
		k := p.Settings
		eff := k.Over(keepalive.KernelDefaults)
		vals := fmt.Sprintf("%d/%d/%d", k.Time, k.Intvl, k.Probes)
		for j, c := range []struct {
			state string
			o     probe.Options
		}{
			{"idle", probe.Options{Settings: eff.Sysctls()}},
			{fmt.Sprintf("data, tcp_retries2 %d", eff.Retries2), probe.Options{Settings: eff.Sysctls(), WithData: true}},
			{fmt.Sprintf("data, user timeout %s", k.UserTimeout), probe.Options{Settings: eff, WithData: true}},
		} {
			run(&row{table: 1, order: 3*i + j, bound: time.Duration(pth.within) * time.Second}, func(r *row) {
				c.o.Timeout = time.Duration(pth.within)*time.Second + time.Minute
				res, err := probe.Measure(ctx, c.o)
				b := detect.Predict(detect.Case{Settings: c.o.Settings, Data: c.o.WithData, Retrans: detect.Retrans{RTO: res.RTO}, HZ: hz})
				worst := p.Idle
				if c.o.WithData && c.o.Settings.UserTimeout == 0 {
					worst = p.Data
				} else if c.o.WithData {
					_, worst = detect.Worst(keepalive.Settings{UserTimeout: k.UserTimeout})
				}
				r.cells = []string{fmt.Sprintf("%d s", pth.idle), fmt.Sprintf("%d s", pth.within), vals, c.state, secs(worst.Upper)}
				r.finish(b, res, err)
			})
		}
	}

	// An armed timer keeps the values it was armed with.
	run(&row{table: 2}, func(r *row) {
		r.cells = []string{"30/1/2", "2/1/2"}
		p, err := probe.NewPair(ctx, probe.PairOptions{Settings: keepalive.Settings{Time: 30, Intvl: 1, Probes: 2}})
		if err != nil {
			r.err = err
			return
		}
		defer p.Close()
		l, at, a, err := armed(ctx, p)
		if err != nil {
			r.err = err
			return
		}
		f := l.Fate()
		stale, until := l.Stale()
		r.cells = append(r.cells, fmt.Sprintf("%s (stale: %v, until %s)", secs(l.Expires), stale, secs(until)), band(f.FirstProbe))
		end, rerr := probe.Until(ctx, a)
		r.band, r.got = f.Drop, end.Sub(at)
		r.miss = !errors.Is(rerr, syscall.ETIMEDOUT) || !f.Drop.Contains(r.got) || !stale
		if !errors.Is(rerr, syscall.ETIMEDOUT) {
			r.err = rerr
		}
	})
	wg.Wait()
	sort.SliceStable(rows, func(i, j int) bool {
		if rows[i].table != rows[j].table {
			return rows[i].table < rows[j].table
		}
		return rows[i].order < rows[j].order
	})

	fmt.Printf("# %s, %s, HZ=%d, %d cores, load %s\n", time.Now().UTC().Format("2006-01-02 15:04 UTC"), release(), hz, numCPU(), load())
	heads := []string{
		"| tcp_retries2 | round trip | RTO | budget | predicted (nominal [earliest, latest]) | measured | verdict |\n|---|---|---|---|---|---|---|",
		"| path idle timeout | bound | plan | state | plan's worst case (any HZ) | predicted here | measured | verdict |\n|---|---|---|---|---|---|---|---|",
		"| armed under | sysctls now | armed timer when read | first probe (from the read) | drop (from the read) | measured | verdict |\n|---|---|---|---|---|---|---|",
	}
	bad := false
	for t, h := range heads {
		fmt.Println()
		fmt.Println(h)
		for _, r := range rows {
			if r.table != t {
				continue
			}
			v := "ok"
			switch {
			case r.err != nil:
				v = "ERROR: " + r.err.Error()
			case r.miss:
				v = "MISS"
			case r.bound > 0 && r.got > r.bound:
				v = "MISS: past the bound"
			}
			if v != "ok" {
				bad = true
			}
			fmt.Print("| ")
			for _, c := range r.cells {
				fmt.Print(c, " | ")
			}
			fmt.Printf("%s | %s | %s |\n", band(r.band), secs(r.got), v)
		}
	}
	if bad {
		os.Exit(1)
	}
}

// finish records a measurement against its band.
func (r *row) finish(b detect.Band, res probe.Result, err error) {
	r.band, r.got, r.err = b, res.Measured, err
	if err == nil && !(res.DeadPeer() && detect.Confirms(b, res.Measured)) {
		r.miss = true
		if res.Errno != syscall.ETIMEDOUT {
			r.err = fmt.Errorf("%s", res.Describe())
		}
	}
}

// armed makes a connection in p (under 30/1/2), sets 2/1/2, silences the
// peer and reads the socket.
func armed(ctx context.Context, p *probe.Pair) (detect.Live, time.Time, *net.TCPConn, error) {
	a, _, err := p.Dial(ctx, func(fd int) error { return unix.SetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_KEEPALIVE, 1) })
	if err != nil {
		return detect.Live{}, time.Time{}, nil, err
	}
	time.Sleep(time.Second)
	if err := p.SetSysctls(keepalive.Settings{Time: 2, Intvl: 1, Probes: 2}); err != nil {
		return detect.Live{}, time.Time{}, nil, err
	}
	time.Sleep(time.Second)
	if err := p.Silence(); err != nil {
		return detect.Live{}, time.Time{}, nil, err
	}
	l, at, err := p.Live(a)
	return l, at, a, err
}

func secs(d time.Duration) string { return fmt.Sprintf("%.2f s", d.Seconds()) }

func band(b detect.Band) string {
	if b.Never {
		return "never"
	}
	return fmt.Sprintf("%.2f [%.2f, %.2f]", b.Nominal.Seconds(), b.Lower.Seconds(), b.Upper.Seconds())
}

func release() string {
	var u unix.Utsname
	if unix.Uname(&u) != nil {
		return "?"
	}
	return unix.ByteSliceToString(u.Release[:])
}

func numCPU() int {
	var set unix.CPUSet
	if unix.SchedGetaffinity(0, &set) != nil {
		return 0
	}
	return set.Count()
}

func load() string {
	b, err := os.ReadFile("/proc/loadavg")
	if err != nil || len(b) < 14 {
		return "?"
	}
	return string(b[:14])
}
