// Package sockopt reads and writes a TCP socket's keepalive options
// (SO_KEEPALIVE, TCP_KEEPIDLE, TCP_KEEPINTVL, TCP_KEEPCNT, TCP_USER_TIMEOUT)
// and reaches another process's sockets with pidfd_open(2) and
// pidfd_getfd(2) (Linux 5.6+, root or ptrace rights over the target).
//
// A duplicate from PidfdGetfd shares the socket with its owner: Set on it
// changes the owner's socket at once. Close only the duplicate.
//
// Get returns the kernel's effective values: TCP_KEEPIDLE, TCP_KEEPINTVL and
// TCP_KEEPCNT of a socket that never set them read back as the sysctls of
// the socket's network namespace, so a caller tells "own values" from
// "follows the sysctls" by comparing with those sysctls.
//
// Errors are wrapped sentinels: ErrProcessGone, ErrNotPermitted,
// ErrNoSuchFD, ErrNotSocket, ErrNotTCP, ErrInvalid.
package sockopt
