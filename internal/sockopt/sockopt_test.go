package sockopt

import (
	"bufio"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/tcpka/tcpka/internal/keepalive"
	"github.com/tcpka/tcpka/internal/testkit"
	"golang.org/x/sys/unix"
)

// TestMain turns this test binary into a child that holds a TCP socket with
// known options when SOCKOPT_CHILD names an address to dial.
func TestMain(m *testing.M) {
	if addr := os.Getenv("SOCKOPT_CHILD"); addr != "" {
		os.Exit(child(addr))
	}
	os.Exit(m.Run())
}

// child dials addr, sets 11/7/5 and a 3000 ms user timeout, prints the
// socket's fd and waits for stdin to close.
func child(addr string) int {
	c, err := net.Dial("tcp", addr)
	if err != nil {
		fmt.Println("error", err)
		return 1
	}
	fd := rawFD(c.(*net.TCPConn))
	if err := Set(fd, opts(true, 11, 7, 5, 3000)); err != nil {
		fmt.Println("error", err)
		return 1
	}
	fmt.Println(fd)
	_, _ = bufio.NewReader(os.Stdin).ReadString('\n')
	c.Close()
	return 0
}

// rawFD is the descriptor behind c; c must stay referenced while it is used.
func rawFD(c *net.TCPConn) int {
	rc, err := c.SyscallConn()
	if err != nil {
		panic(err)
	}
	var fd int
	_ = rc.Control(func(f uintptr) { fd = int(f) })
	return fd
}

func sysctl(t *testing.T, name string) int {
	t.Helper()
	b, err := os.ReadFile("/proc/sys/net/ipv4/" + name)
	if err != nil {
		t.Fatal(err)
	}
	n, err := strconv.Atoi(strings.TrimSpace(string(b)))
	if err != nil {
		t.Fatal(err)
	}
	return n
}

// pair returns both ends of a loopback TCP connection.
func pair(t *testing.T) (client, server *net.TCPConn) {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	d := net.Dialer{KeepAlive: -1} // Go's default would set 15/15/9
	c, err := d.Dial("tcp", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	s, err := ln.Accept()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close(); s.Close() })
	return c.(*net.TCPConn), s.(*net.TCPConn)
}

func TestGetSetOwnSocket(t *testing.T) {
	c, _ := pair(t)
	fd := rawFD(c)
	sys := opts(false, sysctl(t, "tcp_keepalive_time"), sysctl(t, "tcp_keepalive_intvl"), sysctl(t, "tcp_keepalive_probes"), 0)

	got, err := Get(fd)
	if err != nil {
		t.Fatal(err)
	}
	if got != sys {
		t.Errorf("fresh socket: Get = %+v, want keepalive off with the sysctls %+v", got, sys)
	}

	// keepalive on, nothing else: still the sysctl values.
	if err := Set(fd, opts(true, 0, 0, 0, 0)); err != nil {
		t.Fatal(err)
	}
	want := sys
	want.On = true
	if got, _ := Get(fd); got != want {
		t.Errorf("after Set(keepalive): Get = %+v, want %+v", got, want)
	}

	want = opts(true, 11, 7, 5, 2500)
	if err := Set(fd, want); err != nil {
		t.Fatal(err)
	}
	if got, _ := Get(fd); got != want {
		t.Errorf("after Set(%+v): Get = %+v", want, got)
	}

	// zero fields are left alone; On false turns keepalive off.
	if err := Set(fd, opts(false, 30, 0, 0, 0)); err != nil {
		t.Fatal(err)
	}
	want = opts(false, 30, 7, 5, 2500)
	if got, _ := Get(fd); got != want {
		t.Errorf("after Set(idle 30): Get = %+v, want %+v", got, want)
	}
}

func TestSetInvalid(t *testing.T) {
	c, _ := pair(t)
	fd := rawFD(c)
	before, _ := Get(fd)
	for _, o := range []Options{
		opts(true, 32768, 0, 0, 0),
		opts(true, 0, -1, 0, 0),
		opts(true, 0, 0, 128, 0),
		opts(true, 5, 0, 0, -5),
	} {
		if err := Set(fd, o); !errors.Is(err, ErrInvalid) {
			t.Errorf("Set(%+v) = %v, want ErrInvalid", o, err)
		}
	}
	if after, _ := Get(fd); after != before {
		t.Errorf("invalid Set changed the socket: %+v -> %+v", before, after)
	}
}

