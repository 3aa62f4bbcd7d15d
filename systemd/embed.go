// Package systemd holds the unit files tcpka installs, embedded in the
// binary so `tcpka install` needs no file on disk.
package systemd

import _ "embed"

// Unit is tcpka.service: a oneshot that applies /etc/tcpka/profile.yaml at boot.
//
//go:embed tcpka.service
var Unit []byte
