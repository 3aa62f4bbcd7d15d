package main

import (
	"bytes"
	"encoding/json"
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/tcpka/tcpka/internal/caps"
	"github.com/tcpka/tcpka/internal/detect"
	"github.com/tcpka/tcpka/internal/keepalive"
	"github.com/tcpka/tcpka/internal/netscope"
	"github.com/tcpka/tcpka/internal/sockdiag"
	"github.com/tcpka/tcpka/internal/sockopt"
	"golang.org/x/sys/unix"
)

// fakeLister serves fixed sockets, honouring the state filter.
type fakeLister []sockdiag.Socket

func (f fakeLister) Each(states sockdiag.States, fn func(*sockdiag.Socket) error) error {
	var s sockdiag.Socket // reused, like the kernel lister
	for _, x := range f {
		if !states.Has(x.State) {
			continue
		}
		s = x
		if err := fn(&s); err != nil {
			return err
		}
	}
	return nil
}

type fakeOwners map[uint32]sockdiag.Owner

func (f fakeOwners) Owner(ino uint32) (sockdiag.Owner, bool) { o, ok := f[ino]; return o, ok }
func (f fakeOwners) Comm(pid int) string {
	return map[int]string{10: "sshd", 20: "redis-server", 30: "app"}[pid]
}

type fakeOptions map[uint32]sockopt.Options

func (f fakeOptions) Read(o sockdiag.Owner, ino uint32) (sockopt.Options, error) {
	if x, ok := f[ino]; ok {
		return x, nil
	}
	return sockopt.Options{}, sockopt.ErrProcessGone // exited mid-scan
}

func sock(state sockdiag.State, local, peer string, timer sockdiag.Timer, expires uint32, probes uint8, ino uint32) sockdiag.Socket {
	l, p := netip.MustParseAddrPort(local), netip.MustParseAddrPort(peer)
	fam := uint8(unix.AF_INET)
	if l.Addr().Is6() {
		fam = unix.AF_INET6
	}
	return sockdiag.Socket{Family: fam, State: state, Local: l, Peer: p, Timer: timer, Expires: expires, Retrans: probes, Inode: ino}
}

var (
	fakeSockets = fakeLister{
		sock(sockdiag.Established, "10.0.0.1:22", "10.0.0.9:51234", sockdiag.TimerKeepalive, 599500, 0, 1),   // sshd, sysctl values
		sock(sockdiag.Established, "10.0.0.1:6379", "10.0.0.7:40000", sockdiag.TimerKeepalive, 250, 2, 2),    // redis, own 300/10/3, probing
		sock(sockdiag.Established, "[2001:db8::1]:8080", "[2001:db8::2]:50000", sockdiag.TimerNone, 0, 0, 3), // app, keepalive off
		sock(sockdiag.Established, "10.0.0.1:8080", "10.0.0.3:50001", sockdiag.TimerRetransmit, 200, 1, 4),   // app, own + user timeout, retransmitting
		sock(sockdiag.Established, "10.0.0.1:8080", "10.0.0.4:50002", sockdiag.TimerKeepalive, 5000, 0, 5),   // app gone mid-scan
		sock(sockdiag.Established, "10.0.0.1:9000", "10.0.0.5:50003", sockdiag.TimerKeepalive, 5000, 0, 6),   // no owner found
		sock(sockdiag.Listen, "0.0.0.0:22", "0.0.0.0:0", sockdiag.TimerNone, 0, 0, 7),
	}
	fakeOwn = fakeOwners{1: {PID: 10, FD: 4}, 2: {PID: 20, FD: 9}, 3: {PID: 30, FD: 5}, 4: {PID: 30, FD: 6}, 5: {PID: 30, FD: 7}, 7: {PID: 10, FD: 3}}
	fakeOpt = fakeOptions{
		1: *sockOpts(true, 600, 30, 4, 0),
		2: *sockOpts(true, 300, 10, 3, 0),
		3: *sockOpts(false, 600, 30, 4, 0),
		4: *sockOpts(true, 11, 7, 5, 30000),
	}
	fakeSys = keepalive.Settings{Time: 600, Intvl: 30, Probes: 4, Retries2: 15}
)

