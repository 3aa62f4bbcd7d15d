// Command cmdbench times commands side by side: it runs them in alternation
// (A, B, A, B, ...) so that load on the machine hits all alike, then prints
// for each the median and p10/p90 wall time, the median of the minor page
// faults it took, and the ratio of its median to the median of each
// command named by -vs (by default the first: the baseline).
//
//	go run ./bench/cmdbench -n 300 -vs 1,2 'sysctl -n net.ipv4.tcp_keepalive_time' ./floor './tcpka show'
package main

import (
	"flag"
	"fmt"
	"os"
	"os/exec"
	"sort"
	"strconv"
	"strings"
	"syscall"
	"time"
)

func main() {
	n := flag.Int("n", 200, "runs of each command")
	warm := flag.Int("warmup", 5, "untimed runs of each command first")
	vs := flag.String("vs", "1", "comma-separated `positions` (1 = first command) to print a ratio column against")
	trim := flag.String("trim", "", "leave `PREFIX` out of the printed commands (a temporary build directory)")
	flag.Parse()
	cmds := flag.Args()
	if len(cmds) < 2 {
		fmt.Fprintln(os.Stderr, "usage: cmdbench [-n N] [-vs 1,2] BASELINE-CMD CMD...")
		os.Exit(2)
	}
	var bases []int
	for _, s := range strings.Split(*vs, ",") {
		i, err := strconv.Atoi(strings.TrimSpace(s))
		if err != nil || i < 1 || i > len(cmds) {
			fmt.Fprintf(os.Stderr, "cmdbench: -vs %q: positions are 1 to %d\n", *vs, len(cmds))
			os.Exit(2)
		}
		bases = append(bases, i-1)
	}
	walls := make([][]time.Duration, len(cmds))
	faults := make([][]int64, len(cmds))
	for i := 0; i < *warm+*n; i++ {
		for j, c := range cmds {
			d, f, err := runOnce(c)
			if err != nil {
				fmt.Fprintf(os.Stderr, "cmdbench: %q: %v\n", c, err)
				os.Exit(1)
			}
			if i >= *warm {
				walls[j] = append(walls[j], d)
				faults[j] = append(faults[j], f)
			}
		}
	}
	fmt.Printf("%-10s %-10s %-10s %-7s", "median", "p10", "p90", "faults")
	for _, b := range bases {
		fmt.Printf(" %-7s", fmt.Sprintf("÷#%d", b+1))
	}
	fmt.Println("  # command")
	for j, c := range cmds {
		sort.Slice(walls[j], func(a, b int) bool { return walls[j][a] < walls[j][b] })
		sort.Slice(faults[j], func(a, b int) bool { return faults[j][a] < faults[j][b] })
		m := walls[j][len(walls[j])/2]
		fmt.Printf("%-10s %-10s %-10s %-7d", ms(m), ms(pct(walls[j], 10)), ms(pct(walls[j], 90)), faults[j][len(faults[j])/2])
		for _, b := range bases {
			fmt.Printf(" %-7.3f", float64(m)/float64(median(walls[b])))
		}
		fmt.Printf("  %d %s\n", j+1, strings.ReplaceAll(c, *trim, ""))
	}
	fmt.Printf("(%d alternating runs each after %d warm-up runs; faults: median minor page faults of a run)\n", *n, *warm)
}

// runOnce runs c (split on spaces, no shell) with output discarded and
// returns its wall time, fork to wait, and the minor page faults it took.
// (Peak RSS is not reported: after Go's vfork-style spawn, ru_maxrss counts
// pages from before the exec.)
func runOnce(c string) (time.Duration, int64, error) {
	f := strings.Fields(c)
	cmd := exec.Command(f[0], f[1:]...)
	start := time.Now()
	err := cmd.Run()
	d := time.Since(start)
	var minflt int64
	if cmd.ProcessState != nil {
		if ru, ok := cmd.ProcessState.SysUsage().(*syscall.Rusage); ok {
			minflt = ru.Minflt
		}
	}
	return d, minflt, err
}

func median(d []time.Duration) time.Duration {
	s := append([]time.Duration(nil), d...)
	sort.Slice(s, func(a, b int) bool { return s[a] < s[b] })
	return s[len(s)/2]
}

func pct(sorted []time.Duration, p int) time.Duration { return sorted[len(sorted)*p/100] }

func ms(d time.Duration) string { return fmt.Sprintf("%.3fms", float64(d)/1e6) }
