// Package sockdiag streams the TCP sockets of the current network namespace
// from the kernel over NETLINK_SOCK_DIAG (inet_diag, IPv4 and IPv6), maps a
// socket's inode to the process that holds it (/proc/PID/fd), and reads a
// socket's effective keepalive options from its owner (package sockopt).
//
// The dump is streamed: Each calls back once per socket with a Socket that
// is reused for the next one, so memory stays flat however many sockets
// there are. Nothing here sorts.
//
// What the kernel tells without asking the owner: the keepalive timer
// (idiag_timer 2) is armed on an established socket exactly when
// SO_KEEPALIVE is on and no retransmission is pending; idiag_expires is the
// time to its next fire and idiag_retrans the probes already sent. The
// socket's own TCP_KEEPIDLE/INTVL/CNT and TCP_USER_TIMEOUT are not in the
// dump: they take pidfd_getfd on the owner (root).
//
// Destroy closes one connection as ss -K does (SOCK_DESTROY, needs
// CAP_NET_ADMIN and a kernel with CONFIG_INET_DIAG_DESTROY): the owner sees
// ECONNABORTED. DestroySocket first looks the socket up again and acts on
// its cookie, so a 4-tuple reused since the dump is never hit.
package sockdiag
