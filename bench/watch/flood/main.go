// Command floodbench measures tcpka watch under a flood of idle TCP
// connections. Run it through bench/watch/flood/run, which puts
// it in private network, mount and pid namespaces with a tmpfs on /run:
// the sysctls it drifts are the scratch namespace's.
//
// It starts `tcpka watch fast-failover --interval 1s --listen ADDR` under
// prlimit --nofile=1024, then measures twice, without and with the flood:
// drift correction latency (tcp_keepalive_time written behind watch's back
// once a second, the file polled every millisecond until the profile's
// value is back; and, from watch's log, how long after its tick each
// correction came), watch's VmRSS, VmHWM and open descriptors, /healthz
// on --listen (a new connection each time, 10 s timeout) and on
// --health-listen (once a round, 1 s timeout, as a kubelet probes). The flood is -conns
// connections that send nothing; one that watch closes is opened again
// -reopen later (1 s), so the flood stays; and -slow clients on each listener that send a
// request header one byte every 100 ms and never finish it, reopened
// whenever watch closes them. In each phase it then asks, one at a time,
// -samples times each: /healthz and /metrics on --listen (10 s timeout)
// and /healthz on --health-listen (1 s timeout), and prints p50/p99/max.
//
// Between the two phases, it holds -sockets loopback sockets in the
// namespace (bench/sockets/holder, -holder) for each size and times
// /metrics on --listen and the `tcpka metrics` command at each.
package main

import (
	"bufio"
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"net/http"
	"os"
	"os/exec"
	"sort"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"golang.org/x/sys/unix"
)

const (
	timeKey  = "/proc/sys/net/ipv4/tcp_keepalive_time"
	profile  = "fast-failover"
	want     = 10   // fast-failover's tcp_keepalive_time
	drifted  = 7200 // what the drift writes
	hzTimout = 10 * time.Second
)

type bench struct {
	addr   string
	health string // --health-listen
	port   int
	pid    int
	rounds int
}

