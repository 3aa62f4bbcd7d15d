// Command libs is bench/show/floor plus the libraries tcpka links for its
// other commands, each called as tcpka calls it but never run: net/http's
// server (watch --listen), cilium/ebpf (enforce --cgroup), netlink
// (measure) and yaml.v3 (profiles). Their package inits and their size
// cost every start; this program's start-up is the least any single tcpka
// binary with those commands can have, and bench/show/run times it beside
// the floor and tcpka show.
//
// Each library is in a file of its own; the build tags nohttp, noebpf,
// nonetlink and noyaml leave one out (bench/show/run --split builds each
// library alone).
package main

import "os"

// uses are the calls into each library, never made: they keep what tcpka
// keeps reachable, so the linker keeps it.
var uses []func(arg string)

func main() {
	if len(os.Args) > 1 {
		for _, use := range uses {
			use(os.Args[1])
		}
		return
	}
	for _, k := range []string{"time", "intvl", "probes"} {
		b, err := os.ReadFile("/proc/sys/net/ipv4/tcp_keepalive_" + k)
		if err != nil {
			os.Exit(1)
		}
		os.Stdout.Write(b)
	}
}
