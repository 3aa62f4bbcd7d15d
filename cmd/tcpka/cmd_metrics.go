package main

import (
	"errors"
	"fmt"
	"io/fs"
	"os"

	"github.com/spf13/pflag"
	"github.com/tcpka/tcpka/internal/caps"
	"github.com/tcpka/tcpka/internal/metrics"
	"github.com/tcpka/tcpka/internal/profile"
	"github.com/tcpka/tcpka/internal/sockdiag"
	"github.com/tcpka/tcpka/internal/sysctl"
	"github.com/tcpka/tcpka/internal/sysctld"
)

type metricsFlags struct {
	textfileDir string
	profile     string
}

var cmdMetrics = &Command{
	Name:      "metrics",
	UsageLine: "metrics [--textfile-dir DIR] [--profile FILE] [--netns TARGET]",
	Netns:     true,
	Short:     "print the keepalive state as Prometheus metrics",
	Long: `Prints the keepalive sysctls, the dead-peer detection time, whether the kernel
matches the installed profile, and build info in the Prometheus text format.

With --textfile-dir, writes DIR/tcpka.prom for node_exporter's textfile
collector instead, atomically (temp file in DIR, fsync, rename): the
collector never reads half a file. tcpka-metrics.timer runs this every
minute. No installed profile is not an error: tcpka_profile_installed is 0.
Needs no privileges beyond writing DIR; as root it also counts the live TCP
sockets by keepalive state (tcpka_sockets{keepalive="off|sysctl|own"}, the
numbers of tcpka sockets --summary --processes).`,
	Examples: "tcpka metrics\ntcpka metrics --textfile-dir /var/lib/prometheus/node-exporter",
	Bind: func(fs *pflag.FlagSet) Runner {
		f := &metricsFlags{}
		fs.StringVar(&f.textfileDir, "textfile-dir", "", "write `DIR`/tcpka.prom atomically instead of printing")
		fs.StringVar(&f.profile, "profile", sysctld.ProfileFile, "compare with the installed profile `FILE`")
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
	v, err := env.Kernel.Read()
	if err != nil {
		return fmt.Errorf("metrics: %w", err)
	}
	snap, err := metricsBase(env)
	if err != nil {
		return err
	}
	snap.Samples[0].Values, snap.Samples[0].Net = v, env.Kernel.ReadNet()
	if _, err := os.Stat(f.profile); err == nil {
		p, err := profile.LoadFile(f.profile)
		if err != nil {
			return fmt.Errorf("metrics: installed profile: %w", err)
		}
		snap.Installed = &metrics.Installed{Name: p.Name, Drifted: len(sysctl.Drift(p.Settings, v))}
	} else if !errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("metrics: installed profile: %w", err)
	}
	// else no installed profile: tcpka_profile_installed 0, not an error
	if f.textfileDir != "" {
		if err := metrics.WriteTextfile(f.textfileDir, snap); err != nil {
			return fmt.Errorf("metrics: %w", err)
		}
		return nil
	}
	return metrics.Write(env.Stdout, snap)
}

// metricsBase is what tcpka metrics and tcpka watch report besides the
// values and the profile: build info and, as root on the real /proc, the
// live socket counts of the namespace from the same scan as tcpka sockets
// --summary --processes. Telling sockets that follow the sysctls from those
// with their own values needs each socket's options through pidfd_getfd;
// without root the counts are left out, never estimated.
func metricsBase(env *Env) (metrics.Snapshot, error) {
	b := readBuildInfo()
	snap := metrics.Snapshot{
		Samples:   []metrics.Sample{{}},
		Version:   b.Version,
		Revision:  b.Revision,
		GoVersion: b.GoVersion,
	}
	if !env.Kernel.RealProc() || !caps.Has(caps.SysPtrace, caps.NetAdmin) {
		return snap, nil
	}
	c, err := socketCounts(env)
	if err != nil {
		return snap, fmt.Errorf("metrics: sockets: %w", err)
	}
	snap.Samples[0].Sockets = &c
	return snap, nil
}

// socketCounts counts the namespace's established sockets by keepalive state.
func socketCounts(env *Env) (sockdiag.Counts, error) {
	sys, err := env.Kernel.Read()
	if err != nil {
		return sockdiag.Counts{}, err
	}
	owners, err := sockdiag.ReadOwners(env.ProcRoot())
	if err != nil {
		return sockdiag.Counts{}, err
	}
	opts := sockdiag.NewOptionReader()
	defer opts.Close()
	net := env.Kernel.ReadNet()
	var c sockdiag.Counts
	err = env.Kernel.In(func(sysctl.FS) error {
		var err error
		c, err = sockdiag.Count(sockdiag.Kernel{}, owners, opts, sys, net)
		return err
	})
	return c, err
}
