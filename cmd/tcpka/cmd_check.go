package main

import (
	"fmt"

	"github.com/spf13/pflag"
	"github.com/tcpka/tcpka/internal/detect"
	"github.com/tcpka/tcpka/internal/human"
	"github.com/tcpka/tcpka/internal/jsonout"
	"github.com/tcpka/tcpka/internal/keepalive"
	"github.com/tcpka/tcpka/internal/profile"
	"github.com/tcpka/tcpka/internal/sysctl"
)

type checkFlags struct {
	json bool
}

var cmdCheck = &Command{
	Name:      "check",
	Netns:     true,
	AllNetns:  "check every network namespace",
	UsageLine: "check PROFILE [--json] [--all-netns | --netns TARGET]",
	Short:     "exit 0 if the kernel matches a profile, 1 if it drifted",
	Long: `Compares the keys PROFILE sets with the kernel's values, like tuned-adm verify.
Prints each key with both values and exits 0 when all match, 1 when any
differs, 2 when PROFILE is not a shipped name or a valid profile file, and 3
when the kernel's values could not be read. Needs no privileges for tcpka's
own namespace; --netns TARGET checks another one (3 if it cannot be opened),
--all-netns every one (1 if any drifted, else 3 if any could not be read).`,
	Examples: "tcpka check ssh && echo in place",
	Bind: func(fs *pflag.FlagSet) Runner {
		f := &checkFlags{}
		fs.BoolVar(&f.json, "json", false, "print one JSON object")
		return func(env *Env, args []string) error { return runCheck(env, f, args) }
	},
}

type checkKeyJSON struct {
	Key     string `json:"key"`
	Kernel  int    `json:"kernel"`
	Profile int    `json:"profile"`
	Match   bool   `json:"match"`
}

type checkJSONOut struct {
	Profile string           `json:"profile"`
	Netns   string           `json:"netns,omitempty"`
	Match   bool             `json:"match"`
	Keys    []checkKeyJSON   `json:"keys"`
	Kernel  jsonout.Settings `json:"kernel"`
	// Interrupted: a transaction a killed tcpka left in this namespace.
	Interrupted *interruptedJSON `json:"interrupted,omitempty"`
}

// checkKeys is the per-key comparison of --json.
func checkKeys(p *profile.Profile, cur keepalive.Settings) []checkKeyJSON {
	out := []checkKeyJSON{}
	for _, k := range sysctl.SetKeys(p.Settings) {
		n := k.Get(p.Settings)
		out = append(out, checkKeyJSON{Key: k.Dotted(), Kernel: k.Get(cur), Profile: n, Match: n == k.Get(cur)})
	}
	return out
}

func runCheck(env *Env, f *checkFlags, args []string) error {
	if len(args) != 1 {
		return usagef("needs exactly one PROFILE")
	}
	p, err := profile.Load(args[0])
	if err != nil {
		return err
	}
	rs, visits, err := env.Scope.Read()
	if err != nil {
		return fmt.Errorf("check: %w", err)
	}
	if env.Scope.All() {
		return checkAllNetns(env, f.json, p, args[0], rs, visits)
	}
	cur := rs[0].Values
	drift := sysctl.Drift(p.Settings, cur)
	interrupted, ij := env.interrupted(rs[0].Identity, cur)
	if f.json {
		out := checkJSONOut{Profile: p.Name, Netns: rs[0].ID, Match: len(drift) == 0, Kernel: jsonout.Of(cur, env.NS().ReadNet()), Keys: checkKeys(p, cur), Interrupted: ij}
		if err := writeJSON(env.Stdout, out); err != nil {
			return err
		}
	} else {
		w := env.Stdout
		keys := sysctl.SetKeys(p.Settings)
		for _, k := range keys {
			n := k.Get(p.Settings)
			mark := "ok"
			if n != k.Get(cur) {
				mark = "DRIFT: profile " + k.Format(n)
			}
			fmt.Fprintf(w, "%s  %s\n", keyColumn(k, k.Get(cur)), mark)
		}
		if interrupted != "" {
			fmt.Fprintln(w, interrupted)
		}
		if len(drift) == 0 {
			fmt.Fprintf(w, "kernel matches profile %s: dead peer detected after %s\n", p.Name, human.Seconds(detect.Idle(cur)))
		} else {
			fmt.Fprintf(w, "drift: %d of %d %s differ from profile %s (fix: sudo tcpka apply %s)\n",
				len(drift), len(keys), plural(len(keys), "key"), p.Name, printable(args[0]))
		}
	}
	if len(drift) > 0 {
		return exitCode(exitFailure)
	}
	return nil
}
