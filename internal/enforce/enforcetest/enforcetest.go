// Package enforcetest gives root tests of tcpka enforce what they need and
// cleans it all up: a scratch network namespace (the test binary re-runs
// itself under unshare -n), a test cgroup with "tcpka" in its name under
// the cgroup2 mount, a private bpffs mount, and child processes that hold
// TCP connections inside or outside the cgroup.
package enforcetest

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/tcpka/tcpka/internal/testkit"
	"golang.org/x/sys/unix"
)

const netnsEnv = "TCPKA_TEST_IN_NETNS"

// InScratchNetns re-runs the calling test in a new network namespace
// (unshare -n) and returns false in the parent, which only reports; inside,
// it brings up lo and returns true. Skips unless root.
func InScratchNetns(t *testing.T) bool {
	testkit.Slow(t, "re-runs the test in a scratch network namespace")
	t.Helper()
	if os.Geteuid() != 0 {
		t.Skip("needs root: scratch network namespace, cgroup and BPF")
	}
	for _, tool := range []string{"unshare", "ip"} {
		if _, err := exec.LookPath(tool); err != nil {
			t.Skipf("needs %s (util-linux, iproute2)", tool)
		}
	}
	if os.Getenv(netnsEnv) == "1" {
		if out, err := exec.Command("ip", "link", "set", "lo", "up").CombinedOutput(); err != nil {
			t.Fatalf("ip link set lo up: %v: %s", err, out)
		}
		return true
	}
	cmd := exec.Command("unshare", "-n", os.Args[0], "-test.run=^"+t.Name()+"$", "-test.v", "-test.count=1")
	cmd.Env = append(os.Environ(), netnsEnv+"=1")
	out, err := cmd.CombinedOutput()
	t.Logf("in a scratch netns:\n%s", out)
	if err != nil {
		t.Fatalf("test in scratch netns failed: %v", err)
	}
	if strings.Contains(string(out), "--- SKIP") {
		t.Skip("skipped in the scratch netns (see log)")
	}
	return false
}

// Cgroup2Mount is the cgroup2 mount point, or a skip.
func Cgroup2Mount(t *testing.T) string {
	t.Helper()
	b, err := os.ReadFile("/proc/self/mountinfo")
	if err != nil {
		t.Fatal(err)
	}
	for _, line := range strings.Split(string(b), "\n") {
		f := strings.Fields(line)
		for i, x := range f {
			if x == "-" && i+1 < len(f) && f[i+1] == "cgroup2" {
				return f[4]
			}
		}
	}
	t.Skip("no cgroup2 mount on this machine")
	return ""
}

// Cgroup creates a test cgroup "tcpka-test-PID-N" directly under the
// cgroup2 mount and removes it at cleanup, after killing what is left in it.
func Cgroup(t *testing.T) string {
	t.Helper()
	mp := Cgroup2Mount(t)
	dir := filepath.Join(mp, fmt.Sprintf("tcpka-test-%d-%d", os.Getpid(), time.Now().UnixNano()%1e6))
	if err := os.Mkdir(dir, 0o755); err != nil {
		t.Fatalf("make test cgroup: %v", err)
	}
	t.Cleanup(func() {
		for i := 0; i < 50; i++ {
			b, _ := os.ReadFile(filepath.Join(dir, "cgroup.procs"))
			for _, f := range strings.Fields(string(b)) {
				if pid, err := strconv.Atoi(f); err == nil {
					_ = unix.Kill(pid, unix.SIGKILL)
				}
			}
			if err := os.Remove(dir); err == nil || os.IsNotExist(err) {
				return
			}
			time.Sleep(20 * time.Millisecond)
		}
		t.Errorf("could not remove test cgroup %s", dir)
	})
	return dir
}

// BPFFS mounts a private bpffs on a temporary directory and unmounts it at
// cleanup; the test fails if a pin was left below its tcpka directory.
func BPFFS(t *testing.T) string {
	t.Helper()
	dir, err := os.MkdirTemp("", "tcpka-bpffs-")
	if err != nil {
		t.Fatal(err)
	}
	if err := unix.Mount("bpf", dir, "bpf", 0, "mode=0700"); err != nil {
		os.Remove(dir)
		t.Skipf("cannot mount bpffs: %v", err)
	}
	t.Cleanup(func() {
		var left []string
		_ = filepath.WalkDir(filepath.Join(dir, "tcpka"), func(p string, d os.DirEntry, err error) error {
			if err == nil && !d.IsDir() {
				left = append(left, p)
			}
			return nil
		})
		if len(left) > 0 {
			t.Errorf("pins left behind: %v", left)
			for _, p := range left {
				os.Remove(p)
			}
		}
		if err := unix.Unmount(dir, 0); err != nil {
			t.Errorf("unmount bpffs %s: %v", dir, err)
		}
		os.RemoveAll(dir)
	})
	return dir
}

