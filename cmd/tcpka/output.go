package main

import (
	"encoding/json"
	"fmt"
	"io"
	"os"

	"github.com/tcpka/tcpka/internal/detect"
	"github.com/tcpka/tcpka/internal/sysctl"
)

// writeJSON prints v as one indented JSON object.
func writeJSON(w io.Writer, v any) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(v)
}

// sysFS is the keepalive sysctls of the netns tcpka runs in.
func (e *Env) sysFS() sysctl.FS { return sysctl.NewFS(e.ProcRoot) }

// keepalive turns sysctl values into the detection model's input.
func keepalive(v sysctl.Values) detect.Keepalive {
	return detect.Keepalive{Time: v.Time, Intvl: v.Intvl, Probes: v.Probes}
}

// valuesJSON is the stable JSON shape of three values and their detection.
type valuesJSON struct {
	sysctl.Values
	DetectionS int    `json:"detection_s"`
	Detection  string `json:"detection"`
}

func newValuesJSON(v sysctl.Values) valuesJSON {
	d := keepalive(v).IdleSeconds()
	return valuesJSON{Values: v, DetectionS: d, Detection: detect.Words(d)}
}

// netnsID names the network namespace tcpka acts on (--netns, or its own), as ls -l /proc/PID/ns
// prints it ("net:[4026531840]"), or "" where the proc tree has none.
func (e *Env) netnsID() string {
	if e.target != nil {
		return e.target.ID()
	}
	id, err := os.Readlink(e.ProcRoot + "/self/ns/net")
	if err != nil {
		return ""
	}
	return id
}

// keyColumn prints "tcp_keepalive_time     7200 s" aligned for all keys.
func keyColumn(k sysctl.Key, v int) string {
	unit := "  "
	if k.Unit() != "" {
		unit = " " + k.Unit()
	}
	return fmt.Sprintf("%-21s%6d%s", k.Name(), v, unit)
}