func main() {
	tcpka := flag.String("tcpka", "tcpka", "the tcpka binary")
	conns := flag.Int("conns", 3000, "idle connections in the flood")
	reopen := flag.Duration("reopen", time.Second, "an idle connection watch closes is opened again after `D` (a client pool's reconnect; 10ms: a reconnect flood)")
	slow := flag.Int("slow", 50, "slow clients dribbling a request header at each listener during the flood")
	samples := flag.Int("samples", 200, "requests timed per endpoint and phase")
	sockets := flag.String("sockets", "10000,100000", "socket counts at which /metrics is timed (comma-separated; \"\" for none)")
	holder := flag.String("holder", "", "bench/sockets/holder binary (needed for -sockets)")
	rounds := flag.Int("rounds", 20, "drift corrections measured in each phase")
	addr := flag.String("listen", "127.0.0.1:9977", "watch's --listen address")
	health := flag.String("health-listen", "127.0.0.1:9978", "watch's --health-listen address, probed as a kubelet does (1 s timeout)")
	nofile := flag.Int("nofile", 1024, "watch's descriptor limit (prlimit --nofile)")
	somaxconn := flag.Int("somaxconn", 0, "set net.core.somaxconn in the scratch namespace first (0: leave it)")
	runDir := flag.String("run-dir", "/run", "watch's --run-dir")
	flag.Parse()

	if *somaxconn > 0 {
		if err := os.WriteFile("/proc/sys/net/core/somaxconn", []byte(strconv.Itoa(*somaxconn)), 0); err != nil {
			fail(err)
		}
	}
	lim := uint64(*conns + 4096)
	var rl unix.Rlimit
	_ = unix.Getrlimit(unix.RLIMIT_NOFILE, &rl)
	if lim > rl.Max { // the hard limit stays: the socket holders raise their own up to it
		lim = rl.Max
	}
	if err := unix.Setrlimit(unix.RLIMIT_NOFILE, &unix.Rlimit{Cur: lim, Max: rl.Max}); err != nil {
		fail(fmt.Errorf("raise the driver's descriptor limit: %w", err))
	}
	_, portStr, _ := net.SplitHostPort(*addr)
	port, _ := strconv.Atoi(portStr)
	b := &bench{addr: *addr, health: *health, port: port, rounds: *rounds}

	logf, err := os.CreateTemp("", "tcpka-watch-log")
	if err != nil {
		fail(err)
	}
	defer os.Remove(logf.Name())
	cmd := exec.Command("prlimit", fmt.Sprintf("--nofile=%d", *nofile), "--", *tcpka, "watch", profile,
		"--interval", "1s", "--listen", *addr, "--health-listen", *health, "--run-dir", *runDir)
	cmd.Stdout, cmd.Stderr = logf, logf
	if err := cmd.Start(); err != nil {
		fail(err)
	}
	b.pid = cmd.Process.Pid
	exited := make(chan struct{})
	go func() { _ = cmd.Wait(); close(exited) }()
	defer func() { _ = cmd.Process.Kill() }()
	if err := b.ready(10 * time.Second); err != nil {
		fail(err)
	}
	sm, _ := os.ReadFile("/proc/sys/net/core/somaxconn")
	fmt.Printf("watch pid %d: %s; somaxconn %s", b.pid, limitLine(b.pid), sm)

	quiet := b.measure(nil)
	quiet.lat = b.latencies(*samples)
	if *sockets != "" {
		b.socketRun(*tcpka, *holder, *sockets, *samples/10+5)
	}
	floodStart := time.Now()

	f := newFlood(*addr, *conns)
	f.reopen = *reopen
	t0 := time.Now()
	f.open()
	est, queue := b.serverSide()
	fmt.Printf("flood: %d attempted in %s: %d established (client side), %d connects timed out (2 s), %d refused or failed; server side %d ESTABLISHED on port %d, %d of them in the accept queue\n",
		*conns, time.Since(t0).Round(time.Millisecond), f.held.Load(), f.timeouts.Load(), f.failed.Load(), est, b.port, queue)
	f.dribble(*addr, *slow)
	f.dribble(*health, *slow)
	time.Sleep(time.Second)
	flooded := b.measure(f)
	heldBefore := f.held.Load()
	flooded.lat = b.latencies(*samples)
	fmt.Printf("during the latency samples the flood held %d idle connections (client side) at the start, %d at the end\n", heldBefore, f.held.Load())
	fmt.Printf("slow clients: %d connections opened in all (each reopened when watch closed it)\n", f.slowOpened.Load())
	est, queue = b.serverSide()
	fmt.Printf("flood at the end: %d held (client side), %d closed by watch (each opened again); server side %d ESTABLISHED, %d in the accept queue\n",
		f.held.Load(), f.closed.Load(), est, queue)

	// Stop watch under the flood: SIGTERM, exit within a second.
	ts := time.Now()
	_ = cmd.Process.Signal(unix.SIGTERM)
	var stopped time.Duration
	select {
	case <-exited:
		stopped = time.Since(ts)
	case <-time.After(5 * time.Second):
		stopped = -1
	}
	f.stop()

	logb, _ := os.ReadFile(logf.Name())
	corrected := strings.Count(string(logb), "drift corrected")
	lateQuiet, lateFlood := lateness(string(logb), floodStart)
	quiet.late, flooded.late = lateQuiet, lateFlood
	var warnLines []string
	for _, l := range strings.Split(string(logb), "\n") {
		if strings.Contains(l, "level=WARN") && !strings.Contains(l, "drift corrected") {
			warnLines = append(warnLines, l)
		}
	}

	fmt.Println()
	fmt.Printf("%-34s %-22s %-22s\n", "", "no flood", fmt.Sprintf("%d idle connections", *conns))
	row := func(name string, f func(p *phase) string) {
		fmt.Printf("%-34s %-22s %-22s\n", name, f(quiet), f(flooded))
	}
	row("drift corrected / rounds", func(p *phase) string { return fmt.Sprintf("%d / %d", len(p.fix), p.rounds) })
	row("drift->fix ms min/med/max", func(p *phase) string { return msStats(p.fix) })
	row("correction after its tick ms", func(p *phase) string { return msStats(p.late) })
	row("VmRSS MiB max", func(p *phase) string { return fmt.Sprintf("%.1f", float64(p.rssMax)/1024) })
	row("VmHWM MiB at the end", func(p *phase) string { return fmt.Sprintf("%.1f", float64(p.hwm)/1024) })
	row("open descriptors max", func(p *phase) string { return strconv.Itoa(p.fdMax) })
	row("/healthz answered / asked", func(p *phase) string { return fmt.Sprintf("%d / %d", len(p.hz), p.hzAsked) })
	row("/healthz ms min/med/max", func(p *phase) string { return msStats(p.hz) })
	row("--health-listen ok within 1 s", func(p *phase) string { return fmt.Sprintf("%d / %d", len(p.probe), len(p.probe)+p.probeFailed) })
	row("--health-listen ms min/med/max", func(p *phase) string { return msStats(p.probe) })
	fmt.Println()
	fmt.Printf("Latency, %d requests per endpoint one at a time, each on a new connection; flood: %d idle connections on --listen (each reopened %s after watch closes it) and %d slow clients on each listener; watch under prlimit --nofile=%d\n", *samples, *conns, *reopen, *slow, *nofile)
	fmt.Printf("| endpoint | phase | answered | p50 ms | p99 ms | max ms | failed |\n|---|---|---|---|---|---|---|\n")
	for i, ep := range endpoints {
		for _, ph := range []struct {
			name string
			p    *phase
		}{{"no flood", quiet}, {"flood", flooded}} {
			l := ph.p.lat[i]
			fmt.Printf("| %s | %s | %d / %d | %s | %s | %s | %s |\n", ep.name, ph.name, len(l.ok), l.asked, pct(l.ok, 50), pct(l.ok, 99), pct(l.ok, 100), l.failures())
		}
	}
	fmt.Println()
	if stopped >= 0 {
		fmt.Printf("SIGTERM under the flood: exited in %s\n", stopped.Round(time.Millisecond))
	} else {
		fmt.Printf("SIGTERM under the flood: still running after 5 s\n")
	}
	fmt.Printf("watch log: %d \"drift corrected\" lines, %d other warnings\n", corrected, len(warnLines))
	for i, l := range warnLines {
		if i == 5 {
			fmt.Printf("  (%d more)\n", len(warnLines)-i)
			break
		}
		fmt.Println("  " + l)
	}
}

