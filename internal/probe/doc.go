// Package probe measures, on the running kernel, how long a TCP connection
// takes to notice that its peer silently vanished.
//
// Measure builds two scratch network namespaces (anonymous: held by
// descriptors of this process only, never named under /run/netns, so they
// vanish with it even when it is killed, and no other command lists or
// tunes them) joined by a veth pair,
// writes the keepalive sysctls inside them only, connects A to B with
// SO_KEEPALIVE and no per-socket keepalive values, then silences B without
// a RST: B drops its address (with forwarding off, packets for it are then
// discarded without an ICMP) and A holds a permanent neighbour entry for
// B, so no ARP failure turns into a local "host unreachable". It times A
// until its read fails (ETIMEDOUT for a dead host). Everything it created is
// removed before it returns, also on error and when its context is
// cancelled (Ctrl-C). The calling process's own namespace is never
// written: every write runs on an OS thread that entered a scratch
// namespace and is discarded afterwards.
//
// MeasureNAT checks the other promise of keepalive, that it keeps a flow
// open through a NAT that forgets silent flows. It builds three scratch
// namespaces, client, router and server (c, r, s), joined by veth
// pairs; the router masquerades and drops invalid packets (nftables, one
// netlink batch written by hand in nft.go) and its own conntrack
// forgets an established TCP flow after the timeout, with loose pickup off.
// The client holds one connection with SO_KEEPALIVE and one without idle
// for a while, then each sends a few bytes that the server echoes: the
// echo comes back only over a flow the router still knows. The same
// cleanup discipline holds.
package probe
