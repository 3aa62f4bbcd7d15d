package main

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"

	"github.com/spf13/pflag"
	"github.com/tcpka/tcpka/internal/bootcfg"
	"github.com/tcpka/tcpka/internal/caps"
	"github.com/tcpka/tcpka/internal/metrics"
	"github.com/tcpka/tcpka/internal/profile"
	"github.com/tcpka/tcpka/internal/sockdiag"
	"github.com/tcpka/tcpka/internal/sysctl"
)

type metricsFlags struct {
	textfileDir string
	profile     string
	root        string
	// set reports whether a flag was given on the command line.
	set func(name string) bool
}

var cmdMetrics = &Command{
	Name:      "metrics",
	UsageLine: "metrics [--textfile-dir DIR] [--profile PROFILE] [--netns TARGET]",
	Netns:     true,
	Short:     "print the keepalive state as Prometheus metrics",
	Long: `Prints the keepalive sysctls, the dead-peer detection time, whether the kernel
matches the installed profile, and build info in the Prometheus text format.

With --textfile-dir, writes DIR/tcpka.prom for node_exporter's textfile
collector instead, atomically (temp file in DIR, fsync, rename): the
collector never reads half a file. tcpka-metrics.timer runs this every
minute.

The profile compared with is the installed one, /etc/tcpka/profile.yaml
('tcpka install' writes it); no installed profile is not an error:
tcpka_profile_installed is 0. --profile PROFILE compares with another, a
shipped profile's name or a file as for 'tcpka check PROFILE'; that one
must exist (exit 2, nothing written, when it does not or is not a valid
profile).

Needs no privileges beyond writing DIR; as root it also counts the live TCP
sockets by keepalive state (tcpka_sockets{keepalive="off|sysctl|own"}, the
numbers of tcpka sockets --summary --processes).`,
	Examples: "tcpka metrics\ntcpka metrics --textfile-dir /var/lib/prometheus/node-exporter\ntcpka metrics --profile aws-nlb",
	Bind: func(fs *pflag.FlagSet) Runner {
		f := &metricsFlags{}
		fs.StringVar(&f.textfileDir, "textfile-dir", "", "write `DIR`/tcpka.prom atomically instead of printing")
		fs.StringVar(&f.profile, "profile", bootcfg.ProfileFile, "compare with `PROFILE`, a shipped name or a file, instead of the installed one")
		fs.StringVar(&f.root, "root", "/", "look for the installed profile under `DIR` (for tests)")
		_ = fs.MarkHidden("root")
		f.set = func(name string) bool { return fs.Changed(name) }
		return func(env *Env, args []string) error { return runMetrics(env, *f, args) }
	},
}

func runMetrics(env *Env, f metricsFlags, args []string) error {
	if len(args) > 0 {
		return usagef("takes no arguments, got %q", args[0])
	}
	if f.textfileDir != "" {
		if st, err := os.Stat(f.textfileDir); errors.Is(err, fs.ErrNotExist) {
			return inputf("metrics: --textfile-dir %s: %w", f.textfileDir, errors.Unwrap(err))
		} else if err != nil {
			return fmt.Errorf("metrics: --textfile-dir %s: %w", f.textfileDir, errors.Unwrap(err))
		} else if !st.IsDir() {
			return inputf("metrics: --textfile-dir %s: not a directory", f.textfileDir)
		}
	}
	v, err := env.NS().Read()
	if err != nil {
		return fmt.Errorf("metrics: %w", err)
	}
	info, smp, err := metricsBase(env)
	if err != nil {
		return err
	}
	smp.Values = v
	p, err := metricsProfile(f)
	if err != nil {
		return err
	}
	snap := metrics.NewSnapshot(info, []metrics.Sample{smp}, p, nil)
	if f.textfileDir != "" {
		if err := metrics.WriteTextfile(f.textfileDir, snap); err != nil {
			return fmt.Errorf("metrics: %w", err)
		}
		return nil
	}
	return metrics.Write(env.Stdout, snap)
}

// metricsProfile loads the profile metrics compares with: --profile's, a
// name or a path as any PROFILE, which must exist; else the installed one,
// which may be absent (nil, tcpka_profile_installed 0).
func metricsProfile(f metricsFlags) (*profile.Profile, error) {
	if f.set("profile") {
		p, err := profile.Load(f.profile)
		if err != nil {
			return nil, fmt.Errorf("metrics: --profile %w", err)
		}
		return p, nil
	}
	p, err := profile.LoadFile(filepath.Join(f.root, f.profile))
	switch {
	case errors.Is(err, profile.ErrNotFound):
		return nil, nil
	case err != nil:
		return nil, fmt.Errorf("metrics: installed profile: %w", err)
	}
	return p, nil
}

// metricsBase is what tcpka metrics and tcpka watch report besides the
// values and the profile: build info, the namespace's retransmission
// parameters and, as root on the real /proc, its live socket counts from
// the same scan as tcpka sockets --summary --processes. Telling sockets
// that follow the sysctls from those with their own values needs each
// socket's options through pidfd_getfd; without root the counts are left
// out, never estimated.
func metricsBase(env *Env) (metrics.Info, metrics.Sample, error) {
	b := readBuildInfo()
	info := metrics.Info{Version: b.Version, Revision: b.Revision, GoVersion: b.GoVersion}
	smp := metrics.Sample{Net: env.NS().ReadNet()}
	if !env.Scope.RealProc() || !caps.Has(caps.SysPtrace, caps.NetAdmin) {
		return info, smp, nil
	}
	c, err := socketCounts(env)
	if err != nil {
		return info, smp, fmt.Errorf("metrics: sockets: %w", err)
	}
	smp.Sockets = &c
	return info, smp, nil
}

// socketCounts counts the namespace's established sockets by keepalive state.
func socketCounts(env *Env) (sockdiag.Counts, error) {
	sys, err := env.NS().Read()
	if err != nil {
		return sockdiag.Counts{}, err
	}
	owners, err := sockdiag.ReadOwners(env.ProcRoot())
	if err != nil {
		return sockdiag.Counts{}, err
	}
	opts := sockdiag.NewOptionReader()
	defer opts.Close()
	net := env.NS().ReadNet()
	var c sockdiag.Counts
	err = env.NS().In(func(sysctl.FS) error {
		var err error
		c, err = sockdiag.Count(sockdiag.Netlink{}, owners, opts, sys, net)
		return err
	})
	return c, err
}
