// Package sshtest runs a real OpenSSH server and client for tests of live
// sessions: a throwaway host key, user key and configs in a temporary
// directory, sshd on a high loopback port, and a login user of the test's
// own (a private /etc/passwd, bind-mounted). It must run inside private
// mount, pid and network namespaces (nstest.Private): it mounts over /etc/passwd
// and needs /run/sshd, and nothing it does may reach the host.
package sshtest

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// User is the login user sshtest adds: not root, so a test can tell the
// logged-in user from the uid of sshd's privileged process.
const (
	User = "tcpkatest"
	UID  = 4242
)

// Options configure the server and the client's Host block.
type Options struct {
	Port int // sshd's port on 127.0.0.1 (default 2222)
	// ServerLines and ClientLines are added to sshd_config and to the
	// client's "Host e2e" block (keepalive settings).
	ServerLines, ClientLines []string
}

// Server is a running sshd and what connects to it.
type Server struct {
	Dir  string // its keys, configs and logs
	Port int
	// ClientConfig is the client's config file: ssh -F ClientConfig e2e.
	ClientConfig string
	ServerConfig string
	cmd          *exec.Cmd
}

// Need skips the test when a program sshtest runs is missing.
func Need(t *testing.T) {
	t.Helper()
	for _, p := range []string{"ssh", "ssh-keygen"} {
		if _, err := exec.LookPath(p); err != nil {
			t.Skipf("needs %s (openssh-client)", p)
		}
	}
	if _, err := os.Stat("/usr/sbin/sshd"); err != nil {
		t.Skip("needs /usr/sbin/sshd (openssh-server): apt-get install openssh-server (.ci/run does in CI)")
	}
}

