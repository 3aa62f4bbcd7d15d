// Package sysctl owns the sysctls tcpka manages in one network namespace
// (net.ipv4.tcp_keepalive_time, _intvl, _probes; tcp_retries2 is read for
// the data-in-flight bound) and the transaction that changes them.
//
// FS reads and writes the keys under a proc root (tests point it at a fake
// tree); which namespace it sees is the calling thread's, so commands get
// one only through internal/netscope. Apply writes the changed keys of a
// keepalive.Settings or restores the ones already written; State adds the
// lock (/run/tcpka.lock) and the revert record kept in the private state
// directory (/run/tcpka, root-owned 0700) and Transact runs the whole
// sequence: read, record, write all or none, read back.
//
// Values are validated before a profile is applied (the kernel's handlers
// accept 0, negatives and hex); a revert restores exactly what the kernel
// held, valid or not.
package sysctl