func TestNotSocket(t *testing.T) {
	f, err := os.Open("/dev/null")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if _, err := Get(int(f.Fd())); !errors.Is(err, ErrNotSocket) {
		t.Errorf("Get(/dev/null) = %v, want ErrNotSocket", err)
	}
	if err := Set(int(f.Fd()), opts(true, 0, 0, 0, 0)); !errors.Is(err, ErrNotSocket) {
		t.Errorf("Set(/dev/null) = %v, want ErrNotSocket", err)
	}
}

func TestNotTCP(t *testing.T) {
	c, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	rc, _ := c.(*net.UDPConn).SyscallConn()
	var gerr error
	_ = rc.Control(func(fd uintptr) { _, gerr = Get(int(fd)) })
	if !errors.Is(gerr, ErrNotTCP) {
		t.Errorf("Get(udp) = %v, want ErrNotTCP", gerr)
	}
}

func TestClassify(t *testing.T) {
	tests := []struct {
		in   error
		want error
	}{
		{unix.ESRCH, ErrProcessGone},
		{unix.EPERM, ErrNotPermitted},
		{unix.EACCES, ErrNotPermitted},
		{unix.EBADF, ErrNoSuchFD},
		{unix.ENOTSOCK, ErrNotSocket},
		{unix.ENOPROTOOPT, ErrNotTCP},
		{unix.EOPNOTSUPP, ErrNotTCP},
	}
	for _, tt := range tests {
		if got := classify(tt.in); !errors.Is(got, tt.want) {
			t.Errorf("classify(%v) = %v, want %v", tt.in, got, tt.want)
		}
	}
	if got := classify(unix.EINVAL); got != unix.EINVAL {
		t.Errorf("classify(EINVAL) = %v, want the errno unchanged", got)
	}
}

func needRoot(t *testing.T) {
	t.Helper()
	testkit.NeedRoot(t, "pidfd_getfd needs ptrace rights over the child")
}

// TestChildSocket reads and changes a socket held by another process.
func TestChildSocket(t *testing.T) {
	needRoot(t)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), "SOCKOPT_CHILD="+ln.Addr().String())
	stdin, _ := cmd.StdinPipe()
	stdout, _ := cmd.StdoutPipe()
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() { stdin.Close(); cmd.Wait() }()
	line, err := bufio.NewReader(stdout).ReadString('\n')
	if err != nil {
		t.Fatal(err)
	}
	childFD, err := strconv.Atoi(strings.TrimSpace(line))
	if err != nil {
		t.Fatalf("child said %q", line)
	}

	dup, err := Dup(cmd.Process.Pid, childFD)
	if err != nil {
		t.Fatal(err)
	}
	got, err := Get(dup)
	if err != nil {
		t.Fatal(err)
	}
	want := opts(true, 11, 7, 5, 3000)
	if got != want {
		t.Errorf("child's socket: Get = %+v, want %+v", got, want)
	}
	// Set through the duplicate changes the child's socket; read it back
	// through a second, fresh duplicate.
	if err := Set(dup, opts(true, 20, 4, 3, 0)); err != nil {
		t.Fatal(err)
	}
	unix.Close(dup)
	dup2, err := Dup(cmd.Process.Pid, childFD)
	if err != nil {
		t.Fatal(err)
	}
	defer unix.Close(dup2)
	want = opts(true, 20, 4, 3, 3000)
	if got, _ := Get(dup2); got != want {
		t.Errorf("after Set through a duplicate: child's socket = %+v, want %+v", got, want)
	}

	// An fd the child does not have.
	if _, err := Dup(cmd.Process.Pid, 900); !errors.Is(err, ErrNoSuchFD) {
		t.Errorf("Dup(child, 900) = %v, want ErrNoSuchFD", err)
	}
}

func TestProcessGone(t *testing.T) {
	cmd := exec.Command("/bin/true")
	if err := cmd.Run(); err != nil {
		t.Skip("no /bin/true:", err)
	}
	if _, err := PidfdOpen(cmd.Process.Pid); !errors.Is(err, ErrProcessGone) {
		t.Errorf("PidfdOpen(reaped pid) = %v, want ErrProcessGone", err)
	}
}

// opts builds Options the way the kernel reports them.
func opts(on bool, idle, intvl, cnt, userTimeoutMs int) Options {
	return Options{On: on, Settings: keepalive.Settings{Time: idle, Intvl: intvl, Probes: cnt, UserTimeout: time.Duration(userTimeoutMs) * time.Millisecond}}
}