// Start brings lo up, adds User, writes keys and configs and starts sshd,
// waiting until it listens. Everything stops at cleanup.
func Start(t *testing.T, o Options) *Server {
	t.Helper()
	Need(t)
	if o.Port == 0 {
		o.Port = 2222
	}
	run(t, "ip", "link", "set", "lo", "up")
	dir := t.TempDir()
	// sshd reads authorized_keys as the user: the temporary directory and
	// its parent (0700 from t.TempDir) must let User through.
	for _, d := range []string{filepath.Dir(dir), dir} {
		if err := os.Chmod(d, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	home := filepath.Join(dir, "home")
	if err := os.Mkdir(home, 0o755); err != nil {
		t.Fatal(err)
	}
	addUser(t, dir, home)
	for _, k := range []string{"hostkey", "userkey"} {
		run(t, "ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", filepath.Join(dir, k))
	}
	pub, err := os.ReadFile(filepath.Join(dir, "userkey.pub"))
	if err != nil {
		t.Fatal(err)
	}
	write(t, filepath.Join(dir, "authorized_keys"), string(pub))
	if err := os.Chmod(filepath.Join(dir, "authorized_keys"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.MkdirAll("/run/sshd", 0o755); err != nil {
		t.Fatal(err)
	}
	s := &Server{Dir: dir, Port: o.Port, ClientConfig: filepath.Join(dir, "ssh_config"), ServerConfig: filepath.Join(dir, "sshd_config")}
	write(t, s.ServerConfig, fmt.Sprintf(`%s
ListenAddress 127.0.0.1:%d
HostKey %s/hostkey
AuthorizedKeysFile %s/authorized_keys
PidFile none
UsePAM no
StrictModes no
PermitRootLogin prohibit-password
`, strings.Join(o.ServerLines, "\n"), o.Port, dir, dir))
	write(t, s.ClientConfig, fmt.Sprintf(`Host e2e
    %s
    HostName 127.0.0.1
    Port %d
    User %s
    IdentityFile %s/userkey
    StrictHostKeyChecking no
    UserKnownHostsFile /dev/null
    BatchMode yes
    LogLevel ERROR
`, strings.Join(o.ClientLines, "\n    "), o.Port, User, dir))

	log, err := os.Create(filepath.Join(dir, "sshd.log"))
	if err != nil {
		t.Fatal(err)
	}
	s.cmd = exec.Command("/usr/sbin/sshd", "-D", "-e", "-f", s.ServerConfig)
	s.cmd.Stdout, s.cmd.Stderr = log, log
	if err := s.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		s.cmd.Process.Kill()
		s.cmd.Wait()
		log.Close()
	})
	for i := 0; ; i++ {
		if out, _ := exec.Command("ss", "-ltnH", "sport = :"+strconv.Itoa(o.Port)).Output(); strings.Contains(string(out), "LISTEN") {
			break
		}
		if i == 100 {
			t.Fatalf("sshd does not listen on %d:\n%s", o.Port, s.Log())
		}
		time.Sleep(50 * time.Millisecond)
	}
	return s
}

// Log is sshd's log so far.
func (s *Server) Log() string {
	b, _ := os.ReadFile(filepath.Join(s.Dir, "sshd.log"))
	return string(b)
}

// addUser bind-mounts a copy of /etc/passwd with User added over the real
// one, in the test's private mount namespace.
func addUser(t *testing.T, dir, home string) {
	t.Helper()
	b, err := os.ReadFile("/etc/passwd")
	if err != nil {
		t.Fatal(err)
	}
	passwd := filepath.Join(dir, "passwd")
	write(t, passwd, string(b)+fmt.Sprintf("%s:x:%d:%d:tcpka test:%s:/bin/sh\n", User, UID, UID, home))
	if err := os.Chmod(passwd, 0o644); err != nil {
		t.Fatal(err)
	}
	if err := unix.Mount(passwd, "/etc/passwd", "", unix.MS_BIND, ""); err != nil {
		t.Fatalf("bind-mount a private /etc/passwd (needs a private mount namespace): %v", err)
	}
	t.Cleanup(func() { unix.Unmount("/etc/passwd", unix.MNT_DETACH) })
}

// Client is a running ssh session.
type Client struct {
	Cmd  *exec.Cmd
	done chan error
	err  error
}

// Connect runs ssh -F ClientConfig e2e with a remote command that says
// "ready" and then sleeps, and waits for "ready": the session is up.
func (s *Server) Connect(t *testing.T) *Client {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	cmd := exec.CommandContext(ctx, "ssh", "-F", s.ClientConfig, "e2e", "echo ready; exec sleep 1000")
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	var stderr strings.Builder
	cmd.Stderr = &stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	c := &Client{Cmd: cmd, done: make(chan error, 1)}
	ready := make(chan string, 1)
	go func() {
		line, _ := bufio.NewReader(stdout).ReadString('\n')
		ready <- line
		io.Copy(io.Discard, stdout)
		c.done <- cmd.Wait()
	}()
	t.Cleanup(func() {
		cancel()
		c.Wait(5 * time.Second)
	})
	select {
	case line := <-ready:
		if line != "ready\n" {
			t.Fatalf("ssh: %q, stderr %s\nsshd log:\n%s", line, stderr.String(), s.Log())
		}
	case <-time.After(15 * time.Second):
		t.Fatalf("ssh did not log in within 15 s: %s\nsshd log:\n%s", stderr.String(), s.Log())
	}
	return c
}

// Wait waits up to d for ssh to exit; exited is false if it still runs.
func (c *Client) Wait(d time.Duration) (exited bool, err error) {
	if c.done == nil {
		return true, c.err
	}
	select {
	case c.err = <-c.done:
		c.done = nil
		return true, c.err
	case <-time.After(d):
		return false, nil
	}
}

// Cut drops every TCP packet to and from port on loopback with nft (no
// RST: the peer simply falls silent), for the rest of the test.
func Cut(t *testing.T, port int) {
	t.Helper()
	if _, err := exec.LookPath("nft"); err != nil {
		t.Skip("needs nft (nftables) to cut the peer")
	}
	p := strconv.Itoa(port)
	f := filepath.Join(t.TempDir(), "cut.nft")
	write(t, f, `table inet tcpka-cut {
	chain out {
		type filter hook output priority 0; policy accept;
		tcp dport `+p+` drop
		tcp sport `+p+` drop
	}
}
`)
	run(t, "nft", "-f", f)
}

func run(t *testing.T, name string, args ...string) {
	t.Helper()
	if out, err := exec.Command(name, args...).CombinedOutput(); err != nil {
		t.Fatalf("%s %s: %v\n%s", name, strings.Join(args, " "), err, out)
	}
}

func write(t *testing.T, path, text string) {
	t.Helper()
	if err := os.WriteFile(path, []byte(text), 0o600); err != nil {
		t.Fatal(err)
	}
}
