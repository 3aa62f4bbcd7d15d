package sshcfg

import (
	"errors"
	"fmt"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/tcpka/tcpka/internal/keepalive"
	"github.com/tcpka/tcpka/internal/sockdiag"
)

func TestSSHDTitle(t *testing.T) {
	tests := []struct {
		title, user, role string
		ok                bool
	}{
		{"sshd: alice [priv]", "alice", "priv", true},
		{"sshd: alice@pts/0", "alice", "pts/0", true},
		{"sshd: alice@notty", "alice", "notty", true},
		{"sshd-session: alice [priv]", "alice", "priv", true}, // OpenSSH 9.8+
		{"sshd-session: alice@pts/3", "alice", "pts/3", true},
		{"sshd: alice [net]", "alice", "preauth", true},
		{"sshd: unknown [net]", "", "preauth", true},
		{"sshd: [accepted]", "", "preauth", true},
		{"sshd: /usr/sbin/sshd -D [listener] 0 of 10-100 startups", "", "listener", true},
		{"/usr/sbin/sshd -D", "", "", false},
		{"bash: alice@pts/0", "", "", false},
		{"sshd -D: x", "", "", false},
	}
	for _, tt := range tests {
		u, r, ok := sshdTitle(tt.title)
		if u != tt.user || r != tt.role || ok != tt.ok {
			t.Errorf("sshdTitle(%q) = %q, %q, %v; want %q, %q, %v", tt.title, u, r, ok, tt.user, tt.role, tt.ok)
		}
	}
}

func TestListenerAndSSHDArgs(t *testing.T) {
	tests := []struct {
		argv []string
		want []string
	}{
		{[]string{"sshd: /usr/sbin/sshd -D -e -f /tmp/x/sshd_config [listener] 0 of 10-100 startups"}, []string{"-f", "/tmp/x/sshd_config"}},
		{[]string{"sshd: /usr/sbin/sshd -D -oClientAliveInterval=5 -p 22 [listener] 1 of 10-100 startups"}, []string{"-o", "ClientAliveInterval=5"}},
		{[]string{"/usr/sbin/sshd", "-D", "-f", "/etc/ssh/alt", "-o", "Port=22"}, []string{"-f", "/etc/ssh/alt", "-o", "Port=22"}}, // argv kept
		{[]string{"sshd: /usr/sbin/sshd [listener] 0 of 10-100 startups"}, nil},
		{[]string{"sshd: alice [priv]"}, nil},
	}
	for _, tt := range tests {
		got := sshdConfigArgs(listenerArgs(&proc{argv: tt.argv}))
		if diff := cmp.Diff(tt.want, got); diff != "" {
			t.Errorf("%q: (-want +got):\n%s", tt.argv, diff)
		}
	}
}

func TestParseSSHArgv(t *testing.T) {
	tests := []struct {
		argv []string
		want sshClient
		ok   bool
	}{
		{[]string{"ssh", "host"}, sshClient{destination: "host"}, true},
		{[]string{"ssh", "-F", "cfg", "e2e", "echo ready; exec sleep 1000"}, sshClient{"e2e", []string{"-F", "cfg"}}, true},
		{[]string{"ssh", "-4vp2222", "-oServerAliveInterval=10", "-i", "key", "-L", "8080:x:80", "alice@h"},
			sshClient{"alice@h", []string{"-p", "2222", "-o", "ServerAliveInterval=10"}}, true},
		{[]string{"ssh", "h", "-l", "bob", "uptime"}, sshClient{"h", []string{"-l", "bob"}}, true}, // options after the host
		{[]string{"ssh", "-W", "[10.0.0.5]:22", "jump"}, sshClient{destination: "jump"}, true},     // ProxyJump's child
		{[]string{"ssh", "--", "-odd-host"}, sshClient{destination: "-odd-host"}, true},
		{[]string{"ssh", "-N"}, sshClient{}, false},
		{[]string{"ssh"}, sshClient{}, false},
	}
	for _, tt := range tests {
		got, ok := parseSSHArgv(tt.argv)
		if ok != tt.ok || diff(tt.want, got) != "" {
			t.Errorf("parseSSHArgv(%q) = %+v, %v; want %+v, %v", tt.argv, got, ok, tt.want, tt.ok)
		}
	}
}

func diff(a, b sshClient) string {
	return cmp.Diff(a, b, cmp.AllowUnexported(sshClient{}))
}

// fakeLister is a sock_diag dump.
type fakeLister []sockdiag.Socket