// A namespace in trouble, its sysctls fakeSys (600/30/4, retries2 15)
// since a change from 7200/75/9 a minute ago; every socket has tcp_info.
var (
	troubleSockets = fakeLister{
		// An SSH session opened before the change: its timer armed for
		// 7200 s has 7140 s to go.
		withInfo(sock(sockdiag.Established, "10.0.0.1:22", "10.0.0.9:51234", sockdiag.TimerKeepalive, 7140000, 0, 11),
			sockdiag.TCPInfo{LastDataRecv: 60 * time.Second, LastAckRecv: 60 * time.Second}),
		// redis with its own 300/10/3, two probes out, the peer silent
		// 312 s: the third goes out in 0.25 s and the kernel drops it at
		// the next timer, 10 s later.
		withInfo(sock(sockdiag.Established, "10.0.0.1:6379", "10.0.0.7:40000", sockdiag.TimerKeepalive, 250, 2, 12),
			sockdiag.TCPInfo{Probes: 2, LastDataRecv: 312 * time.Second, LastAckRecv: 312 * time.Second}),
		// app retransmitting for 1.4 s (RTOs of 0.2, 0.4 and 0.8 s), no
		// acknowledgement: tcp_retries2 15 gives up 924.6 s after the
		// first retransmission, at the RTO timer that comes then.
		withInfo(sock(sockdiag.Established, "10.0.0.1:8080", "10.0.0.3:50001", sockdiag.TimerRetransmit, 1600, 3, 13),
			sockdiag.TCPInfo{Retransmits: 3, Backoff: 3, RTO: 1600 * time.Millisecond, TotalRTORecoveries: 1, TotalRTOTime: 1400 * time.Millisecond,
				LastDataRecv: 1600 * time.Millisecond, LastAckRecv: 1600 * time.Millisecond}),
		// A healthy one: its probe was answered.
		withInfo(sock(sockdiag.Established, "10.0.0.1:8080", "10.0.0.4:50002", sockdiag.TimerKeepalive, 580000, 0, 14),
			sockdiag.TCPInfo{LastDataRecv: 20 * time.Second, LastAckRecv: 20 * time.Second}),
	}
	troubleOwn = fakeOwners{11: {PID: 10, FD: 4}, 12: {PID: 20, FD: 9}, 13: {PID: 30, FD: 5}, 14: {PID: 30, FD: 6}}
	troubleOpt = fakeOptions{
		11: *sockOpts(true, 600, 30, 4, 0),
		12: *sockOpts(true, 300, 10, 3, 0),
		13: *sockOpts(true, 600, 30, 4, 0),
		14: *sockOpts(true, 600, 30, 4, 0),
	}
)

func withInfo(s sockdiag.Socket, i sockdiag.TCPInfo) sockdiag.Socket {
	s.HasInfo, s.Info = true, i
	return s
}

func runFake(t *testing.T, f socketsFlags) string {
	t.Helper()
	return runFakeOn(t, f, fakeSockets, fakeOwn, fakeOpt)
}

func runFakeOn(t *testing.T, f socketsFlags, l fakeLister, own fakeOwners, opt fakeOptions) string {
	t.Helper()
	if f.state == "" {
		f.state = "established"
	}
	states, err := sockdiag.ParseStates(f.state)
	if err != nil {
		t.Fatal(err)
	}
	sc := newScan(f, states, l, fakeSys, detect.Net{HZ: 250})
	if f.processes || f.pid > 0 {
		sc.Owners = own
	}
	if f.processes {
		sc.Options = opt
	}
	var out, errb bytes.Buffer
	scope, err := netscope.Open(netscope.Roots{Proc: t.TempDir(), Run: t.TempDir()}, "", false)
	if err != nil {
		t.Fatal(err)
	}
	defer scope.Close()
	env := &Env{Stdout: &out, Stderr: &errb, Scope: scope}
	if err := listSockets(env, f, sc); err != nil {
		t.Fatal(err)
	}
	if errb.Len() > 0 {
		t.Errorf("stderr: %s", errb.String())
	}
	return out.String()
}