func fail(err error) {
	fmt.Fprintln(os.Stderr, "floodbench:", err)
	os.Exit(2)
}

func limitLine(pid int) string {
	b, _ := os.ReadFile(fmt.Sprintf("/proc/%d/limits", pid))
	for _, l := range strings.Split(string(b), "\n") {
		if strings.HasPrefix(l, "Max open files") {
			return strings.Join(strings.Fields(l), " ")
		}
	}
	return "?"
}

// ready waits until watch applied the profile and /healthz answers.
func (b *bench) ready(within time.Duration) error {
	deadline := time.Now().Add(within)
	for time.Now().Before(deadline) {
		if v, _ := readTime(); v == want {
			if _, code, err := healthz(b.addr); err == nil && code == 200 {
				return nil
			}
		}
		time.Sleep(50 * time.Millisecond)
	}
	return errors.New("watch did not apply the profile and answer /healthz within 10 s")
}

func readTime() (int, error) {
	buf := make([]byte, 32)
	fd, err := unix.Open(timeKey, unix.O_RDONLY|unix.O_CLOEXEC, 0)
	if err != nil {
		return 0, err
	}
	defer unix.Close(fd)
	n, err := unix.Read(fd, buf)
	if err != nil {
		return 0, err
	}
	return strconv.Atoi(strings.TrimSpace(string(buf[:n])))
}

func healthz(addr string) (time.Duration, int, error) { return healthzWithin(addr, hzTimout) }

