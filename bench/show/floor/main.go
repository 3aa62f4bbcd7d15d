// Command floor is the least a Go program can do for `tcpka show`: read the
// three files and print them. bench/show/run times it beside tcpka so the
// cost of Go's start-up itself is visible.
package main

import "os"

func main() {
	for _, k := range []string{"time", "intvl", "probes"} {
		b, err := os.ReadFile("/proc/sys/net/ipv4/tcp_keepalive_" + k)
		if err != nil {
			os.Exit(1)
		}
		os.Stdout.Write(b)
	}
}
