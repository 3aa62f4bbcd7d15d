package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os/signal"
	"syscall"
	"time"

	"github.com/spf13/pflag"
	"github.com/tcpka/tcpka/internal/enforce"
	"github.com/tcpka/tcpka/internal/metrics"
	"github.com/tcpka/tcpka/internal/profile"
	"github.com/tcpka/tcpka/internal/sysctl"
	"github.com/tcpka/tcpka/internal/watch"
)

var (
	watchInterval      time.Duration
	watchListen        string
	watchLogFormat     string
	watchEnforceCgroup string
	watchBPFRoot       string
	watchAllNetns      bool
)

// watchShutdown bounds how long in-flight HTTP requests may delay the exit
// after SIGTERM (the promise is: exit within a second).
const watchShutdown = 500 * time.Millisecond

var cmdWatch = &Command{
	Name:      "watch",
	UsageLine: "watch PROFILE [--interval D] [--listen ADDR] [--log-format text|json] [--all-netns] [--enforce-cgroup DIR]",
	Short:     "keep a profile applied: correct drift, serve /metrics and /healthz",
	Long: `Applies PROFILE, then every --interval reads the three sysctls and writes back
any key that drifted (all or none, under the apply lock), logging one line
per corrected key: which key, from what, to what. Logs go to stderr with
log/slog, as text or JSON lines.

With --listen it serves Prometheus metrics at http://ADDR/metrics (the
keepalive values under the names 'tcpka metrics' uses, and
tcpka_watch_corrections_total per key) and /healthz: 200 "ok" while the
last check succeeded, 503 with the reason when it failed.

With --all-netns every check covers every network namespace on the machine
(found again each time, so new containers are included), one transaction
each; log lines name the namespace. /metrics reports tcpka's own namespace.

With --enforce-cgroup DIR it also keeps the profile's BPF sock_ops program
attached to the cgroup v2 directory DIR (as 'tcpka enforce --cgroup' does),
checking at every interval: a cgroup that was removed and made again (a
service restart, a kubelet pods cgroup) gets it again, logged.

A bad profile, an address it cannot listen on, or a first apply that fails
(no root, read-only /proc/sys) exit 1 before anything is served. SIGTERM or
SIGINT stop it with exit 0 within a second. systemd/tcpka-watch.service
runs it as a service; deploy/kubernetes runs it on every node.`,
	Examples: "sudo tcpka watch aws-nlb --listen 127.0.0.1:9977\nsudo tcpka watch /etc/tcpka/profile.yaml --interval 10s --log-format json",
	Flags: func(fs *pflag.FlagSet) {
		fs.DurationVar(&watchInterval, "interval", 30*time.Second, "check for drift every `D` (at least 1s)")
		fs.StringVar(&watchListen, "listen", "", "serve /metrics and /healthz on `ADDR` (host:port)")
		fs.StringVar(&watchLogFormat, "log-format", "text", "log as `text` or json")
		fs.BoolVar(&watchAllNetns, "all-netns", false, "keep the profile applied in every network namespace")
		fs.StringVar(&watchEnforceCgroup, "enforce-cgroup", "", "also keep the profile enforced on new connections of cgroup `DIR`")
		fs.StringVar(&watchBPFRoot, "bpf-root", "", "bpffs mount point `DIR` (for tests)")
		_ = fs.MarkHidden("bpf-root")
	},
	Run: runWatch,
}

// watchKernel is the netns tcpka runs in, written through env.transact.
// Only the first apply keeps a revert record: a correction must not
// overwrite the values from before tcpka with the drifted ones.
type watchKernel struct {
	env      *Env
	profile  string
	recorded bool
}

func (k *watchKernel) Read() (sysctl.Values, error) { return k.env.sysFS().Read() }

func (k *watchKernel) Apply(s sysctl.Settings) (sysctl.Result, error) {
	var rec *sysctl.RevertRecord
	if !k.recorded {
		rec = &sysctl.RevertRecord{Profile: k.profile}
		k.recorded = true
	}
	return k.env.transact("watch", s, false, rec)
}

