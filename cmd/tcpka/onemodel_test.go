package main

import (
	"encoding/json"
	"regexp"
	"strconv"
	"strings"
	"testing"

	"github.com/tcpka/tcpka/internal/enforce/enforcetest"
)

// TestOneFigurePerSocket holds a live socket with its own keepalive values
// 11/7/5 and TCP_USER_TIMEOUT 30 s. The kernel resets it at the first
// keepalive timer that finds a probe out and 30 s of silence: 11 + 3*7 =
// 32 s (checked against live sockets). sockets, enforce --pid (before the
// change) and metrics must all say 32 s; enforce's "after" keeps the
// socket's user timeout under a profile that sets none: 10/3/5 with 30 s
// gives 10 + 7*3 = 31 s, not the 25 s of 10/3/5 alone. With data in
// flight the user timeout decides: 30 s after the first retransmission,
// 31 s.
func TestOneFigurePerSocket(t *testing.T) {
	if !enforcetest.InScratchNetns(t) {
		return
	}
	echo := enforcetest.Echo(t)
	c := enforcetest.Start(t, "", "dialut:"+echo)
	fd := helperFD(t, c.Next(t))
	pid := strconv.Itoa(c.Pid())

	// tcpka sockets --processes: text and JSON.
	out, errs, code := tcpkaRun(t, "sockets", "--processes", "--pid", pid)
	if code != 0 {
		t.Fatalf("sockets: exit %d: %s", code, errs)
	}
	mustMatch(t, "sockets", out, `(?m) 11/7/5 own +30000ms +32 s +31 s$`)
	out, _, _ = tcpkaRun(t, "sockets", "--processes", "--pid", pid, "--json")
	var sj struct {
		Sockets []map[string]any `json:"sockets"`
	}
	if err := json.Unmarshal([]byte(out), &sj); err != nil || len(sj.Sockets) != 1 {
		t.Fatalf("sockets --json: %v\n%s", err, out)
	}
	if s := sj.Sockets[0]; s["time_s"] != 11.0 || s["user_timeout_ms"] != 30000.0 || s["detection_s"] != 32.0 || s["data_in_flight_s"] != 31.0 {
		t.Errorf("sockets --json: %v, want time_s 11, user_timeout_ms 30000, detection_s 32, data_in_flight_s 31", s)
	}

	// tcpka enforce --pid --override --dry-run: before and after.
	out, errs, code = tcpkaRun(t, "enforce", "testdata/profiles/keepalive-only.yaml", "--pid", pid, "--override", "--dry-run")
	if code != 0 {
		t.Fatalf("enforce: exit %d: %s", code, errs)
	}
	mustMatch(t, "enforce", out, `(?m)^  fd `+strconv.Itoa(fd)+` .* 11/7/5 \+ TCP_USER_TIMEOUT 30000ms -> 10/3/5 \+ TCP_USER_TIMEOUT 30000ms, detection 32 s -> 31 s$`)
	out, _, _ = tcpkaRun(t, "enforce", "testdata/profiles/keepalive-only.yaml", "--pid", pid, "--override", "--dry-run", "--json")
	var ej enforcePIDJSON
	if err := json.Unmarshal([]byte(out), &ej); err != nil || len(ej.Sockets) != 1 {
		t.Fatalf("enforce --json: %v\n%s", err, out)
	}
	s := ej.Sockets[0]
	if s.Before.DetectionS == nil || *s.Before.DetectionS != 32 || s.After.DetectionS == nil || *s.After.DetectionS != 31 ||
		s.Before.TimeS != 11 || s.Before.UserTimeoutMs != 30000 {
		t.Errorf("enforce --json socket: %+v", s)
	}

	// tcpka metrics (root): the worst idle bound among live sockets.
	out, errs, code = tcpkaRun(t, "metrics")
	if code != 0 {
		t.Fatalf("metrics: exit %d: %s", code, errs)
	}
	m := regexp.MustCompile(`(?m)^tcpka_sockets_worst_detection_seconds\{state="idle"\} (\S+)$`).FindStringSubmatch(out)
	if m == nil || m[1] != "32" {
		t.Errorf("metrics: worst idle detection %v, want 32:\n%s", m, grepLines(out, "tcpka_sockets"))
	}
}

// grepLines keeps the lines of s that contain sub.
func grepLines(s, sub string) string {
	var out []string
	for _, l := range strings.Split(s, "\n") {
		if strings.Contains(l, sub) {
			out = append(out, l)
		}
	}
	return strings.Join(out, "\n")
}
