// Package systemd holds the unit files tcpka installs, embedded in the
// binary so `tcpka install` needs no file on disk, the one path tcpka is
// installed at, and what a unit makes of another path: how ExecStart=
// spells it (WithBinary) and whether the unit's sandbox hides it (Hides).
package systemd

import _ "embed"

// Unit is tcpka.service: a oneshot that applies /etc/tcpka/profile.yaml at boot.
//
//go:embed tcpka.service
var Unit []byte

// BinPath is where tcpka lives on a host: the .deb installs it there, the
// Ansible role copies it there, the container image has it there, and
// every shipped unit and unit drop-in runs it from there. TestOneBinPath
// keeps all of them on this one path.
const BinPath = "/usr/sbin/tcpka"
