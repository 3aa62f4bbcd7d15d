package watch

import (
	"bytes"
	"io"
	"log/slog"
	"net"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/tcpka/tcpka/internal/testkit"
)

// TestServeUnderFlood holds three times MaxConns idle connections that
// never send a request: a scrape still gets its answer (the idle ones are
// closed after ReadHeaderTimeout, the queued ones then served), and the
// server never holds more than MaxConns connections at once.
func TestServeUnderFlood(t *testing.T) {
	lim := DefaultLimits
	lim.MaxConns, lim.ReadHeaderTimeout = 8, 300*time.Millisecond
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	var mu sync.Mutex
	open, most := 0, 0
	counting := &countingListener{Listener: ln, onAccept: func(d int) {
		mu.Lock()
		open += d
		most = max(most, open)
		mu.Unlock()
	}}
	var logs bytes.Buffer
	h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { io.WriteString(w, "ok\n") })
	srv, done := Serve(counting, h, slog.New(slog.NewTextHandler(&logs, nil)), lim)
	defer func() { srv.Close(); <-done }()

	var idle []net.Conn
	for i := 0; i < 3*lim.MaxConns; i++ {
		c, err := net.Dial("tcp", ln.Addr().String())
		if err != nil {
			t.Fatal(err)
		}
		idle = append(idle, c)
	}
	defer func() {
		for _, c := range idle {
			c.Close()
		}
	}()
	start := time.Now()
	resp, err := (&http.Client{Timeout: 10 * time.Second}).Get("http://" + ln.Addr().String() + "/healthz")
	if err != nil {
		t.Fatalf("a scrape during the flood: %v", err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 200 || string(body) != "ok\n" {
		t.Errorf("scrape: %d %q", resp.StatusCode, body)
	}
	t.Logf("scrape answered after %v behind %d idle connections", time.Since(start).Round(time.Millisecond), len(idle))
	mu.Lock()
	defer mu.Unlock()
	if most > lim.MaxConns {
		t.Errorf("%d connections served at once, limit %d", most, lim.MaxConns)
	}
}

// countingListener reports each accepted connection (+1) and its close (-1).
type countingListener struct {
	net.Listener
	onAccept func(int)
}

func (l *countingListener) Accept() (net.Conn, error) {
	c, err := l.Listener.Accept()
	if err == nil {
		l.onAccept(1)
		c = &countingConn{Conn: c, done: func() { l.onAccept(-1) }}
	}
	return c, err
}

type countingConn struct {
	net.Conn
	once sync.Once
	done func()
}

func (c *countingConn) Close() error {
	c.once.Do(c.done)
	return c.Conn.Close()
}

// TestServeLogsInWatchFormat: what net/http reports on its own (here a
// handler that panics; in production, accept errors such as EMFILE) goes
// through watch's logger, not to stderr as bare text.
func TestServeLogsInWatchFormat(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	var logs testkit.Buffer
	boom := http.HandlerFunc(func(http.ResponseWriter, *http.Request) { panic("boom") })
	srv, done := Serve(ln, boom, slog.New(slog.NewJSONHandler(&logs, nil)), DefaultLimits)
	defer func() { srv.Close(); <-done }()
	if resp, err := http.Get("http://" + ln.Addr().String() + "/"); err == nil {
		resp.Body.Close()
	}
	testkit.Eventually(2*time.Second, func() bool { return strings.Contains(logs.String(), "boom") })
	if !strings.Contains(logs.String(), `"level":"WARN"`) || !strings.Contains(logs.String(), "http: panic serving") {
		t.Errorf("server errors not in watch's log format: %q", logs.String())
	}
}
