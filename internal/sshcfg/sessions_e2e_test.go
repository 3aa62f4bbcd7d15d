package sshcfg

import (
	"os"
	"strings"
	"testing"
	"time"

	"github.com/tcpka/tcpka/internal/detect"
	"github.com/tcpka/tcpka/internal/keepalive"
	"github.com/tcpka/tcpka/internal/nstest"
	"github.com/tcpka/tcpka/internal/sockdiag"
	"github.com/tcpka/tcpka/internal/sshcfg/sshtest"
)

// scaledSysctls are the scratch namespace's keepalive values: a probe
// after 2 s idle, so a cut peer shows within seconds, and 60 probes, so
// TCP keepalive (62 s) is not what ends a session during the test.
var scaledSysctls = keepalive.Settings{Time: 2, Intvl: 1, Probes: 60, Retries2: 15}

// setSysctls writes scaledSysctls in the test's scratch namespace.
func setSysctls(t *testing.T) {
	t.Helper()
	for k, v := range map[string]string{"time": "2", "intvl": "1", "probes": "60"} {
		if err := os.WriteFile("/proc/sys/net/ipv4/tcp_keepalive_"+k, []byte(v), 0o644); err != nil {
			t.Fatal(err)
		}
	}
}

// TestSessionsLive lists a real sshd connection and the ssh client behind
// it, both on this host, then cuts the path and sees both dying, and
// closes them.
func TestSessionsLive(t *testing.T) {
	if testing.Short() {
		t.Skip("-short: runs sshd and ssh in scratch namespaces")
	}
	if !nstest.Private(t, "ip", "ss", "nft") {
		return
	}
	setSysctls(t)
	srv := sshtest.Start(t, sshtest.Options{Port: 2345,
		// sshd: checks every other interval, gives up after 3 misses:
		// (3+1) x 2 x 5 = 40 s, before TCP keepalive's 62 s.
		ServerLines: []string{"ClientAliveInterval 5", "ClientAliveCountMax 3", "TCPKeepAlive yes"},
		// ssh: no SSH keepalives, TCP keepalive (62 s) decides.
		ClientLines: []string{"ServerAliveInterval 0", "TCPKeepAlive yes"}})
	cl := srv.Connect(t)

	r := sockdiag.NewOptionReader()
	defer r.Close()
	scan := func() []Session {
		t.Helper()
		sc := SessionScan{ProcRoot: "/proc", Lister: sockdiag.Netlink{}, Options: r, Sysctls: scaledSysctls,
			Net: detect.Net{}, MayRunSSHD: true, AsUser: true}
		ss, err := sc.Sessions()
		if err != nil {
			t.Fatal(err)
		}
		return ss
	}
	ss := scan()
	if len(ss) != 2 {
		t.Fatalf("%d sessions, want sshd's and ssh's: %+v", len(ss), ss)
	}
	server, client := ss[0], ss[1]
	for _, s := range ss {
		t.Logf("%s pids %v user %q %s -> %s ssh %+v (%s) ends by %s after %d s", s.Side, s.PIDs, s.User, s.Socket.Local, s.Socket.Peer, s.SSH, s.ConfigSource, s.EndsBy, s.DetectS)
	}
	if server.Side != Server || client.Side != Client {
		t.Fatalf("sides %s, %s: want server first", server.Side, client.Side)
	}
	if server.Socket.Peer != client.Socket.Local || client.Socket.Peer != server.Socket.Local || server.Socket.Local.Port() != 2345 {
		t.Errorf("ends: server %s <- %s, client %s -> %s: want the two ends of one connection to port 2345",
			server.Socket.Local, server.Socket.Peer, client.Socket.Local, client.Socket.Peer)
	}
	if server.User != sshtest.User || len(server.PIDs) != 2 || !strings.HasPrefix(server.Title, "sshd: "+sshtest.User) {
		t.Errorf("server: user %q, pids %v, title %q: want %s, the [priv] process and the session", server.User, server.PIDs, server.Title, sshtest.User)
	}
	if server.SSH == nil || server.SSH.Interval != 5 || server.SSH.CountMax != 3 {
		t.Errorf("server SSH settings %+v (%s; %s), want ClientAliveInterval 5, CountMax 3", server.SSH, server.ConfigSource, server.ConfigNote)
	}
	if !strings.Contains(server.ConfigSource, "-f "+srv.ServerConfig) || !strings.Contains(server.ConfigSource, "user="+sshtest.User) {
		t.Errorf("server config source %q: want the listener's -f and the connection's user", server.ConfigSource)
	}
	if server.EndsBy != LayerSSH || server.DetectS != 40 {
		t.Errorf("server ends by %s after %d s, want ssh after 40 s", server.EndsBy, server.DetectS)
	}
	if client.User != "root" || client.Destination != "e2e" || client.HostName != "127.0.0.1" || client.RemoteUser != sshtest.User || client.Port != "2345" {
		t.Errorf("client: user %q destination %q hostname %q remote user %q port %q", client.User, client.Destination, client.HostName, client.RemoteUser, client.Port)
	}
	if client.EndsBy != LayerTCP || client.DetectS != 62 || client.TCP.Keepalive != sockdiag.KeepaliveOn || client.TCP.Effective.Keepalive() != scaledSysctls.Keepalive() {
		t.Errorf("client ends by %s after %d s (keepalive %s, %s): want tcp after 62 s with the namespace's 2/1/60",
			client.EndsBy, client.DetectS, client.TCP.Keepalive, client.TCP.Effective.Triple())
	}
	for _, s := range ss {
		if s.Dying != nil || s.IdleS < 0 || s.IdleS > 5 {
			t.Errorf("%s: dying %+v, idle %d s before the cut: want alive, idle a few seconds", s.Side, s.Dying, s.IdleS)
		}
	}

	// The peer falls silent: both ends probe unanswered.
	sshtest.Cut(t, 2345)
	deadline := time.Now().Add(20 * time.Second)
	for {
		ss = scan()
		dying := 0
		for _, s := range ss {
			if s.Dying != nil {
				dying++
			}
		}
		if dying == 2 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("after the cut: %d of %d sessions dying, want both: %+v", dying, len(ss), ss)
		}
		time.Sleep(500 * time.Millisecond)
	}
	for _, s := range ss {
		t.Logf("%s dying: %s, dropped in %v", s.Side, s.Dying.Why(), s.Dying.DropIn.Nominal)
		// 2/1/60: 60 probes a second apart, a few already out.
		if s.Dying.Reason != "keepalive" || s.Dying.Unanswered < 1 || s.Dying.DropIn.Nominal < 40*time.Second || s.Dying.DropIn.Nominal > 62*time.Second {
			t.Errorf("%s dying: %+v, want keepalive probes out and a drop within a minute", s.Side, s.Dying)
		}
		if err := s.Kill(); err != nil {
			t.Errorf("kill %s: %v", s.Side, err)
		}
	}
	if exited, _ := cl.Wait(5 * time.Second); !exited {
		t.Error("ssh still runs 5 s after its connection was closed")
	}
	if left := scan(); len(left) != 0 {
		t.Errorf("after the kill: %d sessions left: %+v", len(left), left)
	}
}
