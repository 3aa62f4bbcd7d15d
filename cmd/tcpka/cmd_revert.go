package main

import (
	"errors"
	"fmt"
	"os"

	"github.com/spf13/pflag"
	"github.com/tcpka/tcpka/internal/sysctl"
)

var (
	revertDryRun bool
	revertJSON   bool
)

var cmdRevert = &Command{
	Name:      "revert",
	Netns:     true,
	UsageLine: "revert [--dry-run] [--json]",
	Short:     "restore the values from before the first tcpka apply",
	Long: `Restores the three keys to what they were before tcpka first changed them in
this network namespace (since boot, or since the last revert), as one
transaction, and forgets the record. Says so when there is nothing to revert.`,
	Examples: "sudo tcpka revert",
	Flags: func(fs *pflag.FlagSet) {
		fs.BoolVar(&revertDryRun, "dry-run", false, "print the changes, write nothing")
		fs.BoolVar(&revertJSON, "json", false, "print one JSON object")
	},
	Run: runRevert,
}

type revertJSONOut struct {
	Reverted bool         `json:"reverted"`
	DryRun   bool         `json:"dry_run"`
	Profile  string       `json:"profile,omitempty"`
	Changes  []changeJSON `json:"changes"`
}

func runRevert(env *Env, args []string) error {
	if len(args) > 0 {
		return usagef("takes no arguments, got %q", args[0])
	}
	if !revertDryRun {
		if err := env.canWrite("revert"); err != nil {
			return err
		}
	}
	rec, err := sysctl.LoadRevert(env.revertPath())
	if errors.Is(err, sysctl.ErrNothingToRevert) {
		if revertJSON {
			return writeJSON(env.Stdout, revertJSONOut{Changes: []changeJSON{}, DryRun: revertDryRun})
		}
		fmt.Fprintln(env.Stdout, "nothing to revert: tcpka has changed nothing in this network namespace since boot or the last revert")
		return nil
	}
	if err != nil {
		return fmt.Errorf("revert: %w", err)
	}
	s := sysctl.FromValues(rec.Before)
	res, err := env.transact("revert", s, revertDryRun, nil)
	if err != nil {
		return err
	}
	if !revertDryRun {
		if err := os.Remove(env.revertPath()); err != nil {
			return fmt.Errorf("revert: values restored, but the record stays: %w", err)
		}
	}
	if revertJSON {
		return writeJSON(env.Stdout, revertJSONOut{Reverted: !revertDryRun, DryRun: revertDryRun, Profile: rec.Profile, Changes: changesJSON(res.Changes)})
	}
	fmt.Fprintf(env.Stdout, "values from before profile %s was applied (%s)\n", rec.Profile, rec.At.Format("2006-01-02 15:04:05 UTC"))
	printChanges(env, s, res, rec.Before)
	switch {
	case revertDryRun:
		fmt.Fprintf(env.Stdout, "dry run: %d %s would change; nothing written\n", len(res.Changes), plural(len(res.Changes), "key"))
	case len(res.Changes) == 0:
		fmt.Fprintln(env.Stdout, "reverted: the kernel already held these values")
	default:
		fmt.Fprintf(env.Stdout, "reverted: %d %s restored\n", len(res.Changes), plural(len(res.Changes), "key"))
	}
	return nil
}
