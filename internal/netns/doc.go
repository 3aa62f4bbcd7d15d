// Package netns runs code inside another network namespace and finds every
// network namespace on the machine.
//
// The keepalive sysctls are per network namespace, and /proc/sys/net shows
// the namespace of the thread that opens the file. So the only way to read
// or write another namespace's values is to move one OS thread into it with
// setns(2) (github.com/vishvananda/netns), open the files there, and move it
// back. Do and Each do that on a goroutine of their own, locked to its
// thread, so no other goroutine ever runs in the target; if the thread
// cannot be moved back it stays locked and Go discards it when the goroutine
// ends.
//
// Resolve turns what a user types (a name under /run/netns, a path, or
// pid:N) into an open handle, with an error that says which of them was
// wrong. List enumerates the namespaces named under /run/netns and those of
// every process in /proc, one entry per namespace (deduplicated by inode).
package netns
