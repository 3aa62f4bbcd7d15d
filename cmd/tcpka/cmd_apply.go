package main

import (
	"github.com/spf13/pflag"
	"github.com/tcpka/tcpka/internal/nsreport"
	"github.com/tcpka/tcpka/internal/profile"
	"github.com/tcpka/tcpka/internal/sysctl"
)

type applyFlags struct {
	dryRun, json bool
}

var cmdApply = &Command{
	Name:      "apply",
	Netns:     true,
	AllNetns:  "apply in every network namespace, one transaction each",
	UsageLine: "apply PROFILE [--dry-run] [--json] [--all-netns | --netns TARGET]",
	Short:     "set the keepalive sysctls from a profile, all keys or none",
	Long: `Validates PROFILE, prints each key old -> new and the detection time old -> new,
then writes the keys that differ, under a lock, and reads them back. If a
write fails, the keys already written get their old values back and both
errors are reported. The values that were there before the first apply are
kept under /run/tcpka so that 'tcpka revert' can restore them.

PROFILE is a shipped profile's name (see 'tcpka profiles') or a path to a
YAML file (anything with a '/' or ending in .yaml/.yml). Writing needs root;
--dry-run does not.

--netns TARGET applies inside one other network namespace; --all-netns in
every namespace 'tcpka show --all-netns' lists, each a transaction of its
own, and exits 1 naming the namespaces where it failed ('tcpka revert
--all-netns' undoes it).`,
	Examples: "tcpka apply ssh --dry-run\nsudo tcpka apply aws-nlb\nsudo tcpka apply ./my-profile.yaml\nsudo tcpka apply aws-nlb --all-netns --dry-run",
	Bind: func(fs *pflag.FlagSet) Runner {
		f := &applyFlags{}
		fs.BoolVar(&f.dryRun, "dry-run", false, "print the changes, write nothing")
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
	outs, visits, err := env.Scope.Transact(sysctl.Request{What: "apply", Want: p.Settings, DryRun: f.dryRun, Record: p.Name})
	if err != nil {
		return err
	}
	if env.Scope.All() {
		return exitFor(nsreport.ApplyAll(out(env, f.json), p, f.dryRun, outs, visits))
	}
	return exitFor(nsreport.ApplyOne(out(env, f.json), p, f.dryRun, outs[0], env.NS().ReadNet()))
}
