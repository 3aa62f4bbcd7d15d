// Package rearm makes the keepalive sysctls hold at once for the TCP
// connections of one network namespace.
//
// A connection's keepalive timer is armed with the values in force when it
// was armed: after the sysctls go from 7200/75/9 to 60/15/4, an idle
// connection still waits up to two hours for its first probe. Toggling
// SO_KEEPALIVE off and on deletes the timer and arms it again with
// keepalive_time_when(), the current tcp_keepalive_time for a socket
// without its own TCP_KEEPIDLE (the interval and probe count are read at
// each fire anyway). Namespace does that for every connection that has
// keepalive on, has no TCP_KEEPIDLE of its own, is in a state with a
// keepalive timer and still held by its process, and whose timer is due
// later than tcp_keepalive_time from now. It never turns keepalive on,
// never sets a per-socket value, never touches a socket with its own
// TCP_KEEPIDLE, and never makes a timer fire later than it would have, so
// it is safe to repeat: a second pass finds every timer Current. A socket
// with its own TCP_KEEPINTVL or TCP_KEEPCNT but not TCP_KEEPIDLE follows
// the sysctl for its first probe and is re-armed; its own values then
// govern the probes.
//
// Two methods reach the sockets:
//
//   - BPF (first choice): a BPF TCP iterator (program type Tracing, attach
//     type AttachTraceIter, target "tcp"), assembled with cilium/ebpf's asm
//     package and laid out from the kernel's BTF at run time. One pass over
//     the namespace of the thread that creates the iterator, each socket
//     locked by the kernel while the program checks it and calls
//     bpf_setsockopt(SO_KEEPALIVE, 0) then (SO_KEEPALIVE, 1). It reads the
//     own idle time exactly (tcp_sock.keepalive_time) and the timer itself
//     (sk_timer), reaches sockets no process holds in /proc (a connection
//     waiting to be accepted), and touches no process. One 64-byte record
//     per socket comes back through the iterator's output, so the counts
//     are exact. Needs Linux 5.15+ (bpf_setsockopt in TCP iterators) with
//     BTF (CONFIG_DEBUG_INFO_BTF) and root (CAP_BPF, CAP_PERFMON,
//     CAP_NET_ADMIN). Nothing is pinned or attached to a hook: the program
//     runs only while a pass reads its iterator.
//   - Pidfd (fallback): the sock_diag dump, each socket's owner from
//     /proc/PID/fd, and pidfd_getfd to read SO_KEEPALIVE and TCP_KEEPIDLE
//     and toggle the duplicate, as enforce --pid does. Linux 5.6+, root.
//     It cannot tell an own TCP_KEEPIDLE equal to the sysctl from none
//     (see decide), cannot see a keepalive timer behind a retransmission
//     (Busy), cannot reach sockets without an owner (Unreachable), and
//     cannot hold the socket's lock between its check and its toggle.
//
// Method Auto uses BPF and falls back to Pidfd when the kernel cannot run
// it (ErrUnsupported, any failure before the program ran) or refuses BPF
// (enforce.ErrPermission); Result.Method and Result.Fallback say which ran
// and why. A Rearmer keeps the loaded programs for the next namespace or
// the next pass.
//
// Re-armed timers fire together, tcp_keepalive_time after the pass: a
// namespace with many idle connections sends that many probes in a few
// ticks (bench/rearm measures it).
package rearm
