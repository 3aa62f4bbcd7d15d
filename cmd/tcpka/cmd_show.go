package main

import (
	"fmt"

	"github.com/spf13/pflag"
	"github.com/tcpka/tcpka/internal/bootcfg"
	"github.com/tcpka/tcpka/internal/caps"
	"github.com/tcpka/tcpka/internal/enforce"
	"github.com/tcpka/tcpka/internal/human"
	"github.com/tcpka/tcpka/internal/nodetimer"
	"github.com/tcpka/tcpka/internal/nsreport"
	"github.com/tcpka/tcpka/internal/sysctl"
)

type showFlags struct {
	json bool
	root string
}

var cmdShow = &Command{
	Name:      "show",
	Netns:     true,
	AllNetns:  "one row per network namespace on the machine (named and of every process)",
	UsageLine: "show [--json] [--root DIR] [--all-netns | --netns TARGET]",
	Short:     "print the keepalive sysctls and the dead-peer detection time",
	Long: `Prints net.ipv4.tcp_keepalive_time, _intvl and _probes of the current network
namespace and the time an idle connection takes to notice a silently dead
peer: time + intvl * probes. Reading needs no privileges.

The values belong to one network namespace: containers and other namespaces
start at the kernel defaults 7200/75/9 whatever the host is set to.
--netns shows another namespace; --all-netns shows every namespace found
under /run/netns and in /proc/*/ns/net, once each, with its name, a few of
its processes, and a note where it has the kernel defaults or differs from
the host (PID 1's namespace; when PID 1's cannot be read, tcpka says so and
labels none the host's). Without root, tcpka reads its own namespace only:
it says how many namespaces and processes it could not read, and why.`,
	Examples: "tcpka show\ntcpka show --json\nsudo tcpka show --netns blue\nsudo tcpka show --all-netns",
	Bind: func(fs *pflag.FlagSet) Runner {
		f := &showFlags{}
		fs.BoolVar(&f.json, "json", false, "print one JSON object")
		fs.StringVar(&f.root, "root", "/", "resolve the boot section (what the next boot sets, from which file) under `DIR`: an image or a test tree")
		return func(env *Env, args []string) error { return runShow(env, f, args) }
	},
}

func runShow(env *Env, f *showFlags, args []string) error {
	if len(args) > 0 {
		return usagef("takes no arguments, got %q", args[0])
	}
	rs, visits, err := env.Scope.Read()
	if err != nil {
		return fmt.Errorf("show: %w", err)
	}
	if env.Scope.All() {
		return exitFor(nsreport.ShowAll(out(env, f.json), rs, visits))
	}
	r := rs[0]
	v := r.Values
	boot, err := bootcfg.Boot(f.root, v)
	if err != nil {
		return fmt.Errorf("show: boot section: %w", err)
	}
	in := nsreport.ShowIn{Reading: r, Net: env.NS().ReadNet(), Boot: boot, State: env.Scope.State(), Note: enforceNote(env)}
	_ = env.NS().In(func(sysctl.FS) error { in.Timers = nodetimer.Read(env.ProcRoot()); return nil })
	return exitFor(nsreport.ShowOne(out(env, f.json), in))
}

// enforceNote is show's line about active enforcements: "" when there are
// none or they cannot be read (show needs no privileges; reading BPF links
// does), and for a fake proc tree.
func enforceNote(env *Env) string {
	if !env.Scope.RealProc() || !caps.Has(caps.SysAdmin) {
		return ""
	}
	// Counting live attachments needs no cgroup names, so not the
	// mountinfo parse NewStore does for them.
	live, err := enforce.Store{BPFRoot: enforce.DefaultBPFRoot, RunDir: env.Scope.Roots().Run}.Live()
	if err != nil || live == 0 {
		return ""
	}
	return fmt.Sprintf("enforce: new connections in %d %s get a profile's values instead of these (tcpka enforce --list)", live, human.Plural(live, "cgroup"))
}
