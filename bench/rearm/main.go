// Command rearmbench measures re-arming keepalive timers (internal/rearm)
// on many live connections. Run it through bench/rearm/run, as root: it
// expects private network, mount and pid namespaces with a tmpfs on /run.
//
// Two scratch namespaces, c and s, joined by a veth pair: holder processes
// in c open N connections to servers in s with SO_KEEPALIVE on and no
// values of its own, under the new namespace's 7200/75/9 (one holder and
// one server per as many connections as the descriptor limit allows). Then c's
// sysctls go to 60/15/4, as tcpka apply or watch would set them, and for
// each method (BPF, then pidfd):
//
//   - before: sockets whose keepalive timer is due later than 60 s (what
//     ss -tno shows), and keepalive probes c sends in a window of W
//     seconds (TcpExt TCPKeepAlive in c's /proc/net/netstat);
//   - the re-arm, timed (the BPF time includes loading the program), and
//     a second pass on the same Rearmer, which finds nothing to do (what
//     watch --rearm costs each interval);
//   - after: the same two counts.
//
// Between methods the holders re-arm their sockets under 7200 s again
// (toggling SO_KEEPALIVE itself), so both methods start from the same
// stale timers. The server answers every probe, so each re-armed
// connection sends exactly one probe about 60 s after the re-arm.
package main

import (
	"bufio"
	"context"
	"flag"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/tcpka/tcpka/internal/netns"
	"github.com/tcpka/tcpka/internal/rearm"
	"github.com/tcpka/tcpka/internal/sockdiag"
	"golang.org/x/sys/unix"
)

// serverAddr is where server k listens: port 7000+k.
func serverAddr(k int) string { return fmt.Sprintf("10.10.0.2:%d", 7000+k) }

func main() {
	if len(os.Args) > 1 {
		switch os.Args[1] {
		case "serve":
			serve(os.Args[2])
			return
		case "hold":
			hold(os.Args[2], atoi(os.Args[3]))
			return
		}
	}
	conns := flag.Int("conns", 20000, "connections")
	window := flag.Duration("window", 75*time.Second, "how long to count probes, before and after")
	rounds := flag.Int("rounds", 5, "re-arms timed per method (the first one has the probe windows)")
	flag.Parse()
	if err := bench(*conns, *window, max(1, *rounds)); err != nil {
		fmt.Fprintln(os.Stderr, "rearmbench:", err)
		os.Exit(1)
	}
}

func atoi(s string) int {
	n, err := strconv.Atoi(s)
	if err != nil {
		panic(err)
	}
	return n
}

// served keeps the accepted connections referenced, so none is closed.
var served []net.Conn

// serve accepts and holds connections; the listener sets no keepalive.
func serve(addr string) {
	lc := net.ListenConfig{KeepAlive: -1}
	l, err := lc.Listen(context.Background(), "tcp4", addr)
	if err != nil {
		panic(err)
	}
	fmt.Println("ready")
	for {
		c, err := l.Accept()
		if err != nil {
			panic(err)
		}
		served = append(served, c)
	}
}

// hold opens n connections to addr with SO_KEEPALIVE on and nothing else,
// as an application following the sysctls does. On "restale" from stdin
// it toggles SO_KEEPALIVE on every one (re-arming them with whatever the
// sysctls are then) and says "done".
func hold(addr string, n int) {
	var fds []int
	var held []net.Conn
	d := net.Dialer{KeepAlive: -1}
	for i := 0; i < n; i++ {
		c, err := d.Dial("tcp4", addr)
		if err != nil {
			panic(fmt.Sprintf("connection %d: %v", i, err))
		}
		rc, _ := c.(*net.TCPConn).SyscallConn()
		_ = rc.Control(func(fd uintptr) {
			_ = unix.SetsockoptInt(int(fd), unix.SOL_SOCKET, unix.SO_KEEPALIVE, 1)
			fds = append(fds, int(fd))
		})
		held = append(held, c)
	}
	fmt.Println("ready")
	in := bufio.NewScanner(os.Stdin)
	for in.Scan() {
		if in.Text() == "restale" {
			for _, fd := range fds {
				_ = unix.SetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_KEEPALIVE, 0)
				_ = unix.SetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_KEEPALIVE, 1)
			}
			fmt.Println("done")
		}
	}
	runtime.KeepAlive(held)
}

// child runs this binary with args inside the named namespace and waits
// for its "ready" line.
type child struct {
	cmd   *exec.Cmd
	in    io.WriteCloser
	lines *bufio.Reader
}

