package watch

import (
	"context"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"
)

// serveOK serves "ok\n" on a new loopback listener within lim; ln wraps
// the real listener when not nil.
func serveOK(t *testing.T, lim Limits, wrap func(net.Listener) net.Listener) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	var l net.Listener = ln
	if wrap != nil {
		l = wrap(ln)
	}
	h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { io.WriteString(w, "ok\n") })
	srv, done := Serve(l, h, slog.New(slog.NewTextHandler(io.Discard, nil)), lim)
	t.Cleanup(func() { srv.Close(); <-done })
	return ln.Addr().String()
}

// ask asks addr for /healthz on a new connection, giving up after
// within, and returns how long the answer took.
func ask(addr string, within time.Duration) (time.Duration, error) {
	c := &http.Client{Timeout: within, Transport: &http.Transport{DisableKeepAlives: true}}
	t0 := time.Now()
	resp, err := c.Get("http://" + addr + "/healthz")
	if err != nil {
		return 0, err
	}
	defer resp.Body.Close()
	if b, _ := io.ReadAll(resp.Body); resp.StatusCode != 200 || string(b) != "ok\n" {
		return 0, io.ErrUnexpectedEOF
	}
	return time.Since(t0), nil
}

// dribble holds n connections to addr that send a request header one
// byte every gap and never finish it; one the server closes is opened
// again, until the test ends.
func dribble(t *testing.T, addr string, n int, gap time.Duration) *atomic.Int64 {
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	var opened atomic.Int64
	t.Cleanup(func() { cancel(); wg.Wait() })
	for i := 0; i < n; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for ctx.Err() == nil {
				c, err := (&net.Dialer{}).DialContext(ctx, "tcp", addr)
				if err != nil {
					time.Sleep(gap)
					continue
				}
				opened.Add(1)
				msg := "GET /healthz HTTP/1.1\r\nHost: x\r\nX-Slow: "
				for j := 0; ctx.Err() == nil; j++ {
					if _, err := c.Write([]byte{msg[j%len(msg)]}); err != nil {
						break
					}
					time.Sleep(gap)
				}
				c.Close()
			}
		}()
	}
	return &opened
}

// TestHealthAnswersUnderDribblers: dozens of clients dribbling request
// headers at the --health-listen listener, each reopened as soon as it is
// closed, must not make a liveness probe (1 s timeout, like a kubelet's)
// fail: a connection that has not sent its header promptly yields its
// slot to the next one.
func TestHealthAnswersUnderDribblers(t *testing.T) {
	if testing.Short() {
		t.Skip("holds connections for a few seconds")
	}
	addr := serveOK(t, HealthLimits, nil)
	opened := dribble(t, addr, 48, 50*time.Millisecond)
	time.Sleep(300 * time.Millisecond)
	var slowest time.Duration
	for i := 0; i < 20; i++ {
		d, err := ask(addr, time.Second)
		if err != nil {
			t.Errorf("probe %d behind 48 dribbling clients: %v", i, err)
			continue
		}
		slowest = max(slowest, d)
		time.Sleep(100 * time.Millisecond)
	}
	t.Logf("20 probes, slowest %v; dribbling connections opened: %d", slowest.Round(time.Millisecond), opened.Load())
}

// TestServeIdleAtCapacity: connections that never send a request hold
// every slot of --listen; a scrape is answered at once, not after the
// idle ones' 5 s header timeout, and the server still never holds more
// than MaxConns connections.
func TestServeIdleAtCapacity(t *testing.T) {
	lim := DefaultLimits
	lim.MaxConns = 8
	var mu sync.Mutex
	open, most := 0, 0
	addr := serveOK(t, lim, func(ln net.Listener) net.Listener {
		return &countingListener{Listener: ln, onAccept: func(d int) {
			mu.Lock()
			open += d
			most = max(most, open)
			mu.Unlock()
		}}
	})
	var idle []net.Conn
	defer func() {
		for _, c := range idle {
			c.Close()
		}
	}()
	for i := 0; i < 3*lim.MaxConns; i++ {
		c, err := net.Dial("tcp", addr)
		if err != nil {
			t.Fatal(err)
		}
		idle = append(idle, c)
	}
	time.Sleep(200 * time.Millisecond)
	for i := 0; i < 5; i++ {
		d, err := ask(addr, time.Second)
		if err != nil {
			t.Fatalf("scrape %d behind %d idle connections: %v", i, len(idle), err)
		}
		t.Logf("scrape %d answered in %v", i, d.Round(time.Millisecond))
	}
	mu.Lock()
	defer mu.Unlock()
	if most > lim.MaxConns {
		t.Errorf("%d connections held at once, limit %d", most, lim.MaxConns)
	}
}

