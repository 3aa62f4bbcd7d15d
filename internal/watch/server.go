package watch

import (
	"log/slog"
	"net"
	"net/http"
	"time"

	"golang.org/x/net/netutil"
)

// Limits bound what one client, or a flood of them, can take from watch's
// HTTP server.
type Limits struct {
	// MaxConns connections are served at once; the others wait in the
	// kernel's listen backlog, holding no descriptor and no memory of
	// watch's.
	MaxConns int
	// A connection that sends no complete request header within
	// ReadHeaderTimeout is closed.
	ReadHeaderTimeout, ReadTimeout, WriteTimeout, IdleTimeout time.Duration
	MaxHeaderBytes                                            int
}

// DefaultLimits fit scrapes of a few KB that take milliseconds, and keep
// watch's descriptors far below a 1024 limit and its memory flat, so drift
// correction (which opens /proc/sys files) never starves.
var DefaultLimits = Limits{
	MaxConns:          64,
	ReadHeaderTimeout: 5 * time.Second,
	ReadTimeout:       10 * time.Second,
	WriteTimeout:      10 * time.Second,
	IdleTimeout:       30 * time.Second,
	MaxHeaderBytes:    8 << 10,
}

// HealthLimits are for the --health-listen listener: a probe every few
// seconds from the node itself, answered in microseconds.
var HealthLimits = Limits{
	MaxConns:          8,
	ReadHeaderTimeout: 2 * time.Second,
	ReadTimeout:       2 * time.Second,
	WriteTimeout:      2 * time.Second,
	IdleTimeout:       5 * time.Second,
	MaxHeaderBytes:    4 << 10,
}

// Serve serves h on ln within lim until the server is shut down; accept
// errors (EMFILE included) and protocol errors are logged through log, in
// watch's own format, at level WARN. The channel gets Serve's error.
func Serve(ln net.Listener, h http.Handler, log *slog.Logger, lim Limits) (*http.Server, <-chan error) {
	srv := &http.Server{
		Handler:           h,
		ReadHeaderTimeout: lim.ReadHeaderTimeout,
		ReadTimeout:       lim.ReadTimeout,
		WriteTimeout:      lim.WriteTimeout,
		IdleTimeout:       lim.IdleTimeout,
		MaxHeaderBytes:    lim.MaxHeaderBytes,
		ErrorLog:          slog.NewLogLogger(log.Handler(), slog.LevelWarn),
	}
	done := make(chan error, 1)
	go func() { done <- srv.Serve(netutil.LimitListener(ln, lim.MaxConns)) }()
	return srv, done
}