func TestSocketsText(t *testing.T) {
	got := runFake(t, socketsFlags{})
	want := `STATE       LOCAL                   PEER                    KEEPALIVE  NEXT-PROBE  PROBES
ESTAB       10.0.0.1:22             10.0.0.9:51234          on         9m59s       0
ESTAB       10.0.0.1:6379           10.0.0.7:40000          on         250ms       2
ESTAB       [2001:db8::1]:8080      [2001:db8::2]:50000     off        -           -
ESTAB       10.0.0.1:8080           10.0.0.3:50001          unknown    on          -
ESTAB       10.0.0.1:8080           10.0.0.4:50002          on         5s          0
ESTAB       10.0.0.1:9000           10.0.0.5:50003          on         5s          0
`
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("sockets (-want +got):\n%s", diff)
	}
}

func TestSocketsTextProcesses(t *testing.T) {
	got := runFake(t, socketsFlags{processes: true, port: 8080})
	want := `STATE       LOCAL                   PEER                    KEEPALIVE  NEXT-PROBE  PROBES
ESTAB       [2001:db8::1]:8080      [2001:db8::2]:50000     off        -           -
  app[30]  keepalive off: never detected while idle, data in flight 939 s (15m39s)
ESTAB       10.0.0.1:8080           10.0.0.3:50001          on         on          -
  app[30]  own 11/7/5, TCP_USER_TIMEOUT 30000 ms: detection 32 s, data in flight 31 s;
    dying: 1 retransmission unanswered, dropped in 30 s
ESTAB       10.0.0.1:8080           10.0.0.4:50002          on         5s          0
  app[30]  options not read
`
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("sockets --processes --port 8080 (-want +got):\n%s", diff)
	}
}

func TestSocketsFilters(t *testing.T) {
	count := func(out string) int { // socket lines: not the header, not --processes' second lines
		return strings.Count(out, "\n") - 1 - strings.Count(out, "\n  ")
	}
	tests := []struct {
		name string
		f    socketsFlags
		want int
	}{
		{"all established", socketsFlags{}, 6},
		{"all states", socketsFlags{state: "all"}, 7},
		{"listening", socketsFlags{state: "listening"}, 1},
		{"port 22 local or peer", socketsFlags{port: 22}, 1},
		{"port 50001 is a peer port", socketsFlags{port: 50001}, 1},
		{"pid 30", socketsFlags{pid: 30}, 3},
		{"pid 10 all states", socketsFlags{pid: 10, state: "all"}, 2},
		{"no keepalive (timer)", socketsFlags{noKeepalive: true}, 1},
		{"no keepalive (options)", socketsFlags{noKeepalive: true, processes: true}, 1},
	}
	for _, tt := range tests {
		if got := count(runFake(t, tt.f)); got != tt.want {
			t.Errorf("%s: %d sockets, want %d", tt.name, got, tt.want)
		}
	}
}

func TestSocketsSummary(t *testing.T) {
	got := runFake(t, socketsFlags{summary: true, processes: true})
	want := `sysctls 600/30/4: an idle connection following them notices a dead peer after 720 s (12m)
TCP sockets (established)               6
  keepalive off                         1  never probe: the sysctls do nothing for them
  keepalive on                          5
    following the sysctls               1
    with their own values               2
    with TCP_USER_TIMEOUT               1
    options not read                    2  (no process found, or it exited)
  dying: peer not answering             2  tcpka sockets --dying lists them
worst detection among keepalive sockets: 720 s (12m)
the sysctls reach 1 of 6 sockets

COMMAND            TOTAL  KA-OFF  SYSCTL     OWN  UNREAD  WORST-DETECTION
app                    3       1       0       1       1  32 s
-                      1       0       0       0       1  -
redis-server           1       0       0       1       0  330 s (5m30s)
sshd                   1       0       1       0       0  720 s (12m)
`
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("sockets --summary --processes (-want +got):\n%s", diff)
	}
	got = runFake(t, socketsFlags{summary: true})
	if !strings.Contains(got, "  keepalive on                          4\n") || !strings.Contains(got, "  keepalive unknown                     1") ||
		strings.Contains(got, "following the sysctls") || !strings.Contains(got, "run with --processes") {
		t.Errorf("sockets --summary without --processes:\n%s", got)
	}
}