func runWatch(env *Env, args []string) error {
	if len(args) != 1 {
		return usagef("needs exactly one PROFILE")
	}
	if watchInterval < time.Second {
		return usagef("--interval %s: must be at least 1s", watchInterval)
	}
	var handler slog.Handler
	switch watchLogFormat {
	case "text":
		handler = slog.NewTextHandler(env.Stderr, nil)
	case "json":
		handler = slog.NewJSONHandler(env.Stderr, nil)
	default:
		return usagef("--log-format %q: must be text or json", watchLogFormat)
	}
	p, err := profile.Load(args[0])
	if err != nil {
		return err
	}
	if err := env.canWrite("watch"); err != nil {
		return err
	}
	var ln net.Listener
	if watchListen != "" {
		if ln, err = net.Listen("tcp", watchListen); err != nil {
			return fmt.Errorf("watch: --listen: %w", err)
		}
		defer ln.Close()
	}
	log := slog.New(handler)
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, syscall.SIGINT)
	defer stop()
	base := func() (metrics.Snapshot, error) { return metricsBase(env) }
	var kernel watch.Kernel = &watchKernel{env: env, profile: p.Name}
	if watchAllNetns {
		kernel = &allNetnsKernel{watchKernel{env: env, profile: p.Name}}
	}
	if watchEnforceCgroup != "" {
		ek := &enforcingKernel{Kernel: kernel, dir: watchEnforceCgroup, store: env.enforceStoreAt(watchBPFRoot), profile: p, log: log}
		kernel = ek
		if sw, ok := ek.Kernel.(watch.Sweeper); ok {
			kernel = &enforcingSweeper{ek, sw}
		}
	}
	w := watch.New(p, watchInterval, kernel, log, base)
	if err := w.Start(); err != nil {
		return err
	}
	var srv *http.Server
	serveErr := make(chan error, 1)
	listening := ""
	if ln != nil {
		srv = &http.Server{Handler: w.Handler(), ReadHeaderTimeout: 5 * time.Second}
		listening = ln.Addr().String()
		go func() { serveErr <- srv.Serve(ln) }()
	}
	log.Info("watching", "profile", p.Name, "interval", watchInterval.String(), "listen", listening, "netns", env.netnsID())

	done := make(chan struct{})
	go func() { w.Run(ctx); close(done) }()
	select {
	case <-ctx.Done():
	case err := <-serveErr:
		stop()
		<-done
		return fmt.Errorf("watch: serving %s: %w", listening, err)
	}
	log.Info("stopping", "reason", "signal")
	// A check waiting for another tcpka's lock must not hold up the exit.
	select {
	case <-done:
	case <-time.After(watchShutdown):
	}
	if srv != nil {
		sctx, cancel := context.WithTimeout(context.Background(), watchShutdown)
		defer cancel()
		if err := srv.Shutdown(sctx); err != nil && !errors.Is(err, context.DeadlineExceeded) {
			return fmt.Errorf("watch: shutdown: %w", err)
		}
	}
	return nil
}

// enforcingKernel keeps the profile's BPF program attached to a cgroup
// ahead of every read and apply of the sysctls. Attach is idempotent
// ("unchanged" when the pinned program already has the values); a cgroup
// made again has a new id, so it gets a new attachment and the stale pin
// is removed. A failure fails the check: /healthz says why.
type enforcingKernel struct {
	watch.Kernel
	dir     string
	store   enforce.Store
	profile *profile.Profile
	log     *slog.Logger
}

func (k *enforcingKernel) ensure() error {
	cg, err := enforce.OpenCgroup(k.dir)
	if err != nil {
		return fmt.Errorf("enforce: %w", err)
	}
	res, err := k.store.Attach(cg, k.profile.Name, k.profile.Settings, false)
	if err != nil {
		return fmt.Errorf("enforce: %w", err)
	}
	if res.Action != "unchanged" {
		k.log.Info("enforcement attached", "cgroup", k.dir, "action", res.Action, "pin", res.Pin, "profile", k.profile.Name)
	}
	return nil
}

func (k *enforcingKernel) Read() (sysctl.Values, error) {
	if err := k.ensure(); err != nil {
		return sysctl.Values{}, err
	}
	return k.Kernel.Read()
}

func (k *enforcingKernel) Apply(s sysctl.Settings) (sysctl.Result, error) {
	if err := k.ensure(); err != nil {
		return sysctl.Result{}, err
	}
	return k.Kernel.Apply(s)
}

// enforcingSweeper is enforcingKernel over watch --all-netns.
type enforcingSweeper struct {
	*enforcingKernel
	sw watch.Sweeper
}

func (k *enforcingSweeper) Sweep(s sysctl.Settings, first bool) ([]watch.Correction, error) {
	if err := k.ensure(); err != nil {
		return nil, err
	}
	return k.sw.Sweep(s, first)
}

// allNetnsKernel is watch --all-netns: Sweep visits every network
// namespace under one lock and runs a transaction in each, as apply
// --all-netns does; Read and Apply are tcpka's own namespace's.
type allNetnsKernel struct{ watchKernel }

func (k *allNetnsKernel) Sweep(s sysctl.Settings, first bool) ([]watch.Correction, error) {
	unlock, err := k.env.lock()
	if err != nil {
		return nil, fmt.Errorf("watch: %w", err)
	}
	defer unlock()
	var out []watch.Correction
	rows, err := k.env.allNetns("watch", func(r *nsRow) error {
		var rec *sysctl.RevertRecord
		if first { // as for one namespace: only the first apply is recorded
			rec = &sysctl.RevertRecord{Profile: k.profile}
		}
		res, err := k.env.transactHere("watch", s, false, rec, k.env.revertPathFor(r.ID()))
		if err != nil {
			return err
		}
		for _, c := range res.Changes {
			out = append(out, watch.Correction{Netns: r.label(), Change: c})
		}
		return nil
	})
	if err != nil {
		return out, err
	}
	if n, failed := failedLabels(rows, func(r nsRow) bool { return r.err != nil }); n > 0 {
		return out, fmt.Errorf("watch: failed in %d of %d network namespaces: %s", n, len(rows), failed)
	}
	return out, nil
}
