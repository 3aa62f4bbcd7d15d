// Package caps is tcpka's one check of what the process may do: the
// capabilities in its effective set, read from /proc/self/status, and the
// message that tells a user how to get them.
package caps