func TestSocketsSummaryJSON(t *testing.T) {
	var got map[string]any
	if err := json.Unmarshal([]byte(runFake(t, socketsFlags{summary: true, json: true, processes: true})), &got); err != nil {
		t.Fatal(err)
	}
	for k, want := range map[string]float64{"total": 6, "keepalive_on": 5, "keepalive_off": 1, "keepalive_sysctl": 1, "keepalive_own": 2, "worst_detection_s": 720} {
		if got[k] != want {
			t.Errorf("%s = %v, want %v", k, got[k], want)
		}
	}
	if cs, _ := got["commands"].([]any); len(cs) != 4 || cs[0].(map[string]any)["command"] != "app" {
		t.Errorf("commands = %v", got["commands"])
	}
	got = nil
	if err := json.Unmarshal([]byte(runFake(t, socketsFlags{summary: true, json: true})), &got); err != nil {
		t.Fatal(err)
	}
	if _, ok := got["keepalive_sysctl"]; ok || got["total"] != 6.0 || got["keepalive_off"] != 1.0 {
		t.Errorf("summary --json without --processes = %v: want no sysctl/own split", got)
	}
}

func TestSocketsJSON(t *testing.T) {
	out := runFake(t, socketsFlags{json: true, processes: true, pid: 30})
	var got struct {
		Sysctl  map[string]any   `json:"sysctl"`
		Sockets []map[string]any `json:"sockets"`
	}
	if err := json.Unmarshal([]byte(out), &got); err != nil {
		t.Fatalf("%v\n%s", err, out)
	}
	if len(got.Sockets) != 3 || got.Sysctl["detection_s"] != 720.0 {
		t.Fatalf("got %d sockets, sysctl %v:\n%s", len(got.Sockets), got.Sysctl, out)
	}
	want := map[string]any{"state": "ESTAB", "local": "10.0.0.1:8080", "peer": "10.0.0.3:50001", "keepalive": "on", "timer": "on", "timer_ms": 200.0,
		"recv_q": 0.0, "send_q": 0.0, "uid": 0.0, "inode": 4.0, "pid": 30.0, "command": "app", "time_s": 11.0, "intvl_s": 7.0, "probes": 5.0,
		"user_timeout_ms": 30000.0, "follows_sysctl": false, "detection_s": 32.0, "detection": "32s", "data_in_flight_s": 31.0,
		// retransmitting once: dying, and TCP_USER_TIMEOUT 30 s ends it
		"dying": map[string]any{"reason": "retransmit", "unanswered": 1.0, "silent_s": 0.0, "drop_in_s": 30.0, "drop_in_min_s": 29.0, "drop_in_max_s": 31.0}}
	if diff := cmp.Diff(want, got.Sockets[1]); diff != "" {
		t.Errorf("socket (-want +got):\n%s", diff)
	}
	if got.Sockets[0]["keepalive"] != "off" || got.Sockets[0]["detection_s"] != nil || got.Sockets[2]["time_s"] != nil {
		t.Errorf("off socket or unread socket wrong: %v / %v", got.Sockets[0], got.Sockets[2])
	}
	// One socket per line inside the array.
	if n := strings.Count(out, "\n"); n != 5 {
		t.Errorf("--json has %d lines, want head + 3 sockets + end:\n%s", n, out)
	}
	// No sockets: still valid JSON with an empty array.
	var empty struct{ Sockets []any }
	if err := json.Unmarshal([]byte(runFake(t, socketsFlags{json: true, port: 1})), &empty); err != nil || empty.Sockets == nil {
		t.Errorf("empty --json: %v %v", err, empty.Sockets)
	}
}

func TestSocketsProcessesNeedsRoot(t *testing.T) {
	defer caps.Pretend()()
	var out, errb bytes.Buffer
	code := run([]string{"sockets", "--processes"}, &out, &errb)
	if code != exitFailure || out.Len() != 0 ||
		errb.String() != "tcpka: sockets --processes needs root (CAP_SYS_PTRACE, to read other processes' sockets with pidfd_getfd): run it with sudo\n" {
		t.Errorf("non-root --processes: exit %d, stdout %q, stderr %q", code, out.String(), errb.String())
	}
}

