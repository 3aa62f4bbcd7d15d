package main

import (
	"errors"
	"fmt"
	"os"

	"github.com/spf13/pflag"
	"github.com/tcpka/tcpka/internal/sysctl"
)

type revertFlags struct {
	dryRun, json bool
}

var cmdRevert = &Command{
	Name:      "revert",
	Netns:     true,
	UsageLine: "revert [--dry-run] [--json]",
	Short:     "restore the values from before the first tcpka apply",
	Long: `Restores the three keys to what they were before tcpka first changed them in
this network namespace (since boot, or since the last revert), as one
transaction, and forgets the record. Says so when there is nothing to revert.`,
	Examples: "sudo tcpka revert",
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
	if !f.dryRun {
		if err := env.canWrite("revert"); err != nil {
			return err
		}
	}
	name := sysctl.RevertName(env.Kernel.Key())
	d, err := env.State.OpenDir()
	var rec sysctl.RevertRecord
	switch {
	case errors.Is(err, os.ErrNotExist):
		err = sysctl.ErrNothingToRevert
	case err == nil:
		defer d.Close()
		rec, err = sysctl.LoadRevert(d, name)
	}
	if errors.Is(err, sysctl.ErrNothingToRevert) {
		if f.json {
			return writeJSON(env.Stdout, revertJSONOut{Changes: []changeJSON{}, DryRun: f.dryRun})
		}
		fmt.Fprintln(env.Stdout, "nothing to revert: tcpka has changed nothing in this network namespace since boot or the last revert")
		return nil
	}
	if err != nil {
		return fmt.Errorf("revert: %w", err)
	}
	// Restore exactly what the kernel held, valid for a profile or not.
	res, err := env.transact(sysctl.Request{What: "revert", Want: rec.Before, Keys: sysctl.Keys, Exact: true, DryRun: f.dryRun})
	if err != nil {
		return err
	}
	if !f.dryRun {
		if err := d.Remove(name); err != nil {
			return fmt.Errorf("revert: values restored, but the record stays: %w", err)
		}
	}
	if f.json {
		return writeJSON(env.Stdout, revertJSONOut{Reverted: !f.dryRun, DryRun: f.dryRun, Profile: rec.Profile, Changes: changesJSON(res.Changes)})
	}
	fmt.Fprintf(env.Stdout, "values from before profile %s was applied (%s)\n", rec.Profile, rec.At.Format("2006-01-02 15:04:05 UTC"))
	printChanges(env.Stdout, rec.Before, sysctl.Keys, res, rec.Before)
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