// HelperEnv selects the child role in TestMain (see RunHelper).
const HelperEnv = "TCPKA_ENFORCE_HELPER"

// Child is a helper process holding TCP connections.
type Child struct {
	Cmd   *exec.Cmd
	Lines *bufio.Scanner
	stdin io.WriteCloser
}

// Pid is the child's pid.
func (c *Child) Pid() int { return c.Cmd.Process.Pid }

// Next returns the child's next stdout line (fails the test on EOF).
func (c *Child) Next(t *testing.T) string {
	t.Helper()
	if !c.Lines.Scan() {
		t.Fatalf("helper %d ended: %v", c.Pid(), c.Lines.Err())
	}
	return c.Lines.Text()
}

// Send writes a line to the child's stdin.
func (c *Child) Send(t *testing.T, line string) {
	t.Helper()
	if _, err := io.WriteString(c.stdin, line+"\n"); err != nil {
		t.Fatalf("helper %d: %v", c.Pid(), err)
	}
}

// Start runs this test binary as a helper (RunHelper) with args, inside the
// cgroup dir when cgroup is not "" (CLONE_INTO_CGROUP, so every socket it
// makes belongs to that cgroup). The child is killed at cleanup.
func Start(t *testing.T, cgroup string, args ...string) *Child {
	t.Helper()
	return start(t, cgroup, exec.Command(os.Args[0], args...))
}

// StartInNetns runs the helper in a network namespace of its own (unshare
// -n), after bringing up lo and running the shell commands setup there
// (e.g. writing that namespace's sysctls).
func StartInNetns(t *testing.T, setup string, args ...string) *Child {
	t.Helper()
	script := `ip link set lo up && ` + setup + ` && exec "$0" "$@"`
	c := start(t, "", exec.Command("unshare", append([]string{"-n", "sh", "-c", script, os.Args[0]}, args...)...))
	// The caller names the child's namespace by its pid (ip link ... netns
	// PID): wait until unshare(2) has really moved it, or a veth meant for
	// it lands in this namespace.
	self, err := os.Readlink("/proc/self/ns/net")
	if err != nil {
		t.Fatal(err)
	}
	for deadline := time.Now().Add(5 * time.Second); ; time.Sleep(5 * time.Millisecond) {
		if ns, err := os.Readlink(fmt.Sprintf("/proc/%d/ns/net", c.Pid())); err == nil && ns != self {
			return c
		}
		if time.Now().After(deadline) {
			t.Fatalf("child %d did not enter a network namespace of its own within 5 s", c.Pid())
		}
	}
}

func start(t *testing.T, cgroup string, cmd *exec.Cmd) *Child {
	t.Helper()
	cmd.Env = append(os.Environ(), HelperEnv+"=1")
	cmd.Stderr = os.Stderr
	if cgroup != "" {
		f, err := os.Open(cgroup)
		if err != nil {
			t.Fatal(err)
		}
		defer f.Close()
		cmd.SysProcAttr = &syscall.SysProcAttr{UseCgroupFD: true, CgroupFD: int(f.Fd())}
	}
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	in, err := cmd.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatalf("start helper: %v", err)
	}
	t.Cleanup(func() {
		_ = cmd.Process.Kill()
		_ = cmd.Wait()
	})
	return &Child{Cmd: cmd, Lines: bufio.NewScanner(out), stdin: in}
}

