// Package enforce makes the keepalive profile reach sockets that the
// sysctls do not reach.
//
// Two mechanisms, both measured on Linux 6.18:
//
//   - Live sockets of a running process (PID): pidfd_getfd(2) gives a
//     duplicate of each TCP socket, and setsockopt on the duplicate
//     (SO_KEEPALIVE, TCP_KEEPIDLE, TCP_KEEPINTVL, TCP_KEEPCNT) changes the
//     process's socket at once. Listening sockets are left alone; sockets
//     with keepalive already on are changed only when asked to override.
//   - New connections of a cgroup v2 (Cgroup): a BPF sock_ops program,
//     assembled here with cilium/ebpf's asm package (no C compiler), calls
//     bpf_setsockopt in the ACTIVE_ESTABLISHED and PASSIVE_ESTABLISHED
//     callbacks. The bpf_link is pinned under a bpffs directory
//     (/sys/fs/bpf/tcpka) so it outlives tcpka; List reads the attachments
//     back from the kernel (the values come from the loaded program itself),
//     Remove detaches them.
//
// Neither reaches everything: the BPF program covers only sockets created
// in the cgroup after the attach (not sockets made before, nor listeners
// created outside it, as with systemd socket activation), and needs Linux
// 5.9+; PID covers only the sockets open at the time it runs.
package enforce
