package main

import (
	"context"
	"fmt"

	"github.com/spf13/pflag"
	"github.com/tcpka/tcpka/internal/caps"
	"github.com/tcpka/tcpka/internal/human"
	"github.com/tcpka/tcpka/internal/keepalive"
	"github.com/tcpka/tcpka/internal/netscope"
	"github.com/tcpka/tcpka/internal/nsreport"
	"github.com/tcpka/tcpka/internal/profile"
	"github.com/tcpka/tcpka/internal/rearm"
	"github.com/tcpka/tcpka/internal/sysctl"
)

type applyFlags struct {
	dryRun, json, rearm bool
}

var cmdApply = &Command{
	Name:      "apply",
	Netns:     true,
	AllNetns:  "apply in every network namespace, one transaction each",
	UsageLine: "apply PROFILE [--dry-run] [--rearm] [--json] [--all-netns | --netns TARGET]",
	Short:     "set the keepalive sysctls from a profile, all keys or none",
	Long: `Validates PROFILE, prints each key old -> new and the detection time old -> new,
then writes the keys that differ, under a lock, and reads them back. If a
write fails, the keys already written get their old values back and both
errors are reported. The values that were there before the first apply are
kept under /run/tcpka so that 'tcpka revert' can restore them.

PROFILE is a shipped profile's name (see 'tcpka profiles') or a path to a
YAML file (anything with a '/' or ending in .yaml/.yml). Writing needs root;
--dry-run does not.

A live connection's keepalive timer keeps the values it was armed with
until it fires: lowering tcp_keepalive_time from 7200 s leaves open
connections up to two hours on the old values. As root, apply says how many
connections do. --rearm re-arms the timer of every live connection that
follows the sysctls (SO_KEEPALIVE off and on again: no per-socket value is
set, sockets with their own TCP_KEEPIDLE or keepalive off are left alone),
so the new values hold now; through one pass of a BPF TCP iterator per
namespace (Linux 5.15+ with BTF), else through pidfd_getfd on each
process's sockets. With --dry-run it counts what it would re-arm.

--netns TARGET applies inside one other network namespace; --all-netns in
every namespace 'tcpka show --all-netns' lists, each a transaction of its
own, and exits 1 naming the namespaces where it failed ('tcpka revert
--all-netns' undoes it).`,
	Examples: "tcpka apply ssh --dry-run\nsudo tcpka apply aws-nlb\nsudo tcpka apply ./my-profile.yaml\nsudo tcpka apply aws-nlb --all-netns --dry-run",
	Bind: func(fs *pflag.FlagSet) Runner {
		f := &applyFlags{}
		fs.BoolVar(&f.dryRun, "dry-run", false, "print the changes, write nothing")
		fs.BoolVar(&f.rearm, "rearm", false, "re-arm live connections' keepalive timers, so the new values hold now (root)")
		fs.BoolVar(&f.json, "json", false, "print one JSON object")
		return func(env *Env, args []string) error { return runApply(env, f, args) }
	},
}

func runApply(env *Env, f *applyFlags, args []string) error {
	if len(args) != 1 {
		return usagef("needs exactly one PROFILE")
	}
	p, err := profile.Load(args[0])
	if err != nil {
		return err
	}
	if f.rearm {
		if !env.Scope.RealProc() {
			return usagef("--rearm needs --proc-root /proc: it reaches live connections of this machine")
		}
		if err := caps.Need("apply --rearm", "to reach live connections with bpf(2) or pidfd_getfd", caps.SysAdmin, caps.NetAdmin, caps.SysPtrace); err != nil {
			return err
		}
	}
	outs, visits, err := env.Scope.Transact(sysctl.Request{What: "apply", Want: p.Settings, DryRun: f.dryRun, Record: p.Name})
	if err != nil {
		return err
	}
	rv := rearmAfter(env, f, outs)
	if env.Scope.All() {
		return exitFor(nsreport.ApplyAll(out(env, f.json), p, f.dryRun, outs, visits, rv))
	}
	if rv != nil && rv.Err != nil && !f.json {
		fmt.Fprintf(env.Stderr, "tcpka: apply: re-arm: %s\n", human.OneLine(rv.Err.Error()))
	}
	return exitFor(nsreport.ApplyOne(out(env, f.json), p, f.dryRun, outs[0], env.NS().ReadNet(), rv))
}

// rearmAfter is the pass over live connections' timers after an apply:
// with --rearm it re-arms them (a dry run counts); otherwise, where the
// apply lowered tcp_keepalive_time and tcpka may look (root, this
// machine's /proc), it counts those still armed with the old values. nil
// when there is nothing to say.
func rearmAfter(env *Env, f *applyFlags, outs []netscope.Outcome) *nsreport.Rearm {
	lowered := false
	for _, o := range outs {
		for _, c := range o.Changes {
			lowered = lowered || (c.Key == keepalive.Time && c.New < c.Old)
		}
	}
	if !f.rearm && (!lowered || !env.Scope.RealProc() || !caps.Has(caps.SysAdmin, caps.NetAdmin, caps.SysPtrace)) {
		return nil
	}
	dry := f.dryRun || !f.rearm
	vs, err := rearm.Scope(context.Background(), env.Scope, rearm.Options{}, dry)
	rv := &nsreport.Rearm{Asked: f.rearm, DryRun: f.dryRun, Visits: vs, Err: err}
	if !f.rearm && err != nil {
		return nil // only a note: say nothing rather than something wrong
	}
	return rv
}