// healthzWithin asks /healthz on a new connection, giving up after d.
func healthzWithin(addr string, d time.Duration) (time.Duration, int, error) {
	c := &http.Client{Timeout: d, Transport: &http.Transport{DisableKeepAlives: true}}
	t0 := time.Now()
	resp, err := c.Get("http://" + addr + "/healthz")
	if err != nil {
		return 0, 0, err
	}
	resp.Body.Close()
	return time.Since(t0), resp.StatusCode, nil
}

// phase is one measurement.
type phase struct {
	lat           []latency // by endpoints
	rounds        int
	fix, hz, late []time.Duration
	hzAsked       int
	probe         []time.Duration // --health-listen, one per round
	probeFailed   int
	rssMax, hwm   int // KiB
	fdMax         int
	hzErrs        []string
	mu            sync.Mutex
	hzOutstanding sync.WaitGroup
}

// measure drifts the sysctl once a second, rounds times, and samples
// watch's memory and descriptors; one /healthz request is in flight at a
// time.
func (b *bench) measure(f *flood) *phase {
	p := &phase{rounds: b.rounds}
	var inflight atomic.Bool
	for i := 0; i < b.rounds; i++ {
		if inflight.CompareAndSwap(false, true) {
			p.hzAsked++
			p.hzOutstanding.Add(1)
			go func() {
				defer p.hzOutstanding.Done()
				defer inflight.Store(false)
				d, code, err := healthz(b.addr)
				p.mu.Lock()
				defer p.mu.Unlock()
				switch {
				case err != nil:
					p.hzErrs = append(p.hzErrs, err.Error())
				case code != 200:
					p.hzErrs = append(p.hzErrs, "status "+strconv.Itoa(code))
				default:
					p.hz = append(p.hz, d)
				}
			}()
		}
		if d, code, err := healthzWithin(b.health, time.Second); err == nil && code == 200 {
			p.probe = append(p.probe, d)
		} else {
			p.probeFailed++
		}
		time.Sleep(time.Duration(rand.IntN(1000)) * time.Millisecond) // any phase of watch's interval
		if err := os.WriteFile(timeKey, []byte(strconv.Itoa(drifted)), 0); err != nil {
			fail(err)
		}
		t0 := time.Now()
		fixed := false
		for time.Since(t0) < 10*time.Second {
			if v, _ := readTime(); v == want {
				fixed = true
				break
			}
			time.Sleep(time.Millisecond)
		}
		if fixed {
			p.fix = append(p.fix, time.Since(t0))
		} else {
			fmt.Printf("round %d: drift not corrected within 10 s\n", i)
			_ = os.WriteFile(timeKey, []byte(strconv.Itoa(want)), 0)
		}
		rss, hwm := memKiB(b.pid)
		p.rssMax = max(p.rssMax, rss)
		p.hwm = hwm
		p.fdMax = max(p.fdMax, fds(b.pid))
		held := ""
		if f != nil {
			held = fmt.Sprintf(", flood holds %d", f.held.Load())
		}
		fmt.Printf("round %2d: drift fixed in %s, VmRSS %d KiB, fds %d%s\n", i, time.Since(t0).Round(time.Millisecond), rss, fds(b.pid), held)
	}
	p.hzOutstanding.Wait()
	for _, e := range p.hzErrs {
		fmt.Println("  /healthz:", e)
	}
	return p
}

func memKiB(pid int) (rss, hwm int) {
	b, _ := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	for _, l := range strings.Split(string(b), "\n") {
		f := strings.Fields(l)
		if len(f) < 2 {
			continue
		}
		switch f[0] {
		case "VmRSS:":
			rss, _ = strconv.Atoi(f[1])
		case "VmHWM:":
			hwm, _ = strconv.Atoi(f[1])
		}
	}
	return rss, hwm
}

func fds(pid int) int {
	es, _ := os.ReadDir(fmt.Sprintf("/proc/%d/fd", pid))
	return len(es)
}