// emfileListener plays a process at its descriptor limit: while limit
// connections are open, Accept fails with EMFILE and leaves the next one
// in the backlog, as accept(2) does.
type emfileListener struct {
	net.Listener
	limit int
	open  atomic.Int64
	hits  atomic.Int64
}

func (l *emfileListener) Accept() (net.Conn, error) {
	if l.open.Load() >= int64(l.limit) {
		l.hits.Add(1)
		return nil, &net.OpError{Op: "accept", Net: "tcp", Addr: l.Addr(), Err: os.NewSyscallError("accept4", syscall.EMFILE)}
	}
	c, err := l.Listener.Accept()
	if err != nil {
		return nil, err
	}
	l.open.Add(1)
	return &countingConn{Conn: c, done: func() { l.open.Add(-1) }}, nil
}

// TestServeOutOfDescriptors: the process is out of descriptors, every one
// taken by an idle connection: the accept loop does not stall (net/http
// backs off up to 1 s per EMFILE and waits for the idle ones' header
// timeout); it closes the connection idle the longest and a scrape is
// answered within a second.
func TestServeOutOfDescriptors(t *testing.T) {
	l := &emfileListener{limit: 12}
	addr := serveOK(t, DefaultLimits, func(ln net.Listener) net.Listener { l.Listener = ln; return l })
	var idle []net.Conn
	defer func() {
		for _, c := range idle {
			c.Close()
		}
	}()
	for i := 0; i < 40; i++ {
		c, err := net.Dial("tcp", addr)
		if err != nil {
			t.Fatal(err)
		}
		idle = append(idle, c)
	}
	time.Sleep(200 * time.Millisecond)
	for i := 0; i < 5; i++ {
		if _, err := ask(addr, time.Second); err != nil {
			t.Fatalf("scrape %d at the descriptor limit behind %d idle connections: %v", i, len(idle), err)
		}
	}
	if l.hits.Load() == 0 {
		t.Errorf("the listener never ran out of descriptors: the test tested nothing")
	}
}

// TestServeReconnectFlood: idle clients that reconnect the moment they are
// closed. The server closes at most MaxCloseRate of them a second, so the
// flood cannot become a loop of accepts and closes that starves the rest,
// and a scrape still gets through within a second.
func TestServeReconnectFlood(t *testing.T) {
	if testing.Short() {
		t.Skip("floods a listener for two seconds")
	}
	lim := DefaultLimits
	lim.MaxConns, lim.MaxCloseRate = 8, 500
	addr := serveOK(t, lim, nil)
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	var opened atomic.Int64
	for i := 0; i < 200; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			buf := make([]byte, 1)
			for ctx.Err() == nil {
				c, err := (&net.Dialer{}).DialContext(ctx, "tcp", addr)
				if err != nil {
					time.Sleep(10 * time.Millisecond)
					continue
				}
				opened.Add(1)
				c.Read(buf) // until the server closes it
				c.Close()
			}
		}()
	}
	time.Sleep(500 * time.Millisecond)
	start, before := time.Now(), opened.Load()
	for i := 0; i < 5; i++ {
		if d, err := ask(addr, time.Second); err != nil {
			t.Errorf("scrape %d during a reconnect flood: %v", i, err)
		} else {
			t.Logf("scrape %d answered in %v", i, d.Round(time.Millisecond))
		}
		time.Sleep(200 * time.Millisecond)
	}
	rate := float64(opened.Load()-before) / time.Since(start).Seconds()
	cancel()
	wg.Wait()
	t.Logf("the flood reconnected %.0f times a second", rate)
	if rate > 1.5*float64(lim.MaxCloseRate) {
		t.Errorf("the server closed about %.0f connections a second, bound %d", rate, lim.MaxCloseRate)
	}
}
