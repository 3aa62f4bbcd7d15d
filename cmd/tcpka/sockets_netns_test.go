package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net"
	"os"
	"os/exec"
	"regexp"
	"strconv"
	"strings"
	"testing"

	"github.com/tcpka/tcpka/internal/sockopt"
	"github.com/tcpka/tcpka/internal/testkit"
	"github.com/vishvananda/netlink"
)

// TestSocketsNetns runs itself again in a scratch network namespace
// (unshare -n), where the second run (TCPKA_SOCKETS_NETNS=1) may set the
// keepalive sysctls: socketsInScratchNetns.
func TestSocketsNetns(t *testing.T) {
	if os.Getenv("TCPKA_SOCKETS_NETNS") == "1" {
		socketsInScratchNetns(t)
		return
	}
	testkit.NeedRoot(t, "scratch network namespace")
	testkit.Slow(t, "re-runs the test in a scratch network namespace")
	if _, err := exec.LookPath("unshare"); err != nil {
		t.Skip("needs unshare (util-linux)")
	}
	cmd := exec.Command("unshare", "-n", os.Args[0], "-test.run=^TestSocketsNetns$", "-test.v")
	host, err := os.Readlink("/proc/self/ns/net")
	if err != nil {
		t.Fatal(err)
	}
	cmd.Env = append(os.Environ(), "TCPKA_SOCKETS_NETNS=1", "TCPKA_HOST_NETNS="+host)
	out, err := cmd.CombinedOutput()
	t.Logf("child:\n%s", out)
	if err != nil {
		t.Fatalf("child in scratch netns: %v", err)
	}
	if !bytes.Contains(out, []byte("--- PASS: TestSocketsNetns")) {
		t.Fatal("the run in the scratch netns did not pass")
	}
}

// sameNetnsAsInit guards the host: never write sysctls unless this process
// is in another network namespace than the parent test's (and init's).
func sameNetnsAsInit(t *testing.T) bool {
	self, err1 := os.Readlink("/proc/self/ns/net")
	init, _ := os.Readlink("/proc/1/ns/net")
	host := os.Getenv("TCPKA_HOST_NETNS")
	return err1 != nil || host == "" || self == host || self == init
}

func writeSysctl(t *testing.T, name string, v int) {
	t.Helper()
	if sameNetnsAsInit(t) {
		t.Fatal("refusing to write a sysctl in the host's network namespace")
	}
	if err := os.WriteFile("/proc/sys/net/ipv4/"+name, []byte(strconv.Itoa(v)), 0o644); err != nil {
		t.Fatal(err)
	}
}

