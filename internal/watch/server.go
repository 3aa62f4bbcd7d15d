package watch

import (
	"bytes"
	"context"
	"errors"
	"log/slog"
	"net"
	"net/http"
	"sync"
	"syscall"
	"time"

	"golang.org/x/sys/unix"
)

// Limits bound what one client, or a flood of them, can take from watch's
// HTTP server.
type Limits struct {
	// MaxConns connections are held at once; the others wait in the
	// kernel's listen backlog, holding no descriptor and no memory of
	// watch's. At capacity, the connection that has waited longest for a
	// complete request header, once it has waited HeaderGrace, is closed
	// to make room for the next one: idle and slow clients cannot hold
	// the slots, only clients being answered can.
	MaxConns    int
	HeaderGrace time.Duration
	// MaxCloseRate bounds the connections closed per second to make room
	// (idle ones shed at capacity or closed at accept): a flood that
	// reconnects at once cannot turn the server into a loop of accepts and
	// closes that takes the CPU from everything else, the health
	// listener and drift correction included. What waits meanwhile waits
	// in the kernel's backlog, in order; 0: no bound.
	MaxCloseRate int
	// A connection that sends no complete request header within
	// ReadHeaderTimeout is closed, at capacity or not.
	ReadHeaderTimeout, ReadTimeout, WriteTimeout, IdleTimeout time.Duration
	MaxHeaderBytes                                            int
}

// DefaultLimits fit scrapes of a few KB that take milliseconds, and keep
// watch's descriptors far below a 1024 limit and its memory flat, so drift
// correction (which opens /proc/sys files) never starves. A scraper sends
// its request with the handshake's last ACK: 100 ms is a long wait for it.
var DefaultLimits = Limits{
	MaxConns:          64,
	HeaderGrace:       100 * time.Millisecond,
	MaxCloseRate:      4000, // a full 4096-deep backlog drains in about a second
	ReadHeaderTimeout: 5 * time.Second,
	ReadTimeout:       10 * time.Second,
	WriteTimeout:      10 * time.Second,
	IdleTimeout:       30 * time.Second,
	MaxHeaderBytes:    8 << 10,
}

// HealthLimits are for the --health-listen listener: a probe every few
// seconds from the node itself, answered in microseconds, within 1 s
// whatever else connects (a kubelet's liveness probe times out at 1 s).
var HealthLimits = Limits{
	MaxConns:          16,
	HeaderGrace:       50 * time.Millisecond,
	MaxCloseRate:      500,
	ReadHeaderTimeout: time.Second,
	ReadTimeout:       2 * time.Second,
	WriteTimeout:      2 * time.Second,
	IdleTimeout:       5 * time.Second,
	MaxHeaderBytes:    4 << 10,
}

// Serve serves h on ln within lim until the server is shut down. Its
// accept loop never waits on the descriptor limit: on EMFILE or ENFILE it
// closes the connection that has waited longest for a request header and
// accepts again. A connection that sat silent in the listen backlog for
// HeaderGrace or longer is closed as soon as it is accepted: it is idle,
// and behind it a flood of such connections drains at the rate of
// accept(2), not at one per header timeout. Accept and protocol errors are logged through log, in
// watch's own format, at level WARN. The channel gets Serve's error.
func Serve(ln net.Listener, h http.Handler, log *slog.Logger, lim Limits) (*http.Server, <-chan error) {
	g := newGuard(ln, lim, log)
	srv := &http.Server{
		Handler:           g.handler(h),
		ReadHeaderTimeout: lim.ReadHeaderTimeout,
		ReadTimeout:       lim.ReadTimeout,
		WriteTimeout:      lim.WriteTimeout,
		IdleTimeout:       lim.IdleTimeout,
		MaxHeaderBytes:    lim.MaxHeaderBytes,
		ErrorLog:          slog.NewLogLogger(log.Handler(), slog.LevelWarn),
		ConnContext: func(ctx context.Context, c net.Conn) context.Context {
			return context.WithValue(ctx, connKey{}, c)
		},
	}
	done := make(chan error, 1)
	go g.loop()
	go func() { done <- srv.Serve(g) }()
	return srv, done
}

type connKey struct{}

