package main

import (
	"fmt"

	"github.com/spf13/pflag"
	"github.com/tcpka/tcpka/internal/profile"
	"github.com/tcpka/tcpka/internal/sysctl"
)

var (
	applyDryRun bool
	applyJSON   bool
	applyAll    bool
)

var cmdApply = &Command{
	Name:      "apply",
	Netns:     true,
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
own, and exits 1 naming the namespaces where it failed.`,
	Examples: "tcpka apply ssh --dry-run\nsudo tcpka apply aws-nlb\nsudo tcpka apply ./my-profile.yaml\nsudo tcpka apply aws-nlb --all-netns --dry-run",
	Flags: func(fs *pflag.FlagSet) {
		fs.BoolVar(&applyDryRun, "dry-run", false, "print the changes, write nothing")
		fs.BoolVar(&applyJSON, "json", false, "print one JSON object")
		fs.BoolVar(&applyAll, "all-netns", false, "apply in every network namespace, one transaction each")
	},
	Run: runApply,
}

// changeJSON is one key's change in --json output.
type changeJSON struct {
	Key string `json:"key"`
	Old int    `json:"old"`
	New int    `json:"new"`
}

type applyJSONOut struct {
	Profile string       `json:"profile"`
	Origin  string       `json:"origin"`
	Netns   string       `json:"netns,omitempty"`
	DryRun  bool         `json:"dry_run"`
	Applied bool         `json:"applied"`
	Changes []changeJSON `json:"changes"`
	Before  valuesJSON   `json:"before"`
	After   valuesJSON   `json:"after"`
}

func changesJSON(cs []sysctl.Change) []changeJSON {
	out := []changeJSON{}
	for _, c := range cs {
		out = append(out, changeJSON{Key: c.Key.Dotted(), Old: c.Old, New: c.New})
	}
	return out
}

func runApply(env *Env, args []string) error {
	if len(args) != 1 {
		return usagef("needs exactly one PROFILE")
	}
	p, err := profile.Load(args[0])
	if err != nil {
		return err
	}
	if applyAll {
		return applyAllNetns(env, p)
	}
	rec := &sysctl.RevertRecord{Profile: p.Name}
	res, err := env.transact("apply", p.Settings, applyDryRun, rec)
	if err != nil {
		return err
	}
	after := p.Settings.Over(res.Before)
	if applyJSON {
		return writeJSON(env.Stdout, applyJSONOut{
			Profile: p.Name, Origin: p.Origin, Netns: env.netnsID(),
			DryRun: applyDryRun, Applied: res.Written,
			Changes: changesJSON(res.Changes),
			Before:  newValuesJSON(res.Before), After: newValuesJSON(after),
		})
	}
	fmt.Fprintf(env.Stdout, "profile %s (%s)\n", p.Name, p.Origin)
	printChanges(env, p.Settings, res, after)
	switch {
	case len(res.Changes) == 0:
		fmt.Fprintf(env.Stdout, "nothing to change: the kernel already matches %s\n", p.Name)
	case applyDryRun:
		fmt.Fprintf(env.Stdout, "dry run: %d %s would change; nothing written\n", len(res.Changes), plural(len(res.Changes), "key"))
	default:
		fmt.Fprintf(env.Stdout, "applied: %d %s written and read back\n", len(res.Changes), plural(len(res.Changes), "key"))
	}
	return nil
}

func plural(n int, word string) string {
	if n == 1 {
		return word
	}
	return word + "s"
}
