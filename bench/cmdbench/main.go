// Command cmdbench times shell commands side by side: it runs them in
// alternation (A, B, A, B, ...) so that load on the machine hits both
// alike, then prints the median and p10/p90 wall time of each and
// the ratio of medians to the first command (the baseline).
//
//	go run ./bench/cmdbench -n 300 'sysctl -n net.ipv4.tcp_keepalive_time' './tcpka show'
package main

import (
	"flag"
	"fmt"
	"os"
	"os/exec"
	"sort"
	"strings"
	"time"
)

func main() {
	n := flag.Int("n", 200, "runs of each command")
	warm := flag.Int("warmup", 5, "untimed runs of each command first")
	flag.Parse()
	cmds := flag.Args()
	if len(cmds) < 2 {
		fmt.Fprintln(os.Stderr, "usage: cmdbench [-n N] BASELINE-CMD CMD...")
		os.Exit(2)
	}
	walls := make([][]time.Duration, len(cmds))
	for i := 0; i < *warm+*n; i++ {
		for j, c := range cmds {
			d, err := runOnce(c)
			if err != nil {
				fmt.Fprintf(os.Stderr, "cmdbench: %q: %v\n", c, err)
				os.Exit(1)
			}
			if i >= *warm {
				walls[j] = append(walls[j], d)
			}
		}
	}
	base := median(walls[0])
	fmt.Printf("%-10s %-10s %-10s %-9s %s\n", "median", "p10", "p90", "ratio", "command")
	for j, c := range cmds {
		sort.Slice(walls[j], func(a, b int) bool { return walls[j][a] < walls[j][b] })
		m := median(walls[j])
		fmt.Printf("%-10s %-10s %-10s %-9.3f %s\n", ms(m), ms(pct(walls[j], 10)), ms(pct(walls[j], 90)),
			float64(m)/float64(base), c)
	}
	fmt.Printf("(%d alternating runs each after %d warm-up runs)\n", *n, *warm)
}

// runOnce runs c (split on spaces, no shell) with output discarded and
// returns its wall time, fork to wait. (Peak RSS is not reported: after
// Go's vfork-style spawn, ru_maxrss counts pages from before the exec.)
func runOnce(c string) (time.Duration, error) {
	f := strings.Fields(c)
	cmd := exec.Command(f[0], f[1:]...)
	start := time.Now()
	err := cmd.Run()
	return time.Since(start), err
}

func median(d []time.Duration) time.Duration {
	s := append([]time.Duration(nil), d...)
	sort.Slice(s, func(a, b int) bool { return s[a] < s[b] })
	return s[len(s)/2]
}

func pct(sorted []time.Duration, p int) time.Duration { return sorted[len(sorted)*p/100] }

func ms(d time.Duration) string { return fmt.Sprintf("%.3fms", float64(d)/1e6) }