// guard is the listener http.Server serves: its own loop accepts from the
// real one, keeps at most MaxConns connections, and makes room by closing
// the connection that has waited longest for a complete request header.
type guard struct {
	ln  net.Listener
	lim Limits
	log *slog.Logger

	ready     chan net.Conn // accepted, for http.Server
	errc      chan error    // the accept loop's end
	done      chan struct{} // Close
	closeOnce sync.Once

	mu      sync.Mutex
	open    map[*guardConn]struct{}
	lastLog time.Time

	// A token bucket for closes (MaxCloseRate), used by the loop alone.
	tokens float64
	filled time.Time
}

// guardConn is one held connection. waiting is when it started to wait
// for a complete request header (accepted, or answered its last request);
// zero while a handler serves it.
type guardConn struct {
	net.Conn
	g       *guard
	waiting time.Time
	// ready: its whole first request header was already buffered when it
	// was accepted (a probe, a scrape): it is served, never shed, however
	// long the handler takes to be scheduled.
	ready bool
	once  sync.Once
}

func newGuard(ln net.Listener, lim Limits, log *slog.Logger) *guard {
	if lim.MaxConns < 1 {
		lim.MaxConns = 1
	}
	return &guard{ln: ln, lim: lim, log: log, ready: make(chan net.Conn), errc: make(chan error, 1),
		done: make(chan struct{}), open: map[*guardConn]struct{}{}}
}

// Accept hands http.Server the next connection the loop accepted.
func (g *guard) Accept() (net.Conn, error) {
	select {
	case c := <-g.ready:
		return c, nil
	case err := <-g.errc:
		g.errc <- err // for every later call
		return nil, err
	case <-g.done:
		return nil, net.ErrClosed
	}
}

// Close stops accepting; the held connections are the server's to close.
func (g *guard) Close() error {
	var err error
	g.closeOnce.Do(func() {
		close(g.done)
		err = g.ln.Close()
	})
	return err
}

func (g *guard) Addr() net.Addr { return g.ln.Addr() }

func (g *guard) closed() bool {
	select {
	case <-g.done:
		return true
	default:
		return false
	}
}

// loop accepts until the listener is closed or fails for good.
func (g *guard) loop() {
	for !g.closed() {
		g.makeRoom()
		c, err := g.ln.Accept()
		if err != nil {
			if g.closed() {
				return
			}
			if errors.Is(err, syscall.EMFILE) || errors.Is(err, syscall.ENFILE) {
				// Out of descriptors: the connection idle the longest
				// gives its own back, whatever its age.
				shed := g.shed(0)
				g.warn("accept: out of descriptors", err, shed)
				if !shed {
					g.sleep(10 * time.Millisecond)
				}
				continue
			}
			var ne net.Error
			if errors.As(err, &ne) && ne.Timeout() || errors.Is(err, syscall.ECONNABORTED) ||
				errors.Is(err, syscall.ENOBUFS) || errors.Is(err, syscall.ENOMEM) || errors.Is(err, syscall.EINTR) {
				g.warn("accept", err, false)
				g.sleep(5 * time.Millisecond)
				continue
			}
			g.errc <- err
			return
		}
		silent, ready := unread(c)
		if silent >= g.lim.HeaderGrace && g.lim.HeaderGrace > 0 {
			// It sat in the backlog longer than a client takes to send
			// its request, and sent nothing: it would only take a slot
			// until it is shed. Closed at once, it costs an accept.
			g.pace()
			_ = c.Close()
			continue
		}
		gc := &guardConn{Conn: c, g: g, waiting: time.Now().Add(-silent), ready: ready}
		g.mu.Lock()
		g.open[gc] = struct{}{}
		g.mu.Unlock()
		select {
		case g.ready <- gc:
		case <-g.done:
			gc.Close()
			return
		}
	}
}

// makeRoom returns once fewer than MaxConns connections are held: at
// capacity it closes the one waiting longest for a request header once
// it has waited HeaderGrace, and otherwise waits for that or for one to
// close.
func (g *guard) makeRoom() {
	for !g.closed() {
		g.mu.Lock()
		n := len(g.open)
		g.mu.Unlock()
		if n < g.lim.MaxConns || g.shed(g.lim.HeaderGrace) {
			return
		}
		g.sleep(5 * time.Millisecond)
	}
}

