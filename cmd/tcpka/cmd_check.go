package main

import (
	"fmt"

	"github.com/spf13/pflag"
	"github.com/tcpka/tcpka/internal/detect"
	"github.com/tcpka/tcpka/internal/profile"
	"github.com/tcpka/tcpka/internal/sysctl"
)

var checkJSON, checkAll bool

var cmdCheck = &Command{
	Name:      "check",
	Netns:     true,
	UsageLine: "check PROFILE [--json] [--all-netns | --netns TARGET]",
	Short:     "exit 0 if the kernel matches a profile, 1 if it drifted",
	Long: `Compares the keys PROFILE sets with the kernel's values, like tuned-adm verify.
Prints each key with both values and exits 0 when all match, 1 when any
differs. Needs no privileges for tcpka's own namespace; --netns TARGET checks
another one, --all-netns every one (exit 1 if any drifted or could not be read).`,
	Examples: "tcpka check ssh && echo in place",
	Flags: func(fs *pflag.FlagSet) {
		fs.BoolVar(&checkJSON, "json", false, "print one JSON object")
		fs.BoolVar(&checkAll, "all-netns", false, "check every network namespace")
	},
	Run: runCheck,
}

type checkKeyJSON struct {
	Key     string `json:"key"`
	Kernel  int    `json:"kernel"`
	Profile int    `json:"profile"`
	Match   bool   `json:"match"`
}

type checkJSONOut struct {
	Profile string         `json:"profile"`
	Netns   string         `json:"netns,omitempty"`
	Match   bool           `json:"match"`
	Keys    []checkKeyJSON `json:"keys"`
	Kernel  valuesJSON     `json:"kernel"`
}

func runCheck(env *Env, args []string) error {
	if len(args) != 1 {
		return usagef("needs exactly one PROFILE")
	}
	p, err := profile.Load(args[0])
	if err != nil {
		return err
	}
	if checkAll {
		return checkAllNetns(env, p, args[0])
	}
	cur, err := env.readValues()
	if err != nil {
		return fmt.Errorf("check: %w", err)
	}
	drift := p.Settings.Diff(cur)
	if checkJSON {
		out := checkJSONOut{Profile: p.Name, Netns: env.netnsID(), Match: len(drift) == 0, Kernel: newValuesJSON(cur), Keys: []checkKeyJSON{}}
		for _, k := range sysctl.Keys {
			if n, ok := p.Settings.Lookup(k); ok {
				out.Keys = append(out.Keys, checkKeyJSON{Key: k.Dotted(), Kernel: cur.Get(k), Profile: n, Match: n == cur.Get(k)})
			}
		}
		if err := writeJSON(env.Stdout, out); err != nil {
			return err
		}
	} else {
		w := env.Stdout
		for _, k := range sysctl.Keys {
			n, ok := p.Settings.Lookup(k)
			if !ok {
				continue
			}
			mark := "ok"
			if n != cur.Get(k) {
				mark = "DRIFT: profile " + sysctl.FormatValue(k, n)
			}
			fmt.Fprintf(w, "%s  %s\n", keyColumn(k, cur.Get(k)), mark)
		}
		if len(drift) == 0 {
			fmt.Fprintf(w, "kernel matches profile %s: dead peer detected after %s\n", p.Name, detect.Seconds(keepalive(cur).IdleSeconds()))
		} else {
			fmt.Fprintf(w, "drift: %d of %d %s differ from profile %s (fix: sudo tcpka apply %s)\n",
				len(drift), p.Settings.Len(), plural(p.Settings.Len(), "key"), p.Name, args[0])
		}
	}
	if len(drift) > 0 {
		return exitCode(exitFailure)
	}
	return nil
}
