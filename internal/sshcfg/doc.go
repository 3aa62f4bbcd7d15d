// Package sshcfg reads the effective keepalive settings of OpenSSH, as
// `ssh -G HOST` (client: ServerAliveInterval, ServerAliveCountMax,
// TCPKeepAlive) and `sshd -T` (server: ClientAliveInterval,
// ClientAliveCountMax, TCPKeepAlive) print them, and judges the two layers
// a session has: the SSH-level keepalive and the kernel's TCP keepalive
// (modelled by internal/detect). For each side it says when a dead peer is
// noticed, which layer fires first, and whether an idle session survives a
// path's idle timeout; Recommend gives the lines that fix what is missing.
//
// It also reads saved PuTTY sessions (ReadPuTTY: a Windows registry export
// or a Unix sessions directory) and judges them the same way
// (JudgePuTTY): PuTTY's keepalive is SSH_MSG_IGNORE data, so the client
// OS's retransmission notices a dead server, on Windows at its documented
// defaults (detect.Windows), on Linux with this kernel's values.
//
// Input is hostile until parsed. Every parser here is linear in its input
// and bounded: a registry export is read whole up to 64 MiB (a value
// continued over many lines is joined in one pass), a Unix session file up
// to 1 MiB, ssh -G and sshd -T output line by line, each line up to 1 MiB.
// Errors name the file, the line and the setting, never what the file
// holds (tcpka may run as root on a file it was pointed at); paths are
// escaped for the terminal (internal/human) and session names quoted.
//
// SessionScan lists the live SSH connections of this host, both ends it
// runs: sshd's connection processes (the logged-in user from sshd's
// process title) and ssh clients (the destination from their argv), each
// with its socket from the sock_diag dump, its effective keepalive, its
// side's SSH settings for that very connection (ssh -G as the user who
// runs it; sshd -T -C with the connection's user and addresses, through
// the running listener's binary and -f), the layer that would end it if
// the peer vanished (Judge) and whether the peer already stopped
// answering. Session.Kill closes one with sockdiag.DestroySocket.
package sshcfg
