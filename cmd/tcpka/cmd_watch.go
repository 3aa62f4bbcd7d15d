package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/signal"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/spf13/pflag"
	"github.com/tcpka/tcpka/internal/caps"
	"github.com/tcpka/tcpka/internal/enforce"
	"github.com/tcpka/tcpka/internal/human"
	"github.com/tcpka/tcpka/internal/metrics"
	"github.com/tcpka/tcpka/internal/profile"
	"github.com/tcpka/tcpka/internal/rearm"
	"github.com/tcpka/tcpka/internal/watch"
)

type watchFlags struct {
	interval      time.Duration
	listen        string
	healthListen  string
	logFormat     string
	enforceCgroup string
	bpfRoot       string
	rearm         bool
}

// watchShutdown bounds how long in-flight HTTP requests may delay the exit
// after SIGTERM (the promise is: exit within a second).
const watchShutdown = 500 * time.Millisecond

var cmdWatch = &Command{
	Name:      "watch",
	AllNetns:  "keep the profile applied in every network namespace",
	UsageLine: "watch PROFILE [--interval D] [--listen ADDR] [--health-listen ADDR] [--log-format text|json] [--all-netns] [--rearm] [--enforce-cgroup DIR]",
	Short:     "keep a profile applied: correct drift, serve /metrics and /healthz",
	Long: `Applies PROFILE, then every --interval reads the sysctls and writes back
any key that drifted (all or none, under the apply lock), logging one line
per corrected key: which key, from what, to what. Logs go to stderr with
log/slog, as text or JSON lines.

The profile is read again at every interval and on SIGHUP: an edit takes
effect at the next check; an edit that does not load is logged, /healthz
says why, and the last good profile stays applied.

With --listen it serves Prometheus metrics at http://ADDR/metrics (the
keepalive values under the names 'tcpka metrics' uses, and
tcpka_watch_corrections_total per key) and /healthz: 200 "ok" while the
last check succeeded, 503 with the reason when it failed. The server
closes a connection that sends no request within 5 s and serves at most 64
at once, so a flood of clients cannot starve drift correction. Such a flood
does make later connections wait in the kernel's queue, so give liveness
probes their own listener: --health-listen ADDR serves /healthz alone (on
127.0.0.1, where only the node itself reaches it).

One watch keeps a namespace (--all-netns: every one): a second is refused,
and so is 'tcpka revert' while it runs (stop it first).

With --all-netns every check covers every network namespace on the machine
(found again each time, so new containers are included), one transaction
each; log lines name the namespace. /metrics reports tcpka's own namespace.

With --rearm, every check also re-arms the keepalive timer of each live
connection that follows the sysctls and is still armed with values from
before the last change (as 'tcpka apply --rearm' does), so lowered values
hold for open connections within one interval; a pass with nothing stale
changes nothing. Logged when it re-arms anything.

With --enforce-cgroup DIR it also keeps the profile's BPF sock_ops program
attached to the cgroup v2 directory DIR (as 'tcpka enforce --cgroup' does),
checking at every interval: a cgroup that was removed and made again (a
service restart, a kubelet pods cgroup) gets it again, logged.

A bad profile or a malformed address exits 2, an address it cannot bind
or a first apply that fails (no root, read-only /proc/sys) exits 1; nothing
is served either way. SIGTERM or SIGINT stop it with exit 0 within a
second. systemd/tcpka-watch.service
runs it as a service; deploy/kubernetes runs it on every node.`,
	Examples: "sudo tcpka watch aws-nlb --listen 127.0.0.1:9977\nsudo tcpka watch ssh --interval 10s --log-format json",
	Bind: func(fs *pflag.FlagSet) Runner {
		f := &watchFlags{}
		fs.DurationVar(&f.interval, "interval", 30*time.Second, "check for drift every `D` (at least 1s)")
		fs.StringVar(&f.listen, "listen", "", "serve /metrics and /healthz on `ADDR` (host:port)")
		fs.StringVar(&f.healthListen, "health-listen", "", "serve /healthz alone on `ADDR`, for liveness probes (e.g. 127.0.0.1:9978)")
		fs.StringVar(&f.logFormat, "log-format", "text", "log as `text` or json")
		completesTo(fs, "log-format", logFormats())
		fs.BoolVar(&f.rearm, "rearm", false, "also re-arm live connections' keepalive timers armed with older values, at every check")
		fs.StringVar(&f.enforceCgroup, "enforce-cgroup", "", "also keep the profile enforced on new connections of cgroup `DIR`")
		fs.StringVar(&f.bpfRoot, "bpf-root", "", "bpffs mount point `DIR` (for tests)")
		_ = fs.MarkHidden("bpf-root")
		return func(env *Env, args []string) error { return runWatch(env, *f, args) }
	},
}

// logHandlers are the values of --log-format and the logs they make.
var logHandlers = []struct {
	name string
	make func(io.Writer) slog.Handler
}{
	{"text", func(w io.Writer) slog.Handler { return slog.NewTextHandler(w, nil) }},
	{"json", func(w io.Writer) slog.Handler { return slog.NewJSONHandler(w, nil) }},
}

func logFormats() []string {
	var out []string
	for _, l := range logHandlers {
		out = append(out, l.name)
	}
	return out
}

