// Package caps is tcpka's one check of what the process may do: the
// capabilities in its effective set, as capget(2) reports them, and the
// message that tells a user how to get them.
package caps