// serverSide reads /proc/net/tcp: the ESTABLISHED sockets on watch's port
// (accepted and waiting to be), and the listener's accept queue.
func (b *bench) serverSide() (est, queue int) {
	fh, err := os.Open("/proc/net/tcp")
	if err != nil {
		return
	}
	defer fh.Close()
	hexPort := fmt.Sprintf(":%04X", b.port)
	sc := bufio.NewScanner(fh)
	for sc.Scan() {
		f := strings.Fields(sc.Text())
		if len(f) < 5 || !strings.HasSuffix(f[1], hexPort) {
			continue
		}
		switch f[3] {
		case "01":
			est++
		case "0A":
			q := strings.SplitN(f[4], ":", 2)
			rx, _ := strconv.ParseInt(q[1], 16, 64)
			queue = int(rx)
		}
	}
	return
}

// flood holds idle connections.
type flood struct {
	addr                           string
	n                              int
	held, timeouts, failed, closed atomic.Int64
	ctx                            context.Context
	cancel                         context.CancelFunc
	wg                             sync.WaitGroup
	mu                             sync.Mutex
	conns                          map[net.Conn]bool
	slowOpened                     atomic.Int64
	reopen                         time.Duration
}

func newFlood(addr string, n int) *flood {
	ctx, cancel := context.WithCancel(context.Background())
	return &flood{addr: addr, n: n, ctx: ctx, cancel: cancel, conns: map[net.Conn]bool{}}
}

func (f *flood) dial() net.Conn {
	d := net.Dialer{Timeout: 2 * time.Second}
	c, err := d.DialContext(f.ctx, "tcp", f.addr)
	var ne net.Error
	switch {
	case errors.As(err, &ne) && ne.Timeout():
		f.timeouts.Add(1)
		return nil
	case err != nil:
		f.failed.Add(1)
		return nil
	}
	f.mu.Lock()
	f.conns[c] = true
	f.mu.Unlock()
	f.held.Add(1)
	return c
}

// hold waits until watch closes c, then opens it once more.
func (f *flood) hold(c net.Conn, again bool) {
	defer f.wg.Done()
	buf := make([]byte, 1)
	_, _ = c.Read(buf)
	f.mu.Lock()
	delete(f.conns, c)
	f.mu.Unlock()
	c.Close()
	f.held.Add(-1)
	if f.ctx.Err() != nil {
		return
	}
	f.closed.Add(1)
	if again {
		select {
		case <-f.ctx.Done():
			return
		case <-time.After(f.reopen):
		}
		if c := f.dial(); c != nil {
			f.wg.Add(1)
			go f.hold(c, true)
		}
	}
}

// open makes the connections, at most 1000 connects at a time, and
// returns when every first attempt is done.
func (f *flood) open() {
	sem := make(chan struct{}, 1000)
	var dials sync.WaitGroup
	for i := 0; i < f.n; i++ {
		sem <- struct{}{}
		dials.Add(1)
		go func() {
			defer dials.Done()
			c := f.dial()
			<-sem
			if c != nil {
				f.wg.Add(1)
				go f.hold(c, true)
			}
		}()
	}
	dials.Wait()
}

func (f *flood) stop() {
	f.cancel()
	f.mu.Lock()
	for c := range f.conns {
		c.Close()
	}
	f.mu.Unlock()
	f.wg.Wait()
}

// lateness reads the times of watch's "drift corrected" lines and says
// how long after its tick each correction was logged, before and after
// the flood started. A ticker keeps its phase, so the tick is the earliest
// offset within the second (the offsets taken on a circle, as a tick near
// a second's end wraps).
func lateness(log string, split time.Time) (before, after []time.Duration) {
	var ts []time.Time
	for _, l := range strings.Split(log, "\n") {
		if !strings.Contains(l, "drift corrected") || !strings.HasPrefix(l, "time=") {
			continue
		}
		t, err := time.Parse(time.RFC3339Nano, strings.Fields(l)[0][len("time="):])
		if err == nil {
			ts = append(ts, t)
		}
	}
	if len(ts) == 0 {
		return nil, nil
	}
	const sec = int64(time.Second)
	off := func(t time.Time) int64 { return t.UnixNano() % sec }
	ref, best := int64(0), sec
	for _, r := range ts {
		worst := int64(0)
		for _, t := range ts {
			worst = max(worst, (off(t)-off(r)+sec)%sec)
		}
		if worst < best {
			ref, best = off(r), worst
		}
	}
	for _, t := range ts {
		d := time.Duration((off(t) - ref + sec) % sec)
		if t.Before(split) {
			before = append(before, d)
		} else {
			after = append(after, d)
		}
	}
	return before, after
}