func runWatch(env *Env, f watchFlags, args []string) error {
	if len(args) != 1 {
		return usagef("needs exactly one PROFILE")
	}
	if f.interval < time.Second {
		return usagef("--interval %s: must be at least 1s", f.interval)
	}
	var handler slog.Handler
	for _, l := range logHandlers {
		if l.name == f.logFormat {
			handler = l.make(env.Stderr)
		}
	}
	if handler == nil {
		return usagef("--log-format %q: must be %s", f.logFormat, oneOf(logFormats()))
	}
	p, err := profile.Load(args[0])
	if err != nil {
		return err
	}
	if env.Scope.RealProc() {
		if err := caps.Require("watch", caps.NetAdmin); err != nil {
			return err
		}
	}
	if f.rearm {
		if !env.Scope.RealProc() {
			return usagef("--rearm needs --proc-root /proc: it reaches live connections of this machine")
		}
		if err := caps.Need("watch --rearm", "to reach live connections with bpf(2) or pidfd_getfd", caps.SysAdmin, caps.NetAdmin, caps.SysPtrace); err != nil {
			return err
		}
	}
	for flag, addr := range map[string]string{"listen": f.listen, "health-listen": f.healthListen} {
		if err := checkListenAddr(addr); addr != "" && err != nil {
			return inputf("watch: --%s %s: %v", flag, human.Safe(addr), err)
		}
	}
	var ln, healthLn net.Listener
	if f.listen != "" {
		if ln, err = net.Listen("tcp", f.listen); err != nil {
			return fmt.Errorf("watch: --listen: %w", err)
		}
		defer ln.Close()
	}
	if f.healthListen != "" {
		if healthLn, err = net.Listen("tcp", f.healthListen); err != nil {
			return fmt.Errorf("watch: --health-listen: %w", err)
		}
		defer healthLn.Close()
	}
	log := slog.New(handler)
	// One watch per namespace: revert checks the lease and refuses to undo
	// what watch would put back, so the record of the original values
	// survives.
	leaseKey := env.NS().Identity().Key()
	if env.Scope.All() {
		leaseKey = "all"
	}
	lease, err := env.Scope.State().TakeLease(leaseKey)
	if err != nil {
		return fmt.Errorf("watch: %w", err)
	}
	defer lease.Release()
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, syscall.SIGINT)
	defer stop()
	hup := make(chan os.Signal, 1)
	signal.Notify(hup, syscall.SIGHUP)
	defer signal.Stop(hup)
	// Scrapes read the last sweep (at most one socket scan per interval),
	// never a scan of their own: a scraper cannot make watch walk every
	// socket on demand.
	base := watch.LastSweep(f.interval, func() (metrics.Info, []metrics.Sample, error) { return metricsBase(env) })
	var target watch.Target = &watch.ScopeTarget{Scope: env.Scope, Profile: p.Name, Log: log}
	if f.rearm {
		r := rearm.New(rearm.Options{ProcRoot: env.ProcRoot()})
		defer r.Close()
		target = &watch.Rearming{Target: target, Scope: env.Scope, Rearmer: r, Log: log}
	}
	if f.enforceCgroup != "" {
		target = &watch.Enforcing{Target: target, Dir: f.enforceCgroup, Store: enforce.NewStore(env.ProcRoot(), env.Scope.Roots().Run, f.bpfRoot), Profile: p, Log: log}
	}
	w := watch.New(p, f.interval, target, log, base)
	w.SetLoader(func() (*profile.Profile, error) { return profile.Load(args[0]) })
	if err := w.Start(); err != nil {
		return err
	}
	go func() {
		for range hup {
			log.Info("reloading the profile", "reason", "SIGHUP")
			w.Reload()
		}
	}()
	var servers []*http.Server
	serveErr := make(chan error, 2)
	listening, healthListening := "", ""
	serve := func(ln net.Listener, h http.Handler, lim watch.Limits) string {
		srv, errc := watch.Serve(ln, h, log, lim)
		servers = append(servers, srv)
		addr := ln.Addr().String()
		go func() { serveErr <- fmt.Errorf("serving %s: %w", addr, <-errc) }()
		return addr
	}
	if ln != nil {
		listening = serve(ln, w.Handler(), watch.DefaultLimits)
	}
	if healthLn != nil {
		healthListening = serve(healthLn, w.HealthHandler(), watch.HealthLimits)
	}
	attrs := []any{"profile", p.Name, "interval", f.interval.String(), "listen", listening}
	if healthListening != "" {
		attrs = append(attrs, "health_listen", healthListening)
	}
	log.Info("watching", append(attrs, "netns", env.NS().ID())...)

	done := make(chan struct{})
	go func() { w.Run(ctx); close(done) }()
	select {
	case <-ctx.Done():
	case err := <-serveErr:
		stop()
		<-done
		return fmt.Errorf("watch: %w", err)
	}
	log.Info("stopping", "reason", "signal")
	// A check waiting for another tcpka's lock must not hold up the exit.
	select {
	case <-done:
	case <-time.After(watchShutdown):
	}
	sctx, cancel := context.WithTimeout(context.Background(), watchShutdown)
	defer cancel()
	for _, srv := range servers {
		if err := srv.Shutdown(sctx); err != nil && !errors.Is(err, context.DeadlineExceeded) {
			return fmt.Errorf("watch: shutdown: %w", err)
		}
	}
	return nil
}

// checkListenAddr refuses an address --listen cannot mean, before anything
// is bound: bad input (exit 2) in one line, not Go's "listen tcp: ...".
// An address that is well formed but cannot be bound (in use, not this
// host's) fails later, at the bind (exit 1).
func checkListenAddr(addr string) error {
	host, port, err := net.SplitHostPort(addr)
	if err != nil {
		return errors.New("want HOST:PORT, e.g. 127.0.0.1:9977 or :9977")
	}
	n, err := strconv.Atoi(port)
	if err != nil || n < 0 || n > 65535 {
		return errors.New("the port must be a number from 0 to 65535")
	}
	if strings.ContainsAny(host, "/ ") {
		return errors.New("the host must be an address or a name")
	}
	return nil
}
