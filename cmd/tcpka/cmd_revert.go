package main

import (
	"github.com/spf13/pflag"
	"github.com/tcpka/tcpka/internal/nsreport"
)

type revertFlags struct {
	dryRun, json bool
}

var cmdRevert = &Command{
	Name:      "revert",
	Netns:     true,
	AllNetns:  "revert every network namespace tcpka has a record of, one transaction each",
	UsageLine: "revert [--dry-run] [--json] [--all-netns | --netns TARGET]",
	Short:     "restore the values from before the first tcpka apply",
	Long: `Restores the keys to what they were before tcpka first changed them in
this network namespace (since boot, or since the last revert), as one
transaction, and forgets the record. Says so when there is nothing to revert.

--netns TARGET reverts inside one other network namespace; --all-netns in
every namespace 'tcpka show --all-netns' lists that tcpka has a record of
(apply --all-netns, watch --all-netns), each a transaction of its own, and
exits 1 naming the namespaces where it failed. A record whose namespace it
does not reach (the namespaces of some processes could not be read) is
named too, and kept.`,
	Examples: "sudo tcpka revert\nsudo tcpka revert --netns blue\nsudo tcpka revert --all-netns --dry-run",
	Bind: func(fs *pflag.FlagSet) Runner {
		f := &revertFlags{}
		fs.BoolVar(&f.dryRun, "dry-run", false, "print the changes, write nothing")
		fs.BoolVar(&f.json, "json", false, "print one JSON object")
		return func(env *Env, args []string) error { return runRevert(env, f, args) }
	},
}

func runRevert(env *Env, f *revertFlags, args []string) error {
	if len(args) > 0 {
		return usagef("takes no arguments, got %q", args[0])
	}
	if env.Scope.All() && !env.Scope.RealProc() {
		return usagef("--all-netns needs --proc-root /proc: revert records name each namespace by an identity only this machine's /proc gives")
	}
	rep, err := env.Scope.Revert(f.dryRun)
	if err != nil {
		return err
	}
	if env.Scope.All() {
		return exitFor(nsreport.RevertAll(out(env, f.json), f.dryRun, rep))
	}
	return exitFor(nsreport.RevertOne(out(env, f.json), f.dryRun, rep.Namespaces[0], env.NS().ReadNet()))
}
