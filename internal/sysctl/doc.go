// Package sysctl owns the three TCP keepalive sysctls of one network
// namespace: net.ipv4.tcp_keepalive_time, _intvl and _probes.
//
// It reads and writes them under a proc root (so tests point it at a fake
// tree), validates values against the kernel's per-socket limits before any
// write (the kernel's own handlers accept 0, negatives and hex), and applies
// a set of changes as a transaction: all changed keys are written, or the
// ones already written are restored.
package sysctl
