package enforce

import (
	"errors"
	"os/exec"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/tcpka/tcpka/internal/enforce/enforcetest"
	"github.com/tcpka/tcpka/internal/keepalive"
	"github.com/tcpka/tcpka/internal/sockopt"
)

func TestClassify(t *testing.T) {
	want := opt(true, 2, 1, 3, 0)
	sys := keepalive.KernelDefaults
	for _, tt := range []struct {
		o    sockopt.Options
		want string
	}{
		{opt(false, 7200, 75, 9, 0), KeepaliveOff},
		{opt(true, 2, 1, 3, 0), FollowsProfile},
		{opt(true, 7200, 75, 9, 0), FollowsSysctls},
		{opt(true, 60, 10, 5, 0), OwnValues},
		{opt(true, 2, 1, 3, 5000), FollowsProfile},
	} {
		if got := classify(tt.o, want, sys); got != tt.want {
			t.Errorf("classify(%+v) = %s, want %s", tt.o, got, tt.want)
		}
	}
	// A profile that sets only the idle time: the others are not compared.
	if got := classify(opt(true, 2, 75, 9, 0), opt(true, 2, 0, 0, 0), sys); got != FollowsProfile {
		t.Errorf("time-only profile: %s", got)
	}
}

// ssTimer returns the keepalive timer ss -tno shows for the socket with
// local address local ("" when it shows none).
func ssTimer(t *testing.T, local string) string {
	t.Helper()
	out, err := exec.Command("ss", "-tnoH").Output()
	if err != nil {
		t.Skipf("ss: %v", err)
	}
	for _, line := range strings.Split(string(out), "\n") {
		f := strings.Fields(line)
		if len(f) >= 4 && f[3] == local {
			if m := regexp.MustCompile(`timer:\((keepalive,[^)]*)\)`).FindStringSubmatch(line); m != nil {
				return m[1]
			}
			return ""
		}
	}
	t.Fatalf("ss shows no socket %s:\n%s", local, out)
	return ""
}

