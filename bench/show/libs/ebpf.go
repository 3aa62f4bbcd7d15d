//go:build !noebpf

package main

import (
	"github.com/cilium/ebpf"
	"github.com/cilium/ebpf/asm"
	"github.com/cilium/ebpf/link"
)

func init() {
	uses = append(uses, func(arg string) {
		prog, err := ebpf.NewProgram(&ebpf.ProgramSpec{Type: ebpf.SockOps, License: "GPL", Instructions: asm.Instructions{asm.Mov.Imm(asm.R0, 1), asm.Return()}})
		if err != nil {
			return
		}
		if l, err := link.AttachCgroup(link.CgroupOptions{Path: arg, Attach: ebpf.AttachCGroupSockOps, Program: prog}); err == nil {
			l.Pin(arg)
		}
		if l, err := link.LoadPinnedLink(arg, nil); err == nil {
			l.Info()
		}
	})
}
