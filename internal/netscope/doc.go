// Package netscope is the handle a tcpka command works through: one network
// namespace seen through one proc root, bound before the command runs.
//
// The keepalive sysctls, tcp_retries2, the RTO bounds and the TCP sockets
// all belong to a network namespace, and /proc/sys/net (like a sock_diag
// netlink socket) shows the namespace of the thread that opens it. An NS
// therefore hands out its sysctl file system only inside In, which runs on
// a thread inside the namespace (internal/netns.Do): a command cannot read
// one namespace and write another, or read "the current namespace" by
// accident. Every visits every namespace on the machine the same way, on
// one thread, for --all-netns.
package netscope