// TestEnforcePID: a child holds a connection without keepalive, one
// following the sysctls, one with its own values, a listener and a UDP
// socket. Only the first changes, unless --override; a second run changes
// nothing; the child keeps using all of them.
func TestEnforcePID(t *testing.T) {
	if !enforcetest.InScratchNetns(t) {
		return
	}
	echo := enforcetest.Echo(t)
	c := enforcetest.Start(t, "", "dial:"+echo, "dialka:"+echo, "dialown:"+echo, "listen:127.0.0.1:0", "udp")
	off, ka, own := fdField(t, c.Next(t), 1), fdField(t, c.Next(t), 1), fdField(t, c.Next(t), 1)
	c.Next(t)
	c.Next(t)
	p := settings(2, 1, 3)

	dry, err := EnforcePID(c.Pid(), p, PIDOptions{DryRun: true})
	if err != nil {
		t.Fatal(err)
	}
	if dry.Changed != 1 || len(dry.Sockets) != 3 || dry.Listening != 1 {
		t.Fatalf("dry run: %+v", dry)
	}
	wantKA(t, "after --dry-run", childOpts(t, c.Pid(), off), false, 0, 0, 0)
	if dry.Sockets[0].FD != off || dry.Sockets[0].Status != KeepaliveOff || dry.Sockets[0].After != (opt(true, 2, 1, 3, 0)) {
		t.Errorf("dry run first socket: %+v", dry.Sockets[0])
	}

	res, err := EnforcePID(c.Pid(), p, PIDOptions{})
	if err != nil {
		t.Fatal(err)
	}
	status := map[int]string{}
	for _, s := range res.Sockets {
		status[s.FD] = s.Status
	}
	if res.Changed != 1 || status[off] != KeepaliveOff || status[ka] != FollowsSysctls || status[own] != OwnValues {
		t.Fatalf("enforce: changed %d, status %v", res.Changed, status)
	}
	wantKA(t, "no keepalive before", childOpts(t, c.Pid(), off), true, 2, 1, 3)
	wantKA(t, "following the sysctls", childOpts(t, c.Pid(), ka), true, 7200, 75, 9)
	wantKA(t, "own values", childOpts(t, c.Pid(), own), true, 60, 10, 5)
	// ss -tno: the changed socket's keepalive timer fires within 2 s (ss
	// prints 1.9 s as "1.904ms" or "1.904sec" depending on its version),
	// the others keep their own, longer timers.
	within2s := regexp.MustCompile(`^keepalive,([01]\.\d+(ms|sec)|2sec|\d{1,3}ms),0$`)
	for _, s := range res.Sockets {
		timer := ssTimer(t, s.Local.String())
		if (s.FD == off) != within2s.MatchString(timer) {
			t.Errorf("ss -tno for fd %d (%s): timer %q", s.FD, s.Status, timer)
		}
		if timer == "" {
			t.Errorf("ss -tno for fd %d: no keepalive timer", s.FD)
		}
	}

	again, err := EnforcePID(c.Pid(), p, PIDOptions{})
	if err != nil || again.Changed != 0 {
		t.Errorf("second run: changed %d, %v", again.Changed, err)
	}

	over, err := EnforcePID(c.Pid(), p, PIDOptions{Override: true})
	if err != nil || over.Changed != 2 {
		t.Fatalf("--override: changed %d, %v", over.Changed, err)
	}
	for _, fd := range []int{off, ka, own} {
		wantKA(t, "after --override fd "+strconv.Itoa(fd), childOpts(t, c.Pid(), fd), true, 2, 1, 3)
	}
	c.Send(t, "ping")
	if got := c.Next(t); got != "pong 3" {
		t.Errorf("child after enforce: %q, want pong 3", got)
	}

	// --port: only sockets with that local or peer port.
	if r, err := EnforcePID(c.Pid(), p, PIDOptions{Port: 1, DryRun: true}); err != nil || len(r.Sockets) != 0 {
		t.Errorf("--port 1: %+v, %v", r, err)
	}
	_, port, _ := strings.Cut(echo, ":")
	pn, _ := strconv.Atoi(port)
	if r, err := EnforcePID(c.Pid(), p, PIDOptions{Port: pn, DryRun: true}); err != nil || len(r.Sockets) != 3 {
		t.Errorf("--port %d: %+v, %v", pn, r, err)
	}

	// A process that is gone.
	_ = c.Cmd.Process.Kill()
	_ = c.Cmd.Wait()
	if _, err := EnforcePID(c.Pid(), p, PIDOptions{}); !errors.Is(err, ErrProcessGone) {
		t.Errorf("exited pid: %v, want ErrProcessGone", err)
	}
}

// TestEnforcePIDOtherNetns: a process in a network namespace of its own
// (a container's) with its own sysctls: reached all the same, and its
// keepalive sockets are judged against its namespace's sysctls.
func TestEnforcePIDOtherNetns(t *testing.T) {
	if !enforcetest.InScratchNetns(t) {
		return
	}
	c := enforcetest.StartInNetns(t,
		`echo 600 > /proc/sys/net/ipv4/tcp_keepalive_time && echo 60 > /proc/sys/net/ipv4/tcp_keepalive_intvl && echo 4 > /proc/sys/net/ipv4/tcp_keepalive_probes`,
		"listen:127.0.0.1:0", "dialka:L", "accept", "dial:L", "accept")
	c.Next(t)
	ka := fdField(t, c.Next(t), 1)
	for i := 0; i < 3; i++ {
		c.Next(t)
	}
	res, err := EnforcePID(c.Pid(), settings(2, 1, 3), PIDOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if res.Changed != 3 || len(res.Sockets) != 4 {
		t.Fatalf("changed %d of %d", res.Changed, len(res.Sockets))
	}
	for _, s := range res.Sockets {
		if s.FD == ka && (s.Status != FollowsSysctls || s.Sysctls.Keepalive() != (keepalive.Settings{Time: 600, Intvl: 60, Probes: 4})) {
			t.Errorf("keepalive socket in the other netns: %s, sysctls %+v", s.Status, s.Sysctls)
		}
	}
	c.Send(t, "ping")
	if got := c.Next(t); got != "pong 4" {
		t.Errorf("child: %q", got)
	}
	_ = time.Second
}

// opt builds socket options the way the kernel reports them.
func opt(on bool, idle, intvl, cnt, userTimeoutMs int) sockopt.Options {
	return sockopt.Options{On: on, Settings: keepalive.Settings{Time: idle, Intvl: intvl, Probes: cnt, UserTimeout: time.Duration(userTimeoutMs) * time.Millisecond}}
}
