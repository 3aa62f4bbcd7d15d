package main

import (
	"encoding/json"
	"regexp"
	"strconv"
	"strings"
	"testing"

	"github.com/tcpka/tcpka/internal/enforce/enforcetest"
	"github.com/tcpka/tcpka/internal/keepalive"
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
	mustMatch(t, "sockets", out, `(?m)^  \S+\[\d+\]  own 11/7/5, TCP_USER_TIMEOUT 30000 ms: detection 32 s, data in flight 31 s$`)
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
	mustMatch(t, "enforce", out, `(?m)^  fd `+strconv.Itoa(fd)+` .* 11/7/5 \+ TCP_USER_TIMEOUT 30000 ms -> 10/3/5 \+ TCP_USER_TIMEOUT 30000 ms, detection 32 s -> 31 s$`)
	out, _, _ = tcpkaRun(t, "enforce", "testdata/profiles/keepalive-only.yaml", "--pid", pid, "--override", "--dry-run", "--json")
	var ej struct {
		Sockets []struct{ Before, After map[string]any }
	}
	if err := json.Unmarshal([]byte(out), &ej); err != nil || len(ej.Sockets) != 1 {
		t.Fatalf("enforce --json: %v\n%s", err, out)
	}
	s := ej.Sockets[0]
	if s.Before["detection_s"] != 32.0 || s.After["detection_s"] != 31.0 || s.Before["time_s"] != 11.0 || s.Before["user_timeout_ms"] != 30000.0 {
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

// figures are the two times every command reports for a set of values.
type figures struct {
	Detection    float64 `json:"detection_s"`
	DataInFlight float64 `json:"data_in_flight_s"`
}

// TestOneFigurePerProfile: for every shipped profile, profiles --json,
// show --json once the profile is applied to a namespace at the kernel
// defaults, plan --json for the profile's own path and bound (where the
// plan is the profile), and ssh --json (for the profile it recommends)
// give the same detection and data-in-flight times.
func TestOneFigurePerProfile(t *testing.T) {
	out, _, code := tcpkaRun(t, "profiles", "--json")
	var listed struct {
		Profiles []struct {
			Name                      string
			Time, Intvl, Probes       int
			Retries2                  int `json:"retries2"`
			IdleTimeout, DetectWithin int
			figures
		}
	}
	if err := json.Unmarshal([]byte(out), &listed); err != nil || code != 0 || len(listed.Profiles) < 6 {
		t.Fatalf("profiles --json: exit %d, %v\n%s", code, err, out)
	}
	var raw struct{ Profiles []map[string]any }
	_ = json.Unmarshal([]byte(out), &raw)
	for i, p := range listed.Profiles {
		t.Run(p.Name, func(t *testing.T) {
			want := p.figures
			tree := fakeProc(t, keepalive.KernelDefaults)
			if _, errs, code := tcpkaRun(t, "apply", p.Name, "--proc-root", tree, "--run-dir", t.TempDir()); code != 0 {
				t.Fatalf("apply %s: exit %d: %s", p.Name, code, errs)
			}
			out, _, _ := tcpkaRun(t, "show", "--json", "--proc-root", tree, "--root", t.TempDir())
			var shown figures
			if err := json.Unmarshal([]byte(out), &shown); err != nil || shown != want {
				t.Errorf("show --json after apply %s: %+v (%v), profiles --json says %+v", p.Name, shown, err, want)
			}
			r := raw.Profiles[i]
			idle, _ := r["idle_timeout_s"].(float64)
			within, _ := r["detect_within_s"].(float64)
			if idle == 0 || within == 0 {
				return
			}
			args := []string{"plan", "--json", "--idle-timeout", strconv.Itoa(int(idle)) + "s", "--detect-within", strconv.Itoa(int(within)) + "s"}
			out, _, _ = tcpkaRun(t, args...)
			var planned map[string]any
			if err := json.Unmarshal([]byte(out), &planned); err != nil {
				t.Fatalf("plan --json: %v\n%s", err, out)
			}
			same := true
			for _, k := range []string{"time_s", "intvl_s", "probes", "retries2", "user_timeout_ms"} {
				same = same && planned[k] == r[k]
			}
			if !same {
				t.Logf("plan for %s's path differs from the profile: not compared", p.Name)
				return
			}
			if got := (figures{planned["detection_s"].(float64), planned["data_in_flight_s"].(float64)}); got != want {
				t.Errorf("plan --json for %s's path: %+v, profiles --json says %+v", p.Name, got, want)
			}
			// tcpka ssh recommends the shipped ssh profile for such a path.
			out, _, _ = tcpkaRun(t, "ssh", "--json", "--idle-timeout", strconv.Itoa(int(idle))+"s", "--detect-within", strconv.Itoa(int(within))+"s",
				"--ssh-bin", "/nonexistent/ssh", "--sshd-bin", "/nonexistent/sshd", "--proc-root", fakeProc(t, keepalive.KernelDefaults))
			var judged struct {
				Profile *struct {
					Name string `json:"name"`
					figures
				} `json:"profile"`
			}
			if err := json.Unmarshal([]byte(out), &judged); err != nil || judged.Profile == nil {
				t.Fatalf("ssh --json: %v\n%s", err, out)
			}
			if judged.Profile.Name == p.Name && judged.Profile.figures != want {
				t.Errorf("ssh --json recommends %s with %+v, profiles --json says %+v", p.Name, judged.Profile.figures, want)
			}
		})
	}
}
