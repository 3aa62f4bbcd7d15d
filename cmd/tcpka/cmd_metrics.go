package main

import (
	"errors"
	"fmt"
	"io/fs"
	"os"

	"github.com/spf13/pflag"
	"github.com/tcpka/tcpka/internal/metrics"
	"github.com/tcpka/tcpka/internal/profile"
)

// installedProfile is where tcpka.service reads the profile applied at boot.
const installedProfile = "/etc/tcpka/profile.yaml"

var (
	metricsTextfileDir string
	metricsProfile     string
)

// socketSource feeds the tcpka_sockets gauges (metrics_sockets.go); when it
// returns no source (not root), tcpka metrics emits no socket gauges rather
// than made-up ones.
var socketSource func(env *Env) (metrics.SocketSource, error)

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
	Flags: func(fs *pflag.FlagSet) {
		fs.StringVar(&metricsTextfileDir, "textfile-dir", "", "write `DIR`/tcpka.prom atomically instead of printing")
		fs.StringVar(&metricsProfile, "profile", installedProfile, "compare with the installed profile `FILE`")
	},
	Run: runMetrics,
}

func runMetrics(env *Env, args []string) error {
	if len(args) > 0 {
		return usagef("takes no arguments, got %q", args[0])
	}
	if metricsTextfileDir != "" {
		if st, err := os.Stat(metricsTextfileDir); err != nil {
			return fmt.Errorf("metrics: --textfile-dir %s: %w", metricsTextfileDir, errors.Unwrap(err))
		} else if !st.IsDir() {
			return fmt.Errorf("metrics: --textfile-dir %s: not a directory", metricsTextfileDir)
		}
	}
	v, err := env.readValues()
	if err != nil {
		return fmt.Errorf("metrics: %w", err)
	}
	snap, err := metricsBase(env)
	if err != nil {
		return err
	}
	snap.Samples[0].Values = v
	if _, err := os.Stat(metricsProfile); err == nil {
		p, err := profile.LoadFile(metricsProfile)
		if err != nil {
			return fmt.Errorf("metrics: installed profile: %w", err)
		}
		snap.Installed = &metrics.Installed{Name: p.Name, Drifted: len(p.Settings.Diff(v))}
	} else if !errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("metrics: installed profile: %w", err)
	}
	// else no installed profile: tcpka_profile_installed 0, not an error
	if metricsTextfileDir != "" {
		if err := metrics.WriteTextfile(metricsTextfileDir, snap); err != nil {
			return fmt.Errorf("metrics: %w", err)
		}
		return nil
	}
	return metrics.Write(env.Stdout, snap)
}

// metricsBase is what tcpka metrics and tcpka watch report besides the
// values and the profile: build info and, as root, the live socket counts
// of the namespace.
func metricsBase(env *Env) (metrics.Snapshot, error) {
	b := readBuildInfo()
	snap := metrics.Snapshot{
		Samples:   []metrics.Sample{{}},
		Version:   b.Version,
		Revision:  b.Revision,
		GoVersion: b.GoVersion,
	}
	if socketSource == nil {
		return snap, nil
	}
	src, err := socketSource(env)
	if err != nil {
		return snap, fmt.Errorf("metrics: sockets: %w", err)
	}
	if src == nil { // not root: no socket counts rather than guessed ones
		return snap, nil
	}
	c, err := src.SocketCounts()
	if err != nil {
		return snap, fmt.Errorf("metrics: sockets: %w", err)
	}
	snap.Samples[0].Sockets = &c
	return snap, nil
}
