// Package profile decodes, validates and resolves tcpka profiles: small
// YAML files that set some or all of the keepalive sysctls, tcp_retries2
// and a socket's TCP_USER_TIMEOUT.
//
// Decoding is strict. The YAML is walked node by node so that every error
// names the file, the line and the key: unknown keys, duplicate keys, wrong
// types, fractional seconds, out-of-range values, empty input, binary data
// and a second document are all refused before anything is written.
package profile