func msStats(ds []time.Duration) string {
	if len(ds) == 0 {
		return "-"
	}
	s := append([]time.Duration(nil), ds...)
	sort.Slice(s, func(i, j int) bool { return s[i] < s[j] })
	ms := func(d time.Duration) string { return strconv.FormatInt(d.Milliseconds(), 10) }
	return ms(s[0]) + " / " + ms(s[len(s)/2]) + " / " + ms(s[len(s)-1])
}

// endpoint is one URL timed in each phase.
type endpoint struct {
	name, path string
	health     bool // on --health-listen (1 s timeout)
}

var endpoints = []endpoint{
	{"--listen /healthz", "/healthz", false},
	{"--listen /metrics", "/metrics", false},
	{"--health-listen /healthz", "/healthz", true},
}

// latency is one endpoint's timings in a phase.
type latency struct {
	asked int
	ok    []time.Duration
	fails map[string]int // by kind: timeout, closed (EOF or reset), other
}

func (l latency) failures() string {
	if len(l.fails) == 0 {
		return "-"
	}
	var parts []string
	for _, k := range []string{"timeout", "closed", "other"} {
		if n := l.fails[k]; n > 0 {
			parts = append(parts, fmt.Sprintf("%d %s", n, k))
		}
	}
	return strings.Join(parts, ", ")
}

// latencies asks each endpoint n times, one request at a time, each on a
// new connection.
func (b *bench) latencies(n int) []latency {
	out := make([]latency, len(endpoints))
	for i := 0; i < n; i++ {
		for j, ep := range endpoints {
			addr, within := b.addr, hzTimout
			if ep.health {
				addr, within = b.health, time.Second
			}
			out[j].asked++
			d, code, err := get(addr, ep.path, within)
			var ne net.Error
			switch {
			case err == nil && code == 200:
				out[j].ok = append(out[j].ok, d)
				continue
			case errors.As(err, &ne) && ne.Timeout():
				out[j].fail("timeout")
			case err != nil && (errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) || errors.Is(err, unix.ECONNRESET)):
				out[j].fail("closed")
			default:
				out[j].fail("other")
			}
		}
	}
	return out
}

// get asks addr for path on a new connection, giving up after d, and
// reads the whole answer.
func get(addr, path string, d time.Duration) (time.Duration, int, error) {
	c := &http.Client{Timeout: d, Transport: &http.Transport{DisableKeepAlives: true}}
	t0 := time.Now()
	resp, err := c.Get("http://" + addr + path)
	if err != nil {
		return 0, 0, err
	}
	_, err = io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	return time.Since(t0), resp.StatusCode, err
}

// pct is the p-th percentile in ms ("-" with no samples).
func pct(ds []time.Duration, p int) string {
	if len(ds) == 0 {
		return "-"
	}
	s := append([]time.Duration(nil), ds...)
	sort.Slice(s, func(i, j int) bool { return s[i] < s[j] })
	i := (len(s)*p + 99) / 100
	i = min(max(i-1, 0), len(s)-1)
	return strconv.FormatFloat(float64(s[i].Microseconds())/1000, 'f', 1, 64)
}

