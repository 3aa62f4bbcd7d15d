// Command measure runs shell commands alternately, -r rounds, and prints
// each one's median and min wall time and its peak RSS (max over rounds,
// including the shell's children, from wait4's rusage) as a table row.
//
//	measure -r 9 -label N 'tcpka sockets' 'tcpka sockets >/dev/null' 'ss' 'ss -tnoH >/dev/null'
package main

import (
	"flag"
	"fmt"
	"os"
	"os/exec"
	"sort"
	"syscall"
	"time"
)

func main() {
	rounds := flag.Int("r", 7, "rounds")
	label := flag.String("label", "", "first column of every row")
	pairs := flag.Bool("pairs", false, "commands come in pairs (tcpka, reference): print the pair's ratio of medians")
	flag.Parse()
	args := flag.Args()
	if len(args) == 0 || len(args)%2 != 0 {
		fmt.Fprintln(os.Stderr, "usage: measure [-r N] [-label L] NAME 'shell command' ...")
		os.Exit(2)
	}
	type result struct {
		walls []time.Duration
		rss   int64
	}
	res := make([]result, len(args)/2)
	for r := 0; r < *rounds; r++ {
		for i := 0; i < len(args); i += 2 {
			cmd := exec.Command("/bin/sh", "-c", args[i+1])
			cmd.Stderr = os.Stderr
			start := time.Now()
			if err := cmd.Run(); err != nil {
				fmt.Fprintf(os.Stderr, "measure: %s: %v\n", args[i+1], err)
				os.Exit(1)
			}
			wall := time.Since(start)
			ru := cmd.ProcessState.SysUsage().(*syscall.Rusage)
			k := &res[i/2]
			k.walls = append(k.walls, wall)
			if ru.Maxrss > k.rss {
				k.rss = ru.Maxrss
			}
		}
	}
	med := make([]time.Duration, len(res))
	for i := range res {
		k := res[i]
		sort.Slice(k.walls, func(a, b int) bool { return k.walls[a] < k.walls[b] })
		med[i] = k.walls[len(k.walls)/2]
	}
	for i := range res {
		ratio := ""
		if *pairs && i%2 == 0 && i+1 < len(res) {
			ratio = fmt.Sprintf("%.2f x", float64(med[i])/float64(med[i+1]))
		}
		fmt.Printf("| %s | %s | %.1f ms | %.1f ms | %.1f MiB | %s |\n", *label, args[2*i], ms(med[i]), ms(res[i].walls[0]), float64(res[i].rss)/1024, ratio)
	}
}

func ms(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }
