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
	"github.com/tcpka/tcpka/internal/human"
	"github.com/tcpka/tcpka/internal/jsonout"
	"github.com/tcpka/tcpka/internal/metrics"
	"github.com/tcpka/tcpka/internal/nsreport"
	"github.com/tcpka/tcpka/internal/profile"
)

type metricsFlags struct {
	textfileDir string
	json        bool
	profile     string
	root        string
	// set reports whether a flag was given on the command line.
	set func(name string) bool
}

var cmdMetrics = &Command{
	Name:      "metrics",
	UsageLine: "metrics [--textfile-dir DIR | --json] [--profile PROFILE] [--all-netns | --netns TARGET]",
	Netns:     true,
	AllNetns:  "one sample per network namespace, labelled netns, and pod_namespace and pod where it is a Kubernetes pod's",
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
		fs.BoolVar(&f.json, "json", false, "print the same families as one JSON object")
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
	if f.json && f.textfileDir != "" {
		return usagef("--json prints; --textfile-dir writes the text format: give one")
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
	p, err := metricsProfile(f)
	if err != nil {
		return err
	}
	info, samples, err := metricsBase(env)
	if err != nil {
		return err
	}
	snap := metrics.NewSnapshot(info, samples, p, nil)
	if f.json {
		fams, err := metrics.JSON(snap)
		if err != nil {
			return err
		}
		return jsonout.Write(env.Stdout, struct {
			Families []metrics.FamilyJSON `json:"families"`
		}{fams})
	}
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
// profile: build info and the samples of the handle's namespaces
// (metrics.Collect), with, as root on the real /proc, the live socket
// counts. Telling sockets that follow the sysctls from those with their
// own values needs each socket's options through pidfd_getfd; without
// root the counts are left out, never estimated. Namespaces that could not
// be read are named on stderr.
func metricsBase(env *Env) (metrics.Info, []metrics.Sample, error) {
	b := readBuildInfo()
	info := metrics.Info{Version: b.Version, Revision: b.Revision, GoVersion: b.GoVersion}
	sockets := env.Scope.RealProc() && caps.Has(caps.SysPtrace, caps.NetAdmin)
	samples, v, err := metrics.Collect(env.Scope, sockets)
	if err != nil {
		return info, nil, fmt.Errorf("metrics: %w", err)
	}
	if env.Scope.All() {
		nsreport.WarnListing(env.Stderr, "metrics", v.Listing)
		if failed := v.Failed(); len(failed) > 0 {
			fmt.Fprintf(env.Stderr, "tcpka: metrics: %d of %d network %s could not be read: no samples for them\n",
				len(failed), len(v.Members), human.Plural(len(v.Members), "namespace"))
		}
	}
	return info, samples, nil
}