// dribble holds n clients to addr that send a request header one byte
// every 100 ms and never finish it; each is reopened when watch closes it.
func (f *flood) dribble(addr string, n int) {
	msg := []byte("GET /metrics HTTP/1.1\r\nHost: bench\r\nX-Slow: ")
	for i := 0; i < n; i++ {
		f.wg.Add(1)
		go func() {
			defer f.wg.Done()
			for f.ctx.Err() == nil {
				c, err := (&net.Dialer{Timeout: 2 * time.Second}).DialContext(f.ctx, "tcp", addr)
				if err != nil {
					time.Sleep(100 * time.Millisecond)
					continue
				}
				f.slowOpened.Add(1)
				f.mu.Lock()
				f.conns[c] = true
				f.mu.Unlock()
				for j := 0; f.ctx.Err() == nil; j++ {
					if _, err := c.Write(msg[j%len(msg) : j%len(msg)+1]); err != nil {
						break
					}
					time.Sleep(100 * time.Millisecond)
				}
				f.mu.Lock()
				delete(f.conns, c)
				f.mu.Unlock()
				c.Close()
			}
		}()
	}
}

// socketRun holds each count of loopback sockets in the namespace and
// times /metrics on --listen (n scrapes, one at a time) and `tcpka
// metrics` (5 runs) at it.
func (b *bench) socketRun(tcpka, holder, sizes string, n int) {
	if holder == "" {
		fmt.Println("sockets: no -holder, skipped")
		return
	}
	_ = os.WriteFile("/proc/sys/net/ipv4/ip_local_port_range", []byte("1024 65535"), 0)
	fmt.Println()
	fmt.Printf("/metrics with many sockets in the namespace (no flood): %d scrapes on --listen, one at a time; `tcpka metrics` 5 runs\n", n)
	fmt.Printf("| sockets | /metrics p50 ms | /metrics p99 ms | /metrics max ms | answered | tcpka metrics median ms |\n|---|---|---|---|---|---|\n")
	for _, f := range strings.Split(sizes, ",") {
		total, err := strconv.Atoi(strings.TrimSpace(f))
		if err != nil || total < 2 {
			fmt.Printf("sockets: bad size %q\n", f)
			continue
		}
		stop, err := hold(holder, total/2)
		if err != nil {
			fmt.Printf("| %d | holder failed: %v |\n", total, err)
			continue
		}
		var ok []time.Duration
		for i := 0; i < n; i++ {
			if d, code, err := get(b.addr, "/metrics", 60*time.Second); err == nil && code == 200 {
				ok = append(ok, d)
			}
		}
		var cmd []time.Duration
		for i := 0; i < 5; i++ {
			t0 := time.Now()
			if err := exec.Command(tcpka, "metrics").Run(); err == nil {
				cmd = append(cmd, time.Since(t0))
			}
		}
		stop()
		fmt.Printf("| %d | %s | %s | %s | %d / %d | %s |\n", total, pct(ok, 50), pct(ok, 99), pct(ok, 100), len(ok), n, pct(cmd, 50))
	}
}

// hold starts holders with conns connections in all (2 sockets each), at
// most 9 000 per holder (18 200 descriptors under a hard limit of 20 000), and returns when all are ready.
func hold(holder string, conns int) (stop func(), err error) {
	var cmds []*exec.Cmd
	stop = func() {
		for _, c := range cmds {
			_ = c.Process.Signal(unix.SIGTERM)
			_ = c.Wait()
		}
	}
	for left := conns; left > 0; {
		k := min(left, 9000)
		left -= k
		c := exec.Command("prlimit", fmt.Sprintf("--nofile=%d", 2*k+200), "--", holder, "-n", strconv.Itoa(k))
		out, err := c.StdoutPipe()
		if err != nil {
			stop()
			return nil, err
		}
		c.Stderr = os.Stderr
		if err := c.Start(); err != nil {
			stop()
			return nil, err
		}
		cmds = append(cmds, c)
		line, err := bufio.NewReader(out).ReadString('\n')
		if err != nil || line != "ready\n" {
			stop()
			return nil, fmt.Errorf("holder of %d connections: %q %v", k, line, err)
		}
	}
	return stop, nil
}

func (l *latency) fail(kind string) {
	if l.fails == nil {
		l.fails = map[string]int{}
	}
	l.fails[kind]++
}
