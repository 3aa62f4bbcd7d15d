package main

import (
	"fmt"

	"github.com/spf13/pflag"
	"github.com/tcpka/tcpka/internal/nsreport"
	"github.com/tcpka/tcpka/internal/profile"
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
		return exitFor(nsreport.CheckAll(out(env, f.json), p, args[0], rs, visits))
	}
	st := env.Scope.State()
	return exitFor(nsreport.CheckOne(out(env, f.json), p, args[0], rs[0], env.NS().ReadNet(), st))
}
