package main

import (
	"fmt"

	"github.com/spf13/pflag"
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

type revertJSONOut struct {
	Reverted bool         `json:"reverted"`
	DryRun   bool         `json:"dry_run"`
	Profile  string       `json:"profile,omitempty"`
	Changes  []changeJSON `json:"changes"`
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
		return revertAllNetns(env, f, rep)
	}
	r := rep.Namespaces[0]
	if r.Record == nil {
		if f.json {
			return writeJSON(env.Stdout, revertJSONOut{Changes: []changeJSON{}, DryRun: f.dryRun})
		}
		fmt.Fprintln(env.Stdout, "nothing to revert: tcpka has changed nothing in this network namespace since boot or the last revert")
		return nil
	}
	rec, res := r.Record, r.Result
	if f.json {
		return writeJSON(env.Stdout, revertJSONOut{Reverted: !f.dryRun, DryRun: f.dryRun, Profile: rec.Profile, Changes: changesJSON(res.Changes)})
	}
	printUndone(env.Stdout, res, f.dryRun)
	fmt.Fprintf(env.Stdout, "values from before profile %s was applied (%s)\n", rec.Profile, rec.At.Format("2006-01-02 15:04:05 UTC"))
	printChanges(env.Stdout, env.NS().ReadNet(), rec.Before, rec.Keys, res, rec.Before)
	n := len(res.Changes)
	switch {
	case f.dryRun:
		fmt.Fprintf(env.Stdout, "dry run: %d %s would change; nothing written\n", n, plural(n, "key"))
	case n == 0:
		fmt.Fprintln(env.Stdout, "reverted: the kernel already held these values")
	default:
		fmt.Fprintf(env.Stdout, "reverted: %d %s restored\n", n, plural(n, "key"))
	}
	return nil
}