func start(ns string, args ...string) (*child, error) {
	self, err := os.Executable()
	if err != nil {
		return nil, err
	}
	cmd := exec.Command("ip", append([]string{"netns", "exec", ns, self}, args...)...)
	cmd.Stderr = os.Stderr
	out, err := cmd.StdoutPipe()
	if err != nil {
		return nil, err
	}
	in, err := cmd.StdinPipe()
	if err != nil {
		return nil, err
	}
	if err := cmd.Start(); err != nil {
		return nil, err
	}
	c := &child{cmd: cmd, in: in, lines: bufio.NewReader(out)}
	if err := c.expect("ready"); err != nil {
		c.stop()
		return nil, fmt.Errorf("%v: %w", args, err)
	}
	return c, nil
}

func (c *child) expect(want string) error {
	line, err := c.lines.ReadString('\n')
	if err != nil || strings.TrimSpace(line) != want {
		return fmt.Errorf("want %q, got %q %v", want, line, err)
	}
	return nil
}

func (c *child) stop() { c.cmd.Process.Kill(); c.cmd.Wait() }

func ip(args ...string) error {
	if out, err := exec.Command("ip", args...).CombinedOutput(); err != nil {
		return fmt.Errorf("ip %s: %v: %s", strings.Join(args, " "), err, out)
	}
	return nil
}

// setSysctls writes c's three keepalive values from a thread inside c.
func setSysctls(ns *netns.NS, t, i, p int) error {
	return netns.Do(ns, func() error {
		for k, v := range map[string]int{"time": t, "intvl": i, "probes": p} {
			if err := os.WriteFile("/proc/sys/net/ipv4/tcp_keepalive_"+k, []byte(strconv.Itoa(v)), 0); err != nil {
				return err
			}
		}
		return nil
	})
}

// counter reads one counter of the namespace of process pid from
// /proc/PID/net/FILE (netstat or snmp: a line of names, a line of values).
func counter(pid int, file, group, name string) (int, error) {
	path := fmt.Sprintf("/proc/%d/net/%s", pid, file)
	b, err := os.ReadFile(path)
	if err != nil {
		return 0, err
	}
	lines := strings.Split(string(b), "\n")
	for i := 0; i+1 < len(lines); i++ {
		names, values := strings.Fields(lines[i]), strings.Fields(lines[i+1])
		if len(names) == 0 || names[0] != group+":" || len(values) != len(names) {
			continue
		}
		for j, n := range names {
			if n == name {
				return strconv.Atoi(values[j])
			}
		}
	}
	return 0, fmt.Errorf("no %s %s in %s", group, name, path)
}

// probes is what a window saw: keepalive probes c tried to send (TcpExt
// TCPKeepAlive counts every attempt, also one the local stack dropped and
// retries 500 ms later) and TCP segments s received (the probes that got
// there: nothing else moves on idle connections).
type probes struct{ sent, arrived int }

func (p probes) String() string { return fmt.Sprintf("%d / %d", p.sent, p.arrived) }

// late counts the established sockets in ns whose keepalive timer is due
// later than limit, and the latest due time.
func late(ns *netns.NS, limit time.Duration) (n int, latest time.Duration, err error) {
	err = netns.Do(ns, func() error {
		return sockdiag.Netlink{}.Each(1<<sockdiag.Established, func(s *sockdiag.Socket) error {
			if s.Timer != sockdiag.TimerKeepalive {
				return nil
			}
			d := time.Duration(s.Expires) * time.Millisecond
			if d > limit {
				n++
			}
			latest = max(latest, d)
			return nil
		})
	})
	return n, latest, err
}

type row struct {
	method                    rearm.Method
	res                       rearm.Result
	times                     []timing
	lateBefore, lateAfter     int
	latestBefore, latestAfter time.Duration
	probesBefore, probesAfter probes
	first, last               time.Duration // probes arriving after the re-arm
}

