// Package profiles holds the profiles shipped with tcpka, embedded in the
// binary so `tcpka apply ssh` works without any file on disk.
package profiles

import "embed"

// FS holds every shipped *.yaml; the file name without .yaml is the name.
//
//go:embed *.yaml
var FS embed.FS
