// Package watch keeps a profile applied: it applies it once, then checks
// the kernel every interval and writes back any key that drifted, logging
// one line per correction (key, from, to) with log/slog. It serves
// Prometheus metrics (the keepalive values as tcpka metrics names them,
// plus a corrections counter) and a /healthz endpoint over HTTP. All of its
// Prometheus code is in metrics.go.
//
// Its HTTP servers (server.go) cannot be held by idle or slow clients: at
// capacity, the connection that has waited longest for a complete request
// header yields its slot, the accept loop sheds one on EMFILE instead of
// stalling, and headers have deadlines. /metrics reads the last sweep of
// the expensive snapshot (sweep.go: Sweep, LastSweep), not a scan per
// scrape.
package watch