func bench(n int, window time.Duration, rounds int) error {
	for _, ns := range []string{"c", "s"} {
		if err := ip("netns", "add", ns); err != nil {
			return err
		}
		defer ip("netns", "del", ns)
		if err := ip("-n", ns, "link", "set", "lo", "up"); err != nil {
			return err
		}
	}
	for _, args := range [][]string{
		{"link", "add", "c0", "address", "02:00:00:00:00:01", "netns", "c", "type", "veth", "peer", "name", "s0", "address", "02:00:00:00:00:02", "netns", "s"},
		{"-n", "c", "addr", "add", "10.10.0.1/24", "dev", "c0"}, {"-n", "c", "link", "set", "c0", "up"},
		{"-n", "s", "addr", "add", "10.10.0.2/24", "dev", "s0"}, {"-n", "s", "link", "set", "s0", "up"},
		{"-n", "c", "neigh", "add", "10.10.0.2", "lladdr", "02:00:00:00:00:02", "dev", "c0", "nud", "permanent"},
		{"-n", "s", "neigh", "add", "10.10.0.1", "lladdr", "02:00:00:00:00:01", "dev", "s0", "nud", "permanent"},
	} {
		if err := ip(args...); err != nil {
			return err
		}
	}
	c, err := netns.Open("/run/netns/c")
	if err != nil {
		return err
	}
	defer c.Close()
	var lim unix.Rlimit
	if err := unix.Getrlimit(unix.RLIMIT_NOFILE, &lim); err != nil {
		return err
	}
	per := min(n, int(lim.Cur)-64)
	if per < 1000 {
		return fmt.Errorf("descriptor limit %d: too low (prlimit --nofile)", lim.Cur)
	}
	t0 := time.Now()
	var holders, servers []*child
	for k := 0; k*per < n; k++ {
		srv, err := start("s", "serve", serverAddr(k))
		if err != nil {
			return err
		}
		defer srv.stop()
		servers = append(servers, srv)
		h, err := start("c", "hold", serverAddr(k), strconv.Itoa(min(per, n-k*per)))
		if err != nil {
			return err
		}
		defer h.stop()
		holders = append(holders, h)
	}
	fmt.Printf("# %d connections with SO_KEEPALIVE under 7200/75/9 (%d holder/server pairs) in %.1f s; c's sysctls -> 60/15/4\n",
		n, len(holders), time.Since(t0).Seconds())
	const limit = 60 * time.Second
	if err := setSysctls(c, 60, 15, 4); err != nil {
		return err
	}
	// Every holder is in c, every server in s: any one's /proc/PID/net
	// shows its namespace's counters.
	cpid, spid := holders[0].cmd.Process.Pid, servers[0].cmd.Process.Pid
	read := func() (p probes, err error) {
		if p.sent, err = counter(cpid, "netstat", "TcpExt", "TCPKeepAlive"); err != nil {
			return p, err
		}
		p.arrived, err = counter(spid, "snmp", "Tcp", "InSegs")
		return p, err
	}
	// count watches a window of d from now, sampling every 100 ms, and
	// says when the first and the last probe arrived, from since.
	count := func(d time.Duration, since time.Time) (p probes, first, last time.Duration, err error) {
		p0, err := read()
		if err != nil {
			return p, 0, 0, err
		}
		prev := p0.arrived
		for end := time.Now().Add(d); time.Now().Before(end); {
			time.Sleep(100 * time.Millisecond)
			pn, err := read()
			if err != nil {
				return p, 0, 0, err
			}
			if pn.arrived != prev {
				if prev == p0.arrived {
					first = time.Since(since)
				}
				last, prev = time.Since(since), pn.arrived
			}
			p = probes{pn.sent - p0.sent, pn.arrived - p0.arrived}
		}
		return p, first, last, nil
	}
	// restale arms every timer under 7200 s again, as connect did.
	restale := func() error {
		if err := setSysctls(c, 7200, 75, 9); err != nil {
			return err
		}
		for _, h := range holders {
			fmt.Fprintln(h.in, "restale")
			if err := h.expect("done"); err != nil {
				return err
			}
		}
		return setSysctls(c, 60, 15, 4)
	}
	// pass re-arms c with a new Rearmer (the BPF time includes loading
	// the program), then runs a second pass that finds nothing to do; the
	// CPU times are the thread's, user and system.
	pass := func(m rearm.Method) (res rearm.Result, t timing, err error) {
		rr := rearm.New(rearm.Options{Method: m})
		defer rr.Close()
		err = netns.Do(c, func() (err error) {
			cpu0 := threadCPU()
			if res, err = rr.Namespace(context.Background()); err != nil {
				return err
			}
			cpu1 := threadCPU()
			noop, err := rr.Namespace(context.Background())
			t = timing{res.Took, cpu1 - cpu0, noop.Took, threadCPU() - cpu1}
			if err == nil && (res.Rearmed != n || noop.Rearmed != 0) {
				err = fmt.Errorf("re-armed %d, then %d; want %d, then 0", res.Rearmed, noop.Rearmed, n)
			}
			return err
		})
		return res, t, err
	}
	var rows []row
	for i, m := range []rearm.Method{rearm.BPF, rearm.Pidfd} {
		if i > 0 {
			if err := restale(); err != nil {
				return err
			}
		}
		r := row{method: m}
		if r.lateBefore, r.latestBefore, err = late(c, limit); err != nil {
			return err
		}
		fmt.Printf("# %s: counting probes for %v before the re-arm\n", m, window)
		if r.probesBefore, _, _, err = count(window, time.Now()); err != nil {
			return err
		}
		rearmed := time.Now()
		res, t, err := pass(m)
		if err != nil {
			return fmt.Errorf("%s: %w", m, err)
		}
		r.res, r.times = res, append(r.times, t)
		fmt.Printf("# %s: %+v\n", m, r.res)
		if r.lateAfter, r.latestAfter, err = late(c, limit); err != nil {
			return err
		}
		fmt.Printf("# %s: counting probes for %v after the re-arm\n", m, window)
		drops0 := backlogDrops()
		if r.probesAfter, r.first, r.last, err = count(window-time.Since(rearmed), rearmed); err != nil {
			return err
		}
		fmt.Printf("# %s: packets the kernel's per-CPU input backlogs dropped meanwhile (softnet_stat, whole machine): %d\n", m, backlogDrops()-drops0)
		for len(r.times) < rounds {
			if err := restale(); err != nil {
				return err
			}
			_, t, err := pass(m)
			if err != nil {
				return fmt.Errorf("%s: %w", m, err)
			}
			r.times = append(r.times, t)
		}
		rows = append(rows, r)
	}
	fmt.Printf("\n%d idle connections with SO_KEEPALIVE, armed under 7200/75/9, sysctls now 60/15/4. Times: median (range) of %d passes, wall and the thread's CPU; "+
		"probes: windows of %v before the re-arm and from it (sent: TcpExt TCPKeepAlive in c, every attempt; arrived: Tcp InSegs in s).\n\n", n, rounds, window)
	fmt.Println("| method | re-armed | re-arm, wall | CPU | pass with nothing to do, wall | CPU | timers due > 60 s, before → after | latest timer, before → after | probes sent / arrived, before | after | arrived after the re-arm |")
	fmt.Println("|---|---:|---:|---:|---:|---:|---|---|---|---|---|")
	for _, r := range rows {
		col := func(f func(timing) time.Duration) string {
			var xs []time.Duration
			for _, t := range r.times {
				xs = append(xs, f(t))
			}
			slices.Sort(xs)
			if len(xs) == 1 {
				return ms(xs[0])
			}
			return fmt.Sprintf("%s (%s–%s)", ms(xs[len(xs)/2]), ms(xs[0]), ms(xs[len(xs)-1]))
		}
		fmt.Printf("| %s | %d | %s | %s | %s | %s | %d → %d | %s → %s | %s | %s | %.1f–%.1f s |\n", r.method, r.res.Rearmed,
			col(func(t timing) time.Duration { return t.wall }), col(func(t timing) time.Duration { return t.cpu }),
			col(func(t timing) time.Duration { return t.noopWall }), col(func(t timing) time.Duration { return t.noopCPU }),
			r.lateBefore, r.lateAfter, r.latestBefore.Round(time.Second), r.latestAfter.Round(time.Second), r.probesBefore, r.probesAfter,
			r.first.Seconds(), r.last.Seconds())
	}
	return nil
}

// backlogDrops sums the second column of /proc/net/softnet_stat: packets
// dropped because a CPU's input backlog (netdev_max_backlog) was full,
// which is where a veth delivers. It counts for the whole machine.
func backlogDrops() int64 {
	b, err := os.ReadFile("/proc/net/softnet_stat")
	if err != nil {
		return 0
	}
	var n int64
	for _, line := range strings.Split(strings.TrimSpace(string(b)), "\n") {
		if f := strings.Fields(line); len(f) > 1 {
			v, _ := strconv.ParseInt(f[1], 16, 64)
			n += v
		}
	}
	return n
}

// timing is one re-arm and the pass after it.
type timing struct{ wall, cpu, noopWall, noopCPU time.Duration }

// threadCPU is the calling thread's user and system time.
func threadCPU() time.Duration {
	var ru unix.Rusage
	_ = unix.Getrusage(unix.RUSAGE_THREAD, &ru)
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

func ms(d time.Duration) string { return fmt.Sprintf("%.0f ms", d.Seconds()*1000) }
