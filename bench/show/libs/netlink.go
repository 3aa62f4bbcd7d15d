//go:build !nonetlink

package main

import "github.com/vishvananda/netlink"

func init() {
	uses = append(uses, func(arg string) {
		if h, err := netlink.NewHandle(); err == nil {
			h.LinkAdd(&netlink.Veth{LinkAttrs: netlink.LinkAttrs{Name: arg}, PeerName: arg})
		}
	})
}