// sockOpts builds a socket's options the way the kernel reports them.
func sockOpts(on bool, idle, intvl, cnt, userTimeoutMs int) *sockopt.Options {
	return &sockopt.Options{On: on, Settings: keepalive.Settings{Time: idle, Intvl: intvl, Probes: cnt, UserTimeout: time.Duration(userTimeoutMs) * time.Millisecond}}
}

func TestAppendPeer(t *testing.T) {
	for in, want := range map[string]string{
		"0.0.0.0:0":        "0.0.0.0:*",
		"[::]:0":           "[::]:*",
		"10.0.0.2:443":     "10.0.0.2:443",
		"[2001:db8::1]:22": "[2001:db8::1]:22",
	} {
		if got := string(appendPeer(nil, netip.MustParseAddrPort(in))); got != want {
			t.Errorf("appendPeer(%s) = %s, want %s (as ss prints it)", in, got, want)
		}
	}
}

// TestSocketsProcessLineFits: the widest --processes line (a 15-character
// command, the largest PID, own values at their maxima and the largest
// TCP_USER_TIMEOUT) wraps before its figures and stays within 100
// columns.
func TestSocketsProcessLineFits(t *testing.T) {
	o := sockOpts(true, keepalive.Time.Max, keepalive.Intvl.Max, keepalive.Probes.Max, int(keepalive.MaxUserTimeout/time.Millisecond))
	r := &sockdiag.Row{HasOwner: true, Owner: sockdiag.Owner{PID: 4194304}, Command: "fifteen-chars-x",
		Verdict: sockdiag.Verdict{Keepalive: sockdiag.KeepaliveOn, HasOptions: true, Own: true, Options: *o,
			Bounds: detect.Bounds{Idle: 2147483647, Data: 2147483}}}
	got := string(appendProcessLine(nil, r))
	want := "  fifteen-chars-x[4194304]  own 32767/32767/127, TCP_USER_TIMEOUT 2147483647 ms:\n" +
		"    detection 2147483647 s (596523h14m7s), data in flight 2147483 s (596h31m23s)\n"
	if got != want {
		t.Errorf("process line:\n%s\nwant:\n%s", got, want)
	}
	for _, l := range strings.Split(got, "\n") {
		if len(l) > 100 {
			t.Errorf("%d columns: %q", len(l), l)
		}
	}
}

// TestSocketsDyingText: --dying lists the two connections whose peer
// stopped answering, not the SSH session on an old timer nor the healthy
// one; with --processes the redis socket's own 300/10/3 give its drop
// (the third probe in 0.25 s, the drop one interval later), where the
// sysctls' 600/30/4 would wait for 600 s of silence first.
func TestSocketsDyingText(t *testing.T) {
	got := runFakeOn(t, socketsFlags{dying: true}, troubleSockets, troubleOwn, troubleOpt)
	want := `LOCAL                   PEER                    REASON      UNANSWERED  SILENT    DROPPED
10.0.0.1:6379           10.0.0.7:40000          keepalive   2           5m12s     in 5m58s
10.0.0.1:8080           10.0.0.3:50001          retransmit  3           2 s       in 15m34s
drop times assume the sysctls' values: --processes reads each socket's own (root)
`
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("sockets --dying (-want +got):\n%s", diff)
	}
	got = runFakeOn(t, socketsFlags{dying: true, processes: true}, troubleSockets, troubleOwn, troubleOpt)
	want = `LOCAL                   PEER                    REASON      UNANSWERED  SILENT    DROPPED
10.0.0.1:6379           10.0.0.7:40000          keepalive   2           5m12s     in 11 s
  redis-server[20]  own 300/10/3: detection 330 s (5m30s), data in flight 939 s (15m39s);
    dying: 2 keepalive probes unanswered, dropped in 11 s
10.0.0.1:8080           10.0.0.3:50001          retransmit  3           2 s       in 15m34s
  app[30]  sysctl 600/30/4: detection 720 s (12m), data in flight 939 s (15m39s);
    dying: 3 retransmissions unanswered, dropped in 15m34s
`
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("sockets --dying --processes (-want +got):\n%s", diff)
	}
	if got := runFake(t, socketsFlags{dying: true}); got != "LOCAL                   PEER                    REASON      UNANSWERED  SILENT    DROPPED\nno dying connections: every peer answers\n" &&
		!strings.Contains(got, "keepalive") {
		t.Errorf("sockets --dying with none dying:\n%s", got)
	}
}

