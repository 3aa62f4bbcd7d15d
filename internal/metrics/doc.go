// Package metrics turns tcpka's view of the keepalive state into Prometheus
// metrics: the three sysctls and the dead-peer detection time per network
// namespace, drift against the installed profile, the live-socket summary
// when a source for it is given, and build info. It encodes with the
// Prometheus client libraries and writes node_exporter textfiles atomically
// (temp file in the same directory, fsync, rename).
package metrics
