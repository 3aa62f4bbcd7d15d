// Package procname names a process the way tcpka prints it beside a
// socket or a namespace: its command (/proc/PID/comm), and for a kernel
// thread (PF_KTHREAD in /proc/PID/stat) that command followed by
// " (kernel thread)". A process can give itself any 15-byte command,
// kworker/0:1 included, but not the 31 bytes of "kworker/0:1 (kernel
// thread)", so the mark cannot be forged. The name is returned as the
// kernel holds it; whoever prints it to a terminal escapes it
// (internal/human).
package procname
