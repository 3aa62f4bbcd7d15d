// Package keepalive holds tcpka's one value type for keepalive settings:
// the sysctls of a network namespace, the options of a socket, the keys of
// a profile and the values a BPF program sets are all a Settings.
//
// A Settings read from the kernel is complete: every field holds what the
// kernel holds, even a value tcpka would refuse (the sysctl handlers accept
// 0, negatives and values past the per-socket limits). A Settings that
// says what to set (a profile, a plan, an enforce target) is partial: a zero
// field is not set and leaves the kernel's value alone. Over merges the
// two; Validate holds a partial Settings to the kernel's per-socket limits.
//
// How long a dead peer goes unnoticed with a Settings is internal/detect's
// answer, not this package's.
package keepalive
