// Command libs is bench/show/floor plus the libraries tcpka links for its
// other commands, each called as tcpka calls it but never run: net/http's
// server (watch --listen), cilium/ebpf (enforce --cgroup), netlink
// (measure) and yaml.v3 (profiles). Their package inits and their size
// cost every start; this program's start-up is the least any single tcpka
// binary with those commands can have, and bench/show/run times it beside
// the floor and tcpka show.
package main

import (
	"net"
	"net/http"
	"os"

	"github.com/cilium/ebpf"
	"github.com/cilium/ebpf/asm"
	"github.com/cilium/ebpf/link"
	"github.com/vishvananda/netlink"
	"gopkg.in/yaml.v3"
)

func main() {
	if len(os.Args) > 1 {
		unused(os.Args[1])
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

// unused makes the calls reachable, so that the linker keeps what tcpka
// keeps; the benchmark never passes an argument.
func unused(arg string) {
	ln, err := net.Listen("tcp", arg)
	if err == nil {
		srv := &http.Server{Handler: http.NewServeMux()}
		srv.Serve(ln)
	}
	prog, err := ebpf.NewProgram(&ebpf.ProgramSpec{Type: ebpf.SockOps, License: "GPL", Instructions: asm.Instructions{asm.Mov.Imm(asm.R0, 1), asm.Return()}})
	if err == nil {
		if l, err := link.AttachCgroup(link.CgroupOptions{Path: arg, Attach: ebpf.AttachCGroupSockOps, Program: prog}); err == nil {
			l.Pin(arg)
		}
		if l, err := link.LoadPinnedLink(arg, nil); err == nil {
			l.Info()
		}
	}
	if h, err := netlink.NewHandle(); err == nil {
		h.LinkAdd(&netlink.Veth{LinkAttrs: netlink.LinkAttrs{Name: arg}, PeerName: arg})
	}
	var doc yaml.Node
	yaml.Unmarshal([]byte(arg), &doc)
}
