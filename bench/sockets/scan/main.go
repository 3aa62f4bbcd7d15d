// Command scan times the sock_diag dump of the calling network namespace
// with and without tcp_info (INET_DIAG_INFO), alternately, -r rounds, and
// prints one markdown row per kind: sockets seen, median and best wall
// time, median CPU time (user + system, from getrusage: less disturbed by
// other work on the machine than the wall clock), heap allocations of the
// whole scan, and the medians' ratios to the dump without tcp_info. Run it where the sockets
// are (bench/sockets/info starts holders in a scratch namespace).
package main

import (
	"flag"
	"fmt"
	"os"
	"runtime"
	"sort"
	"time"

	"github.com/tcpka/tcpka/internal/sockdiag"
	"golang.org/x/sys/unix"
)

func main() {
	rounds := flag.Int("r", 11, "rounds")
	flag.Parse()
	kinds := []struct {
		name string
		l    sockdiag.Netlink
	}{{"header only (NoInfo)", sockdiag.Netlink{NoInfo: true}}, {"with tcp_info", sockdiag.Netlink{}}}
	type result struct {
		walls   []time.Duration
		cpus    []time.Duration
		sockets int
		allocs  uint64
		info    int
	}
	res := make([]result, len(kinds))
	var ms runtime.MemStats
	for r := 0; r < *rounds; r++ {
		for i, k := range kinds {
			n, info := 0, 0
			var lastExp uint32
			runtime.GC()
			runtime.ReadMemStats(&ms)
			before := ms.Mallocs
			cpu0 := cpuTime()
			start := time.Now()
			err := k.l.Each(sockdiag.StatesAll, func(s *sockdiag.Socket) error {
				n++
				if s.HasInfo {
					info++
				}
				lastExp += s.Expires // use the socket, as a real caller does
				return nil
			})
			wall := time.Since(start)
			cpu := cpuTime() - cpu0
			runtime.ReadMemStats(&ms)
			if err != nil {
				fmt.Fprintln(os.Stderr, "scan:", err)
				os.Exit(1)
			}
			res[i].walls = append(res[i].walls, wall)
			res[i].cpus = append(res[i].cpus, cpu)
			res[i].sockets, res[i].info = n, info
			res[i].allocs = max(res[i].allocs, ms.Mallocs-before)
			_ = lastExp
		}
	}
	median := func(w []time.Duration) time.Duration {
		s := append([]time.Duration(nil), w...)
		sort.Slice(s, func(a, b int) bool { return s[a] < s[b] })
		return s[len(s)/2]
	}
	best := func(w []time.Duration) time.Duration {
		b := w[0]
		for _, x := range w {
			b = min(b, x)
		}
		return b
	}
	base, baseCPU := median(res[0].walls), median(res[0].cpus)
	fmt.Println("| dump | sockets | with tcp_info | median wall | best wall | median CPU | allocations (whole scan) | wall / header only | CPU / header only |")
	fmt.Println("|---|---|---|---|---|---|---|---|---|")
	msec := func(d time.Duration) float64 { return float64(d.Microseconds()) / 1000 }
	for i, k := range kinds {
		m, c := median(res[i].walls), median(res[i].cpus)
		fmt.Printf("| %s | %d | %d | %.1f ms | %.1f ms | %.1f ms | %d | %.2f | %.2f |\n", k.name, res[i].sockets, res[i].info,
			msec(m), msec(best(res[i].walls)), msec(c), res[i].allocs, float64(m)/float64(base), float64(c)/float64(baseCPU))
	}
}

// cpuTime is the process's user and system time so far.
func cpuTime() time.Duration {
	var ru unix.Rusage
	if err := unix.Getrusage(unix.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
