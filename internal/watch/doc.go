// Package watch keeps a profile applied: it applies it once, then checks
// the kernel every interval and writes back any key that drifted, logging
// one line per correction (key, from, to) with log/slog. It serves
// Prometheus metrics (the keepalive values as tcpka metrics names them,
// plus a corrections counter) and a /healthz endpoint over HTTP. All of its
// Prometheus code is in metrics.go.
package watch