func (f fakeLister) Each(_ sockdiag.States, fn func(*sockdiag.Socket) error) error {
	for i := range f {
		if err := fn(&f[i]); err != nil {
			return err
		}
	}
	return nil
}

// fakeProcess writes /proc/PID as the kernel shows it.
func fakeProcess(t *testing.T, root string, pid, ppid, uid int, comm string, argv []string, fds map[int]uint32) {
	t.Helper()
	dir := filepath.Join(root, fmt.Sprint(pid))
	if err := os.MkdirAll(filepath.Join(dir, "fd"), 0o755); err != nil {
		t.Fatal(err)
	}
	files := map[string]string{
		"comm":     comm + "\n",
		"status":   fmt.Sprintf("Name:\t%s\nPPid:\t%d\nUid:\t%d\t%d\t%d\t%d\nGid:\t%d\t%d\t%d\t%d\n", comm, ppid, uid, uid, uid, uid, uid, uid, uid, uid),
		"cmdline":  strings.Join(argv, "\x00") + "\x00\x00\x00",
		"loginuid": "4294967295",
	}
	for name, text := range files {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(text), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	for fd, ino := range fds {
		if err := os.Symlink(fmt.Sprintf("socket:[%d]", ino), filepath.Join(dir, "fd", fmt.Sprint(fd))); err != nil {
			t.Fatal(err)
		}
	}
}

// TestSessionsFake: an sshd 9.8 layout (sshd-session) with a port forward,
// an ssh client with a local forward, a listener, and a process that is
// not ssh; read without root (no options, no sshd -T).
func TestSessionsFake(t *testing.T) {
	root := t.TempDir()
	fakeProcess(t, root, 100, 1, 0, "sshd", []string{"sshd: /usr/sbin/sshd -D [listener] 1 of 10-100 startups"}, map[int]uint32{3: 1})
	fakeProcess(t, root, 200, 100, 0, "sshd-session", []string{"sshd-session: alice [priv]"}, map[int]uint32{4: 10})
	fakeProcess(t, root, 201, 200, 1000, "sshd-session", []string{"sshd-session: alice@pts/0"}, map[int]uint32{4: 10, 9: 11}) // 11: a -L forward
	fakeProcess(t, root, 300, 1, 1000, "ssh", []string{"ssh", "-L", "8080:db:5432", "bob@db.example"}, map[int]uint32{3: 20, 5: 21})
	fakeProcess(t, root, 400, 1, 1000, "nginx", []string{"nginx"}, map[int]uint32{3: 30})
	est := func(ino uint32, local, peer string, timer sockdiag.Timer, retrans uint8) sockdiag.Socket {
		return sockdiag.Socket{Family: syscall.AF_INET, State: sockdiag.Established, Local: netip.MustParseAddrPort(local), Peer: netip.MustParseAddrPort(peer),
			Timer: timer, Retrans: retrans, Inode: ino}
	}
	dump := fakeLister{
		est(10, "10.0.0.1:22", "192.0.2.7:50000", sockdiag.TimerKeepalive, 0),
		est(11, "10.0.0.1:41000", "10.0.0.9:5432", sockdiag.TimerNone, 0),
		est(20, "10.0.0.1:40000", "198.51.100.3:22", sockdiag.TimerKeepalive, 2),
		est(21, "127.0.0.1:8080", "127.0.0.1:39000", sockdiag.TimerNone, 0),
		est(30, "10.0.0.1:443", "192.0.2.8:1", sockdiag.TimerNone, 0),
	}
	var ran []string
	sc := SessionScan{ProcRoot: root, Lister: dump, Sysctls: keepalive.Settings{Time: 7200, Intvl: 75, Probes: 9, Retries2: 15},
		runConfig: func(cred *syscall.Credential, bin string, args ...string) (Config, error) {
			ran = append(ran, bin+" "+strings.Join(args, " "))
			return Parse(strings.NewReader("user bob\nhostname 203.0.113.5\nport 22\nserveraliveinterval 30\nserveralivecountmax 3\ntcpkeepalive yes\n"))
		}}
	ss, err := sc.Sessions()
	if err != nil {
		t.Fatal(err)
	}
	type row struct {
		Side              Side
		PIDs              []int
		User, Destination string
		Inode             uint32
		EndsBy            Layer
		DetectS           int
		Dying             bool
	}
	var got []row
	for _, s := range ss {
		got = append(got, row{s.Side, s.PIDs, s.User, s.Destination, s.Socket.Inode, s.EndsBy, s.DetectS, s.Dying != nil})
	}
	want := []row{
		// without root: sshd -T is not run, so the SSH layer and what
		// ends the session are unknown.
		{Server, []int{200, 201}, "alice", "", 10, LayerUnknown, -1, false},
		// ssh -G as the same user: ServerAliveInterval 30 x (3+1).
		{Client, []int{300}, userName(1000), "bob@db.example", 20, LayerSSH, 120, true},
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("sessions (-want +got):\n%s", diff)
	}
	if len(ss) == 2 {
		if ss[0].ConfigNote == "" || ss[0].SSH != nil {
			t.Errorf("server without root: SSH %+v, note %q", ss[0].SSH, ss[0].ConfigNote)
		}
		if c := ss[1]; c.HostName != "203.0.113.5" || c.RemoteUser != "bob" || c.Dying.Why() != "2 keepalive probes unanswered" {
			t.Errorf("client: %+v", c)
		}
	}
	if diff := cmp.Diff([]string{"ssh -G -- bob@db.example"}, ran); diff != "" {
		t.Errorf("configs read (-want +got):\n%s", diff)
	}
}

func TestSessionsNothingToJudge(t *testing.T) {
	sc := SessionScan{ProcRoot: t.TempDir(), Lister: fakeLister{}, SSHBin: "/nonexistent/ssh", SSHDBin: "/nonexistent/sshd"}
	if _, err := sc.Sessions(); !errors.Is(err, ErrNoSSH) || !errors.Is(err, ErrUnreadable) {
		t.Errorf("no ssh, no sshd: %v, want ErrNoSSH (exit 3)", err)
	}
	sc = SessionScan{ProcRoot: t.TempDir(), Lister: fakeLister{}, SSHBin: "/bin/sh", SSHDBin: "/nonexistent/sshd"}
	if ss, err := sc.Sessions(); err != nil || len(ss) != 0 {
		t.Errorf("ssh installed, no session: %v, %v; want none and no error", ss, err)
	}
}

func TestServerUser(t *testing.T) {
	p := func(title string, uid, loginuid int) *proc {
		return &proc{argv: []string{title}, uid: uid, loginuid: loginuid}
	}
	tests := []struct {
		name    string
		holders []*proc
		want    string
	}{
		{"title", []*proc{p("sshd: alice [priv]", 0, -1), p("sshd: alice@pts/0", 1000, -1)}, "alice"},
		{"9.8 title", []*proc{p("sshd-session: bob [priv]", 0, -1)}, "bob"},
		// before authentication the child runs as the privsep user
		{"preauth", []*proc{p("sshd: [accepted]", 0, -1), p("sshd: unknown [net]", 101, -1)}, ""},
		{"uid of the session", []*proc{p("sshd -D", 0, -1), p("x", 1000, -1)}, userName(1000)},
		{"loginuid", []*proc{p("odd", 0, 0)}, "root"},
		{"nothing", []*proc{p("odd", 0, -1)}, ""},
	}
	for _, tt := range tests {
		if got := serverUser(tt.holders); got != tt.want {
			t.Errorf("%s: serverUser = %q, want %q", tt.name, got, tt.want)
		}
	}
}

// TestRelativeSSHConfig: ssh -F with a relative path is read from the
// ssh process's working directory, not tcpka's.
func TestRelativeSSHConfig(t *testing.T) {
	root := t.TempDir()
	fakeProcess(t, root, 300, 1, 0, "ssh", []string{"ssh", "-F", "cfg/ssh_config", "box"}, map[int]uint32{3: 20})
	if err := os.Symlink("/home/alice/work", filepath.Join(root, "300", "cwd")); err != nil {
		t.Fatal(err)
	}
	var ran string
	sc := SessionScan{ProcRoot: root, Lister: fakeLister{{Family: syscall.AF_INET, State: sockdiag.Established, Inode: 20,
		Local: netip.MustParseAddrPort("10.0.0.1:40000"), Peer: netip.MustParseAddrPort("10.0.0.2:22")}},
		runConfig: func(_ *syscall.Credential, bin string, args ...string) (Config, error) {
			ran = strings.Join(args, " ")
			return nil, errors.New("not run")
		}}
	ss, err := sc.Sessions()
	if err != nil || len(ss) != 1 {
		t.Fatalf("Sessions = %+v, %v", ss, err)
	}
	if want := "-F /home/alice/work/cfg/ssh_config -G -- box"; ran != want {
		t.Errorf("ran ssh %s, want ssh %s", ran, want)
	}
	if ss[0].EndsBy != LayerUnknown || !strings.Contains(ss[0].ConfigNote, "not run") {
		t.Errorf("config not read: ends by %s, note %q", ss[0].EndsBy, ss[0].ConfigNote)
	}
}