// TestSocketsStaleTimer: the SSH session's timer, armed under 7200 s
// before the sysctls became 600/30/4, still has 7140 s to go: its line
// says so and its detection counts from that timer (7140 s, then four
// probes 30 s apart, each timer late as the wheel fires it), and the
// summary counts it and the dying ones.
func TestSocketsStaleTimer(t *testing.T) {
	got := runFakeOn(t, socketsFlags{processes: true, port: 22}, troubleSockets, troubleOwn, troubleOpt)
	want := `STATE       LOCAL                   PEER                    KEEPALIVE  NEXT-PROBE  PROBES
ESTAB       10.0.0.1:22             10.0.0.9:51234          on         1h59m       0
  sshd[10]  sysctl 600/30/4: detection 7328 s (2h2m8s), data in flight 939 s (15m39s);
    timer armed with older values fires in 1h59m
`
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("sockets --processes --port 22 (-want +got):\n%s", diff)
	}
	got = runFakeOn(t, socketsFlags{summary: true, processes: true}, troubleSockets, troubleOwn, troubleOpt)
	for _, l := range []string{
		"  timers armed with older values        1  until 1h59m: tcpka apply --rearm makes the values hold now\n",
		"  dying: peer not answering             2  tcpka sockets --dying lists them\n",
		"worst detection among keepalive sockets: 7328 s (2h2m8s)\n",
	} {
		if !strings.Contains(got, l) {
			t.Errorf("sockets --summary --processes lacks %q:\n%s", l, got)
		}
	}
	var j struct {
		StaleTimers int            `json:"stale_timers"`
		StaleUntilS int            `json:"stale_until_s"`
		Worst       int            `json:"worst_detection_s"`
		Dying       map[string]int `json:"dying"`
	}
	if err := json.Unmarshal([]byte(runFakeOn(t, socketsFlags{summary: true, processes: true, json: true}, troubleSockets, troubleOwn, troubleOpt)), &j); err != nil {
		t.Fatal(err)
	}
	if j.StaleTimers != 1 || j.StaleUntilS != 7140 || j.Worst != 7328 || !cmp.Equal(j.Dying, map[string]int{"keepalive": 1, "retransmit": 1, "window": 0}) {
		t.Errorf("summary --json: %+v", j)
	}
	var sj struct {
		Sockets []struct {
			Local       string
			StaleTimerS *int `json:"stale_timer_s"`
			Detection   int  `json:"detection_s"`
			Dying       *struct {
				Reason     string
				Unanswered int
				DropInS    int `json:"drop_in_s"`
			}
		}
	}
	if err := json.Unmarshal([]byte(runFakeOn(t, socketsFlags{processes: true, json: true}, troubleSockets, troubleOwn, troubleOpt)), &sj); err != nil || len(sj.Sockets) != 4 {
		t.Fatal(err, sj)
	}
	if s := sj.Sockets[0]; s.StaleTimerS == nil || *s.StaleTimerS != 7140 || s.Detection != 7328 || s.Dying != nil {
		t.Errorf("stale socket in --json: %+v", s)
	}
	if s := sj.Sockets[1]; s.Dying == nil || s.Dying.Reason != "keepalive" || s.Dying.DropInS != 11 || s.StaleTimerS != nil {
		t.Errorf("dying socket in --json: %+v", s)
	}
	if s := sj.Sockets[3]; s.Dying != nil || s.StaleTimerS != nil || s.Detection != 720 {
		t.Errorf("healthy socket in --json: %+v", s)
	}
}
