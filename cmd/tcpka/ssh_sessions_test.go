package main

import (
	"encoding/json"
	"os"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/tcpka/tcpka/internal/nstest"
	"github.com/tcpka/tcpka/internal/sshcfg/sshtest"
)

// TestSSHSessionsCLI: what tcpka ssh --sessions shows of a real sshd
// connection and the ssh client behind it, in private namespaces with the
// keepalive scaled down (2/1/60); then the path is cut, both show DYING,
// and --kill-dying closes them: the client's ssh exits.
func TestSSHSessionsCLI(t *testing.T) {
	if testing.Short() {
		t.Skip("-short: runs sshd and ssh in scratch namespaces")
	}
	if !nstest.Private(t, "ip", "ss", "nft") {
		return
	}
	for k, v := range map[string]string{"time": "2", "intvl": "1", "probes": "60"} {
		if err := os.WriteFile("/proc/sys/net/ipv4/tcp_keepalive_"+k, []byte(v), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	srv := sshtest.Start(t, sshtest.Options{Port: 2346,
		ServerLines: []string{"ClientAliveInterval 5", "ClientAliveCountMax 3"},
		ClientLines: []string{"ServerAliveInterval 0"}})
	cl := srv.Connect(t)

	out, errs, code := tcpkaRun(t, "ssh", "--sessions")
	if code != 0 || errs != "" {
		t.Fatalf("ssh --sessions: exit %d: %s", code, errs)
	}
	t.Logf("tcpka ssh --sessions:\n%s", out)
	mustMatch(t, "header", out, `^SIDE +PID +USER +LOCAL +PEER +IDLE +FIRST +DETECTION +STATE\n`)
	// sshd: the logged-in user, ClientAliveInterval 5 x 3 checked every
	// other interval: the SSH layer after 40 s.
	mustMatch(t, "server", out, `(?m)^server +\d+ +`+sshtest.User+` +127\.0\.0\.1:2346 +127\.0\.0\.1:\d+ +\d+ s +ssh +40 s +ok\n  keepalive tcp 2/1/60, ssh 5s x3$`)
	// ssh: no SSH keepalives, so TCP keepalive: 2 + 1 x 60 = 62 s.
	mustMatch(t, "client", out, `(?m)^client +\d+ +root +127\.0\.0\.1:\d+ +127\.0\.0\.1:2346 +\d+ s +tcp +1m2s +ok\n  to e2e \(127\.0\.0\.1\); keepalive tcp 2/1/60$`)
	for _, l := range strings.Split(out, "\n") {
		if len(l) > 100 {
			t.Errorf("%d columns: %q", len(l), l)
		}
	}

	out, _, code = tcpkaRun(t, "ssh", "--sessions", "--json")
	var j struct {
		Sessions []struct {
			sessionJSON
			TCP *struct {
				TimeS      int `json:"time_s"`
				DetectionS int `json:"detection_s"`
			} `json:"tcp"`
		} `json:"sessions"`
	}
	if err := json.Unmarshal([]byte(out), &j); err != nil || code != 0 || len(j.Sessions) != 2 {
		t.Fatalf("--json: exit %d, %v:\n%s", code, err, out)
	}
	s, c := j.Sessions[0], j.Sessions[1]
	if c.TCP == nil || c.TCP.TimeS != 2 || c.TCP.DetectionS != 62 {
		t.Errorf("--json client tcp: %+v, want time_s 2, detection_s 62", c.TCP)
	}
	if s.Side != "server" || s.User != sshtest.User || len(s.PIDs) != 2 || s.First != "ssh" || s.DetectionS == nil || *s.DetectionS != 40 ||
		s.AliveIntervalS == nil || *s.AliveIntervalS != 5 || s.IdleS == nil || s.Dying != nil || s.Peer != c.Local {
		t.Errorf("--json server: %+v", s)
	}
	if c.Side != "client" || c.User != "root" || c.Destination != "e2e" || c.HostName != "127.0.0.1" || c.RemoteUser != sshtest.User ||
		c.First != "tcp" || c.DetectionS == nil || *c.DetectionS != 62 || c.Peer != s.Local {
		t.Errorf("--json client: %+v", c)
	}

	// Cut the path: both ends probe into the void.
	sshtest.Cut(t, 2346)
	deadline := time.Now().Add(20 * time.Second)
	for {
		out, _, _ = tcpkaRun(t, "ssh", "--sessions")
		if strings.Count(out, " DYING\n") == 2 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("not both dying 20 s after the cut:\n%s", out)
		}
		time.Sleep(500 * time.Millisecond)
	}
	t.Logf("after the cut:\n%s", out)
	mustMatch(t, "dying", out, `(?m)^client .* DYING\n  to e2e \(127\.0\.0\.1\); keepalive tcp 2/1/60; \d+ keepalive probes? unanswered, dropped in (\d+ s|1m\d*s?)$`)
	mustMatch(t, "hint", out, `(?m)^2 sessions are dying: close them now with tcpka ssh --sessions --kill-dying \(root\)$`)

	out, errs, code = tcpkaRun(t, "ssh", "--sessions", "--kill-dying")
	t.Logf("--kill-dying:\n%s%s", out, errs)
	if code != 0 || errs != "" {
		t.Fatalf("--kill-dying: exit %d: %s", code, errs)
	}
	if n := len(regexp.MustCompile(`(?m) closed\n  .*unanswered, dropped in .*; closed$`).FindAllString(out, -1)); n != 2 {
		t.Errorf("--kill-dying: %d sessions closed, want 2:\n%s", n, out)
	}
	if exited, _ := cl.Wait(5 * time.Second); !exited {
		t.Error("ssh still runs 5 s after --kill-dying closed its connection")
	}
	out, _, _ = tcpkaRun(t, "ssh", "--sessions")
	if !strings.Contains(out, "no SSH sessions") {
		t.Errorf("after --kill-dying:\n%s", out)
	}
}