// RunHelper is the child's side; call it from TestMain when HelperEnv is
// set. Commands, one per argument:
//
//	dial:ADDR      connect without keepalive (the program never sets
//	               SO_KEEPALIVE); prints "fd N"; ADDR "L" is the last listener
//	dialka:ADDR    connect and set SO_KEEPALIVE with the sysctls' values
//	dialown:ADDR   connect with SO_KEEPALIVE and its own 60/10/5
//	dialut:ADDR    connect with SO_KEEPALIVE, its own 11/7/5 and
//	               TCP_USER_TIMEOUT 30 s
//	listen:ADDR    listen; prints "listen fd N ADDR"
//	accept         accept one connection on the last listener; prints "fd N"
//	udp            open a UDP socket; prints "udp fd N"
//
// Then it serves stdin: "ping" writes a byte on every connection, then
// reads one from each (an echo server or a peer in this process sends it
// back), printing "pong N" with the number that worked; "wait" blocks reading the first
// connection and prints "err ERRNO MS" (ms since it connected) when the
// read fails.
func RunHelper() {
	var conns []*net.TCPConn
	var since []time.Time
	var ln *net.TCPListener
	out := bufio.NewWriter(os.Stdout)
	say := func(format string, args ...any) {
		fmt.Fprintf(out, format+"\n", args...)
		out.Flush()
	}
	fail := func(err error) {
		fmt.Fprintln(os.Stderr, "helper:", err)
		os.Exit(3)
	}
	fdOf := func(c syscall.Conn) int {
		rc, err := c.SyscallConn()
		if err != nil {
			fail(err)
		}
		var fd int
		_ = rc.Control(func(f uintptr) { fd = int(f) })
		return fd
	}
	for _, arg := range os.Args[1:] {
		verb, addr, _ := strings.Cut(arg, ":")
		if verb == "dial" || verb == "dialka" || verb == "dialown" || verb == "dialut" {
			addr = arg[len(verb)+1:]
			if addr == "L" {
				addr = ln.Addr().String()
			}
		}
		switch verb {
		case "dial", "dialka", "dialown", "dialut":
			d := net.Dialer{KeepAlive: -1}
			c, err := d.Dial("tcp", addr)
			if err != nil {
				fail(err)
			}
			tc := c.(*net.TCPConn)
			fd := fdOf(tc)
			switch verb {
			case "dialka":
				_ = unix.SetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_KEEPALIVE, 1)
			case "dialown":
				_ = unix.SetsockoptInt(fd, unix.IPPROTO_TCP, unix.TCP_KEEPIDLE, 60)
				_ = unix.SetsockoptInt(fd, unix.IPPROTO_TCP, unix.TCP_KEEPINTVL, 10)
				_ = unix.SetsockoptInt(fd, unix.IPPROTO_TCP, unix.TCP_KEEPCNT, 5)
				_ = unix.SetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_KEEPALIVE, 1)
			case "dialut": // own 11/7/5 and TCP_USER_TIMEOUT 30 s
				_ = unix.SetsockoptInt(fd, unix.IPPROTO_TCP, unix.TCP_KEEPIDLE, 11)
				_ = unix.SetsockoptInt(fd, unix.IPPROTO_TCP, unix.TCP_KEEPINTVL, 7)
				_ = unix.SetsockoptInt(fd, unix.IPPROTO_TCP, unix.TCP_KEEPCNT, 5)
				_ = unix.SetsockoptInt(fd, unix.IPPROTO_TCP, unix.TCP_USER_TIMEOUT, 30000)
				_ = unix.SetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_KEEPALIVE, 1)
			}
			conns = append(conns, tc)
			since = append(since, time.Now())
			say("fd %d", fd)
		case "listen":
			lc := net.ListenConfig{KeepAlive: -1}
			l, err := lc.Listen(context.Background(), "tcp", arg[len("listen:"):])
			if err != nil {
				fail(err)
			}
			ln = l.(*net.TCPListener)
			say("listen fd %d %s", fdOf(ln), ln.Addr())
		case "accept":
			c, err := ln.AcceptTCP()
			if err != nil {
				fail(err)
			}
			conns = append(conns, c)
			since = append(since, time.Now())
			say("fd %d", fdOf(c))
		case "udp":
			u, err := net.ListenPacket("udp", "127.0.0.1:0")
			if err != nil {
				fail(err)
			}
			defer u.Close()
			say("udp fd %d", fdOf(u.(*net.UDPConn)))
		default:
			fail(fmt.Errorf("unknown helper command %q", arg))
		}
	}
	in := bufio.NewScanner(os.Stdin)
	for in.Scan() {
		switch in.Text() {
		case "ping":
			n := 0
			buf := make([]byte, 1)
			for _, c := range conns {
				_, _ = c.Write([]byte{'x'})
			}
			for _, c := range conns {
				_ = c.SetReadDeadline(time.Now().Add(5 * time.Second))
				if _, err := io.ReadFull(c, buf); err == nil {
					n++
				}
				_ = c.SetReadDeadline(time.Time{})
			}
			say("pong %d", n)
		case "wait":
			buf := make([]byte, 1)
			_, err := conns[0].Read(buf)
			ms := time.Since(since[0]).Milliseconds()
			var errno syscall.Errno
			code := -1
			if e, ok := err.(*net.OpError); ok {
				if se, ok := e.Err.(*os.SyscallError); ok {
					if en, ok := se.Err.(syscall.Errno); ok {
						errno = en
						code = int(errno)
					}
				}
			}
			say("err %d %d %v", code, ms, err)
		}
	}
}

// Echo runs a TCP echo server on a loopback listener in this process and
// returns its address; it stops at cleanup.
func Echo(t *testing.T) string {
	t.Helper()
	lc := net.ListenConfig{KeepAlive: -1}
	l, err := lc.Listen(context.Background(), "tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { l.Close() })
	go func() {
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			go func() { _, _ = io.Copy(c, c); c.Close() }()
		}
	}()
	return l.Addr().String()
}
