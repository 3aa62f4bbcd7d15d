// Package metrics turns tcpka's view of the keepalive state into Prometheus
// metrics: the three sysctls and the dead-peer detection time per network
// namespace, drift against the installed profile, the live-socket summary
// when a source for it is given, and build info.
//
// Gather builds the metric families directly as client_model (dto) structs
// and Write encodes them with prometheus/common/expfmt in the text format.
// client_golang is deliberately not used: its package init registers the Go
// and process collectors and costs every tcpka command (show included)
// about 2M instructions at start-up, for a registry tcpka does not need.
//
// WriteTextfile writes node_exporter textfiles atomically (temp file in the
// same directory, fsync, rename).
//
// Handler(snap) is an http.Handler for a long-running exporter: at every
// request it calls snap for a fresh Snapshot and serves the same families,
// negotiating the format from the Accept header as promhttp does
// (delimited protobuf, protobuf text, or the text format by default) and
// gzipping when Accept-Encoding allows. If snap fails the response is a 500
// with the error in the body. Use it instead of promhttp:
//
//	http.Handle("/metrics", metrics.Handler(func() (metrics.Snapshot, error) { ... }))
package metrics
