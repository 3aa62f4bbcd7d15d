package main

import (
	"errors"
	"fmt"
	"os"

	"github.com/spf13/pflag"
	"github.com/tcpka/tcpka/internal/atomicfile"
	"github.com/tcpka/tcpka/internal/sysctl"
)

type revertFlags struct {
	dryRun, json, allNetns bool
}

var cmdRevert = &Command{
	Name:      "revert",
	Netns:     true,
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
		fs.BoolVar(&f.allNetns, "all-netns", false, "revert every network namespace tcpka has a record of, one transaction each")
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
	if f.allNetns {
		return revertAllNetns(env, f)
	}
	var rec sysctl.RevertRecord
	var res sysctl.Result
	err := env.locked("revert", f.dryRun, func() error {
		d, err := env.State.OpenDir()
		if errors.Is(err, os.ErrNotExist) {
			return sysctl.ErrNothingToRevert
		}
		if err != nil {
			return fmt.Errorf("revert: %w", err)
		}
		defer d.Close()
		return env.Kernel.In(func(fs sysctl.FS) (err error) {
			rec, res, err = revertHere(env.State, d, fs, env.identityHere(), f.dryRun)
			return err
		})
	})
	if errors.Is(err, sysctl.ErrNothingToRevert) {
		if f.json {
			return writeJSON(env.Stdout, revertJSONOut{Changes: []changeJSON{}, DryRun: f.dryRun})
		}
		fmt.Fprintln(env.Stdout, "nothing to revert: tcpka has changed nothing in this network namespace since boot or the last revert")
		return nil
	}
	if err != nil {
		return err
	}
	if f.json {
		return writeJSON(env.Stdout, revertJSONOut{Reverted: !f.dryRun, DryRun: f.dryRun, Profile: rec.Profile, Changes: changesJSON(res.Changes)})
	}
	printUndone(env.Stdout, res, f.dryRun)
	fmt.Fprintf(env.Stdout, "values from before profile %s was applied (%s)\n", rec.Profile, rec.At.Format("2006-01-02 15:04:05 UTC"))
	printChanges(env.Stdout, env.Kernel.ReadNet(), rec.Before, rec.Keys, res, rec.Before)
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

// revertHere restores, in the namespace rw belongs to (the calling thread
// is inside it), the values of the namespace's revert record in d, as one
// transaction, and then forgets the record; sysctl.ErrNothingToRevert when
// there is none. A tcpka watch that keeps a profile applied there would
// undo the revert at its next check: it is refused, and the record kept.
// The caller holds the lock unless dryRun.
func revertHere(st sysctl.State, d *atomicfile.Dir, rw sysctl.KeyReadWriter, id sysctl.NSID, dryRun bool) (sysctl.RevertRecord, sysctl.Result, error) {
	rec, err := sysctl.LoadRevert(d, id)
	if err != nil {
		return rec, sysctl.Result{}, err
	}
	for _, key := range []string{id.Key(), "all"} {
		if pid := st.Leased(key); pid != 0 {
			return rec, sysctl.Result{}, fmt.Errorf("revert: %s keeps a profile applied in this network namespace and would undo the revert: stop it first (systemctl stop tcpka-watch), then run tcpka revert", watchName(pid))
		}
	}
	// Restore exactly what the kernel held, valid for a profile or not.
	res, err := st.Transact(rw, sysctl.Request{What: "revert", Want: rec.Before, Keys: rec.Keys, Exact: true, DryRun: dryRun, NS: id})
	if err != nil || dryRun {
		return rec, res, err
	}
	if err := d.Remove(sysctl.RevertName(id)); err != nil {
		return rec, res, fmt.Errorf("revert: values restored, but the record stays: %w", err)
	}
	return rec, res, nil
}

// watchName names the tcpka watch holding a lease ("tcpka watch (pid 42)").
func watchName(pid int) string {
	if pid > 0 {
		return fmt.Sprintf("tcpka watch (pid %d)", pid)
	}
	return "tcpka watch"
}
