package main

import (
	"sort"
	"strings"

	"github.com/spf13/pflag"
	"github.com/tcpka/tcpka/internal/complete"
	"github.com/tcpka/tcpka/internal/profile"
)

var cmdCompletion = &Command{
	Name:      "completion",
	UsageLine: "completion bash|zsh|fish",
	Short:     "print a shell completion script",
	Long: `Prints a completion script for bash, zsh or fish, made from tcpka's command
table: command names, each command's flags, shipped profile names where a
PROFILE goes (files too, once the word has a '/'), and the network namespaces
under /run/netns for --netns. Packages install it; by hand:

  tcpka completion bash > /etc/bash_completion.d/tcpka
  tcpka completion zsh > "${fpath[1]}/_tcpka"
  tcpka completion fish > ~/.config/fish/completions/tcpka.fish`,
	Examples: "source <(tcpka completion bash)",
	Bind:     func(*pflag.FlagSet) Runner { return runCompletion },
}

func runCompletion(env *Env, args []string) error {
	if len(args) != 1 {
		return usagef("needs one shell: bash, zsh or fish")
	}
	switch args[0] {
	case "bash":
		complete.Bash(env.Stdout, completionModel())
	case "zsh":
		complete.Zsh(env.Stdout, completionModel())
	case "fish":
		complete.Fish(env.Stdout, completionModel())
	default:
		return usagef("unknown shell %q: bash, zsh or fish", args[0])
	}
	return nil
}

// completionModel reads the command table and each command's flag set.
func completionModel() complete.Model {
	m := complete.Model{Profiles: profileNames()}
	for _, c := range commands {
		cc := complete.Cmd{Name: c.Name, Short: c.Short, Args: complete.PositionalArgs(c.Name, c.UsageLine)}
		fs := c.flagSet()
		fs.BoolP("help", "h", false, "show help for this command")
		fs.VisitAll(func(f *pflag.Flag) {
			if !f.Hidden {
				cc.Flags = append(cc.Flags, complete.FlagModel(f))
			}
		})
		m.Commands = append(m.Commands, cc)
	}
	return m
}

func commandList() []string { return completionModel().Names() }

func profileNames() []string {
	n := profile.ShippedNames()
	sort.Strings(n)
	return n
}

// completesTo makes completion offer words after flag name. Pass the list
// the command checks the value against, so the two cannot differ.
func completesTo(fs *pflag.FlagSet, name string, words []string) {
	_ = fs.SetAnnotation(name, complete.WordsAnnotation, words)
}

// oneOf is "a, b or c", for an error that lists the values a flag takes.
func oneOf(words []string) string {
	if len(words) < 2 {
		return strings.Join(words, "")
	}
	return strings.Join(words[:len(words)-1], ", ") + " or " + words[len(words)-1]
}