// shed closes the held connection that has waited longest for a complete
// request header, if it has waited at least grace; it says whether it
// closed one. Connections being answered are never closed.
func (g *guard) shed(grace time.Duration) bool {
	g.mu.Lock()
	var oldest *guardConn
	for c := range g.open {
		if !c.waiting.IsZero() && !c.ready && (oldest == nil || c.waiting.Before(oldest.waiting)) {
			oldest = c
		}
	}
	if oldest == nil || time.Since(oldest.waiting) < grace {
		g.mu.Unlock()
		return false
	}
	delete(g.open, oldest)
	g.mu.Unlock()
	g.pace()
	_ = oldest.Conn.Close() // http.Server's read fails, then it closes gc
	return true
}

// pace waits, when needed, so that the loop closes at most MaxCloseRate
// connections a second (a burst of a tenth of a second's worth at once).
func (g *guard) pace() {
	rate := float64(g.lim.MaxCloseRate)
	if rate <= 0 {
		return
	}
	burst := max(rate/10, 1)
	now := time.Now()
	if g.filled.IsZero() {
		g.tokens = burst
	} else {
		g.tokens = min(burst, g.tokens+now.Sub(g.filled).Seconds()*rate)
	}
	g.filled = now
	if g.tokens < 1 {
		wait := time.Duration((1 - g.tokens) / rate * float64(time.Second))
		g.sleep(wait)
		g.tokens, g.filled = 1, time.Now()
	}
	g.tokens--
}

// serving marks c as answered by a handler (on) or waiting again for a
// request header (off).
func (g *guard) serving(c *guardConn, on bool) {
	g.mu.Lock()
	if on {
		c.waiting, c.ready = time.Time{}, false
	} else {
		c.waiting = time.Now()
	}
	g.mu.Unlock()
}

// handler marks the connection of each request as being served while h
// runs: a slot is taken from waiting clients only.
func (g *guard) handler(h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if c, ok := r.Context().Value(connKey{}).(*guardConn); ok {
			g.serving(c, true)
			defer g.serving(c, false)
		}
		h.ServeHTTP(w, r)
	})
}

func (c *guardConn) Close() error {
	err := c.Conn.Close()
	c.once.Do(func() {
		c.g.mu.Lock()
		delete(c.g.open, c)
		c.g.mu.Unlock()
	})
	return err
}

// warn logs an accept problem at most once a second.
func (g *guard) warn(what string, err error, shed bool) {
	g.mu.Lock()
	now := time.Now()
	quiet := now.Sub(g.lastLog) < time.Second
	if !quiet {
		g.lastLog = now
	}
	g.mu.Unlock()
	if quiet || g.log == nil {
		return
	}
	if shed {
		g.log.Warn(what+"; closed the connection idle the longest", "addr", g.ln.Addr().String(), "error", err.Error())
		return
	}
	g.log.Warn(what, "addr", g.ln.Addr().String(), "error", err.Error())
}

func (g *guard) sleep(d time.Duration) {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
	case <-g.done:
	}
}

// unread says how long an accepted TCP connection has been silent in the
// listen backlog: the time since the handshake's last ACK when nothing is
// waiting to be read, 0 when the client has sent something (it gets its
// grace from now) or the connection is not TCP; and whether what it sent
// already holds a complete request header (the first 2 KiB are peeked).
func unread(c net.Conn) (silent time.Duration, ready bool) {
	sc, ok := c.(syscall.Conn)
	if !ok {
		return 0, false
	}
	raw, err := sc.SyscallConn()
	if err != nil {
		return 0, false
	}
	_ = raw.Control(func(fd uintptr) {
		n, err := unix.IoctlGetInt(int(fd), unix.SIOCINQ)
		switch {
		case err != nil:
		case n > 0:
			var buf [2048]byte
			if m, _, err := unix.Recvfrom(int(fd), buf[:], unix.MSG_PEEK|unix.MSG_DONTWAIT); err == nil {
				ready = bytes.Contains(buf[:m], []byte("\r\n\r\n"))
			}
		default:
			if ti, err := unix.GetsockoptTCPInfo(int(fd), unix.IPPROTO_TCP, unix.TCP_INFO); err == nil {
				silent = time.Duration(ti.Last_ack_recv) * time.Millisecond
			}
		}
	})
	return silent, ready
}