// socketsInScratchNetns is TestSocketsNetns inside the scratch netns: it
// sets the sysctls, opens sockets with and without keepalive values of
// their own, and checks what tcpka sockets reports for each.
func socketsInScratchNetns(t *testing.T) {
	if sameNetnsAsInit(t) {
		t.Fatal("not in a scratch network namespace")
	}
	lo, err := netlink.LinkByName("lo")
	if err != nil {
		t.Fatal(err)
	}
	if err := netlink.LinkSetUp(lo); err != nil {
		t.Fatal(err)
	}
	writeSysctl(t, "tcp_keepalive_time", 600)
	writeSysctl(t, "tcp_keepalive_intvl", 30)
	writeSysctl(t, "tcp_keepalive_probes", 4)

	lc := net.ListenConfig{KeepAlive: -1}
	ln4, err := lc.Listen(context.Background(), "tcp4", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln4.Close()
	ln6, err := lc.Listen(context.Background(), "tcp6", "[::1]:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln6.Close()

	type want struct {
		opts    *sockopt.Options // nil: keepalive off
		follows bool
		detect  int
	}
	cases := []struct {
		name string
		ln   net.Listener
		opts *sockopt.Options
		want want
	}{
		{"off", ln4, nil, want{}},
		{"sysctl", ln4, sockOpts(true, 0, 0, 0, 0), want{sockOpts(true, 600, 30, 4, 0), true, 720}},
		{"own 11/7/5", ln4, sockOpts(true, 11, 7, 5, 0), want{sockOpts(true, 11, 7, 5, 0), false, 46}},
		{"sysctl + TCP_USER_TIMEOUT 900 s", ln4, sockOpts(true, 0, 0, 0, 900000),
			want{sockOpts(true, 600, 30, 4, 900000), true, 900}},
		{"ipv6 sysctl", ln6, sockOpts(true, 0, 0, 0, 0), want{sockOpts(true, 600, 30, 4, 0), true, 720}},
	}
	byLocal := map[string]want{}
	var conns []net.Conn
	defer func() {
		for _, c := range conns {
			c.Close()
		}
	}()
	for _, c := range cases {
		d := net.Dialer{KeepAlive: -1}
		conn, err := d.Dial(c.ln.Addr().Network(), c.ln.Addr().String())
		if err != nil {
			t.Fatal(err)
		}
		srv, err := c.ln.Accept()
		if err != nil {
			t.Fatal(err)
		}
		conns = append(conns, conn, srv)
		if c.opts != nil {
			rc, _ := conn.(*net.TCPConn).SyscallConn()
			var serr error
			rc.Control(func(fd uintptr) { serr = sockopt.Set(int(fd), *c.opts) })
			if serr != nil {
				t.Fatal(serr)
			}
		}
		byLocal[conn.LocalAddr().String()] = c.want
		byLocal[srv.LocalAddr().String()+">"+srv.RemoteAddr().String()] = want{} // accepted side: off
	}

	// tcpka sockets --json --processes, in this process.
	var out, errb bytes.Buffer
	if code := run([]string{"sockets", "--json", "--processes"}, &out, &errb); code != 0 {
		t.Fatalf("tcpka sockets: exit %d: %s", code, errb.String())
	}
	t.Logf("tcpka sockets --json --processes:\n%s", out.String())
	var doc struct {
		Sockets []struct {
			Local, Peer, Keepalive, Timer string
			TimerMs                       uint32 `json:"timer_ms"`
			ProbesSent                    *int   `json:"probes_sent"`
			PID                           *int   `json:"pid"`
			TimeS                         *int   `json:"time_s"`
			IntvlS                        *int   `json:"intvl_s"`
			Probes                        *int   `json:"probes"`
			UserTimeoutMs                 *int   `json:"user_timeout_ms"`
			FollowsSysctl                 *bool  `json:"follows_sysctl"`
			DetectionS                    *int   `json:"detection_s"`
		}
	}
	if err := json.Unmarshal(out.Bytes(), &doc); err != nil {
		t.Fatal(err)
	}
	if len(doc.Sockets) != 2*len(cases) {
		t.Errorf("tcpka listed %d sockets, want %d", len(doc.Sockets), 2*len(cases))
	}
	timers := map[string]string{} // local>peer -> "keepalive,probes" for the ss comparison
	for _, s := range doc.Sockets {
		w, ok := byLocal[s.Local]
		if !ok {
			w, ok = byLocal[s.Local+">"+s.Peer]
		}
		if !ok {
			t.Errorf("unexpected socket %s -> %s", s.Local, s.Peer)
			continue
		}
		if s.PID == nil || *s.PID != os.Getpid() {
			t.Errorf("%s: pid %v, want this test's pid %d", s.Local, s.PID, os.Getpid())
		}
		if w.opts == nil {
			if s.Keepalive != "off" || s.Timer != "off" || s.DetectionS != nil {
				t.Errorf("%s: keepalive %q timer %q detection %v, want off", s.Local, s.Keepalive, s.Timer, s.DetectionS)
			}
		} else {
			// user_timeout_ms is left out where the socket sets none.
			got := fmt.Sprintf("%s %v/%v/%v ut=%v follows=%v detection=%v", s.Keepalive, deref(s.TimeS), deref(s.IntvlS), deref(s.Probes), orZero(s.UserTimeoutMs), derefB(s.FollowsSysctl), deref(s.DetectionS))
			exp := fmt.Sprintf("on %d/%d/%d ut=%d follows=%v detection=%d", w.opts.Settings.Time, w.opts.Settings.Intvl, w.opts.Settings.Probes, w.opts.UserTimeoutMs(), w.follows, w.detect)
			if got != exp {
				t.Errorf("%s: got %s, want %s", s.Local, got, exp)
			}
			if s.Timer != "keepalive" || s.TimerMs > uint32(w.opts.Settings.Time)*1000 || s.TimerMs+5000 < uint32(w.opts.Settings.Time)*1000 {
				t.Errorf("%s: timer %s %d ms, want keepalive within 5 s of %d s", s.Local, s.Timer, s.TimerMs, w.opts.Settings.Time)
			}
		}
		tm := "none"
		if s.Timer == "keepalive" {
			tm = fmt.Sprintf("keepalive,%d,%d", s.TimerMs/1000, deref(s.ProbesSent))
		}
		timers[s.Local+">"+s.Peer] = tm
	}

	// ss -tno on the same sockets: same set, same keepalive timers.
	ss, err := exec.LookPath("ss")
	if err != nil {
		t.Skip("needs ss (iproute2) for the comparison")
	}
	ssOut, err := exec.Command(ss, "-tnoH").Output()
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("ss -tnoH:\n%s", ssOut)
	// ESTAB 0 0 127.0.0.1:41234 127.0.0.1:37000 timer:(keepalive,9min59sec,0)
	timerRE := regexp.MustCompile(`timer:\(keepalive,(?:(\d+)min)?(?:(\d+)(?:\.\d+)?sec)?(?:(\d+)ms)?,(\d+)\)`)
	lines := strings.Split(strings.TrimSpace(string(ssOut)), "\n")
	if len(lines) != len(doc.Sockets) {
		t.Errorf("ss shows %d sockets, tcpka %d", len(lines), len(doc.Sockets))
	}
	for _, line := range lines {
		f := strings.Fields(line)
		if len(f) < 5 {
			t.Errorf("ss line %q", line)
			continue
		}
		key := f[3] + ">" + f[4]
		mine, ok := timers[key]
		if !ok {
			t.Errorf("ss shows %s, tcpka does not", key)
			continue
		}
		theirs := "none"
		if m := timerRE.FindStringSubmatch(line); m != nil {
			min, _ := strconv.Atoi(m[1])
			sec, _ := strconv.Atoi(m[2])
			theirs = fmt.Sprintf("keepalive,%d,%s", min*60+sec, m[4])
		} else if strings.Contains(line, "timer:") {
			theirs = "other: " + line
		}
		// ss ran a moment later: allow its seconds to be one lower.
		if mine != theirs {
			var a, b, pa, pb int
			fmt.Sscanf(mine, "keepalive,%d,%d", &a, &pa)
			fmt.Sscanf(theirs, "keepalive,%d,%d", &b, &pb)
			if !strings.HasPrefix(mine, "keepalive") || !strings.HasPrefix(theirs, "keepalive") || a-b > 2 || b > a || pa != pb {
				t.Errorf("%s: tcpka %s, ss %s", key, mine, theirs)
			}
		}
	}

	// --summary --json --processes: the counts the user sees.
	out.Reset()
	if code := run([]string{"sockets", "--summary", "--json", "--processes"}, &out, &errb); code != 0 {
		t.Fatalf("tcpka sockets --summary: exit %d: %s", code, errb.String())
	}
	var sum map[string]any
	if err := json.Unmarshal(out.Bytes(), &sum); err != nil {
		t.Fatal(err)
	}
	for k, v := range map[string]float64{"total": 10, "keepalive_on": 4, "keepalive_off": 6, "keepalive_sysctl": 3, "keepalive_own": 1, "keepalive_user_timeout": 1, "worst_detection_s": 900} {
		if sum[k] != v {
			t.Errorf("--summary --json: %s = %v, want %v\n%s", k, sum[k], v, out.String())
		}
	}
	// --pid of this test and --port filters.
	out.Reset()
	if code := run([]string{"sockets", "--pid", strconv.Itoa(os.Getpid()), "--port", strconv.Itoa(ln6.Addr().(*net.TCPAddr).Port)}, &out, &errb); code != 0 {
		t.Fatalf("exit %d: %s", code, errb.String())
	}
	if n := strings.Count(out.String(), "[::1]:"); n != 4 { // two sockets, two addresses each
		t.Errorf("--pid --port on the IPv6 listener:\n%s", out.String())
	}
}

func deref(p *int) any {
	if p == nil {
		return nil
	}
	return *p
}

func orZero(p *int) int {
	if p == nil {
		return 0
	}
	return *p
}

func derefB(p *bool) any {
	if p == nil {
		return nil
	}
	return *p
}
