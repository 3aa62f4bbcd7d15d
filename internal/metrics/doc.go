// Package metrics turns tcpka's view of the keepalive state into Prometheus
// metrics: the sysctls and the dead-peer detection times per network
// namespace, drift against the installed profile, the live-socket summary
// when a source for it is given, and build info.
//
// Gather builds the metric families and Write encodes them in the
// Prometheus text format with AppendText, byte for byte as
// prometheus/common/expfmt would. Neither client_golang nor expfmt is
// linked: client_golang's package init registers the Go and process
// collectors, and expfmt's encoder takes client_model's protobuf messages,
// whose runtime initialises descriptors and hashes the executable; both
// cost every tcpka command (show included) at start-up. The tests parse
// the output with expfmt's parser and compare it with expfmt's encoder, in
// the test binary only.
//
// WriteTextfile writes node_exporter textfiles atomically (temp file in the
// same directory, fsync, rename).
//
// Handler(snap) is an http.Handler for a long-running exporter: at every
// request it calls snap for a fresh Snapshot and serves the same families
// in the text format whatever the Accept header asks for (Prometheus picks
// its parser from the response's Content-Type, so a scraper that prefers
// protobuf gets text), gzipped when Accept-Encoding allows. If snap fails
// the response is a 500 with the error in the body:
//
//	http.Handle("/metrics", metrics.Handler(func() (metrics.Snapshot, error) { ... }))
package metrics
