package main

import (
	"sort"
	"strings"

	"github.com/spf13/pflag"
	"github.com/tcpka/tcpka/internal/profile"
)

// This file turns the command table into the data that completion scripts
// and the man page are made of, so neither keeps a list of its own.

// Kinds of values a completion offers.
const (
	valNone    = ""        // free text: nothing to offer
	valProfile = "profile" // shipped profile names, or a YAML file path
	valCommand = "command" // a tcpka command name
	valNetns   = "netns"   // a name under /run/netns
	valDir     = "dir"
	valFile    = "file"
	valWords   = "words" // fixed words (compFlag/compArg Words)
)

type compFlag struct {
	Long, Short string
	Usage       string
	Value       string // "" for a flag without a value (bool), else a val* kind or valNone
	TakesValue  bool
}

type compArg struct {
	Kind  string
	Name  string   // as written in UsageLine, e.g. PROFILE
	Words []string // for valWords
}

type compCmd struct {
	Name  string
	Short string
	Flags []compFlag
	Args  []compArg // positional arguments in order
}

// completionModel reads the command table and each command's flag set.
func completionModel() []compCmd {
	var out []compCmd
	for _, c := range commands {
		cc := compCmd{Name: c.Name, Short: c.Short, Args: positionalArgs(c)}
		fs := c.flagSet(&Env{})
		fs.BoolP("help", "h", false, "show help for this command")
		fs.VisitAll(func(f *pflag.Flag) {
			if f.Hidden {
				return
			}
			cc.Flags = append(cc.Flags, flagModel(f))
		})
		out = append(out, cc)
	}
	return out
}

func flagModel(f *pflag.Flag) compFlag {
	varname, usage := pflag.UnquoteUsage(f)
	cf := compFlag{Long: f.Name, Short: f.Shorthand, Usage: usage, TakesValue: f.NoOptDefVal == ""}
	if !cf.TakesValue {
		return cf
	}
	switch {
	case f.Name == "netns":
		cf.Value = valNetns
	default:
		cf.Value = kindOf(varname)
	}
	return cf
}

// kindOf maps an argument name from a usage string to what completes it.
func kindOf(name string) string {
	switch strings.ToUpper(name) {
	case "PROFILE":
		return valProfile
	case "COMMAND":
		return valCommand
	case "DIR", "DIRECTORY":
		return valDir
	case "FILE", "PATH":
		return valFile
	case "NETNS":
		return valNetns
	}
	return valNone
}

// positionalArgs reads the positional arguments out of a UsageLine such as
// "apply PROFILE [--dry-run]", "help [COMMAND]" or "completion bash|zsh|fish":
// flags and the value after a flag are skipped.
func positionalArgs(c *Command) []compArg {
	toks := strings.Fields(strings.TrimPrefix(c.UsageLine, c.Name))
	var args []compArg
	for i := 0; i < len(toks); i++ {
		t := strings.Trim(toks[i], "[]().")
		switch {
		case t == "" || t == "|":
			continue
		case strings.HasPrefix(t, "-"):
			if !strings.Contains(t, "=") && i+1 < len(toks) {
				next := strings.Trim(toks[i+1], "[]")
				if next != "" && !strings.HasPrefix(next, "-") && next != "|" && strings.ToUpper(next) == next {
					i++
				}
			}
		case strings.Contains(t, "|") && strings.ToLower(t) == t:
			args = append(args, compArg{Kind: valWords, Name: t, Words: strings.Split(t, "|")})
		default:
			args = append(args, compArg{Kind: kindOf(t), Name: t})
		}
	}
	return args
}

func commandList() []string {
	var names []string
	for _, c := range commands {
		names = append(names, c.Name)
	}
	return names
}

func profileNames() []string {
	n := profile.ShippedNames()
	sort.Strings(n)
	return n
}
