package main

import (
	"fmt"
	"io"
	"strconv"
	"strings"

	"github.com/spf13/pflag"
)

var cmdHelp = &Command{
	Name:      "help",
	UsageLine: "help [COMMAND] [--man]",
	Short:     "show help for tcpka or one command",
	Long: `With no COMMAND, lists the commands; with one, shows its usage, description,
flags and examples (as 'tcpka COMMAND --help' does). With --man, writes the
tcpka(8) man page in roff, made from the same command table.`,
	Examples: "tcpka help apply\ntcpka help --man > tcpka.8 && man -l tcpka.8",
	Bind: func(fs *pflag.FlagSet) Runner {
		man := fs.Bool("man", false, "write the tcpka(8) man page (roff) to stdout")
		return func(env *Env, args []string) error { return runHelp(env, *man, args) }
	},
}

func runHelp(env *Env, helpMan bool, args []string) error {
	if helpMan {
		if len(args) > 0 {
			return usagef("--man takes no COMMAND")
		}
		writeMan(env.Stdout)
		return nil
	}
	switch len(args) {
	case 0:
		printCommandList(env.Stdout)
		return nil
	case 1:
		cmd := lookup(args[0])
		if cmd == nil {
			return usagef("unknown command %q: commands are %s", args[0], commandNames())
		}
		printHelp(env.Stdout, cmd)
		return nil
	}
	return usagef("takes at most one COMMAND")
}

func printCommandList(w io.Writer) {
	fmt.Fprintln(w, "tcpka tunes Linux TCP keepalive and says when a dead peer will be noticed.")
	fmt.Fprintln(w)
	fmt.Fprintln(w, "Usage: tcpka COMMAND [ARGS] [FLAGS]")
	fmt.Fprintln(w)
	width := 0
	for _, c := range commands {
		width = max(width, len(c.Name))
	}
	for _, c := range commands {
		fmt.Fprintf(w, "  %-*s  %s\n", width, c.Name, c.Short)
	}
	fmt.Fprintln(w)
	fmt.Fprintln(w, "PROFILE is a shipped profile's name (tcpka profiles) or a YAML file path;")
	fmt.Fprintln(w, "so is the value of every flag that names a profile (metrics --profile).")
	fmt.Fprintln(w)
	fmt.Fprintln(w, "Exit status, the same for every command:")
	for _, e := range exitTable {
		for i, l := range e.Lines {
			code := " "
			if i == 0 {
				code = strconv.Itoa(e.Code)
			}
			fmt.Fprintf(w, "  %s  %s\n", code, l)
		}
	}
	fmt.Fprintln(w)
	fmt.Fprintln(w, "Run 'tcpka help COMMAND' for details.")
	fmt.Fprintf(w, "\nGlobal flags (every command takes them):\n%s", globalFlags().FlagUsages())
}

func printHelp(w io.Writer, c *Command) {
	fmt.Fprintf(w, "usage: tcpka %s\n\n", c.UsageLine)
	fmt.Fprintf(w, "%s\n", c.Short)
	if long := c.long(); long != "" {
		fmt.Fprintf(w, "\n%s\n", strings.TrimSpace(long))
	}
	own, global := splitFlags(c.flagSet())
	if own.HasAvailableFlags() {
		fmt.Fprintf(w, "\nFlags:\n%s", own.FlagUsages())
	}
	if global.HasAvailableFlags() {
		fmt.Fprintf(w, "\nGlobal flags:\n%s", global.FlagUsages())
	}
	if c.Examples != "" {
		fmt.Fprintln(w, "\nExamples:")
		for _, l := range strings.Split(strings.TrimSpace(c.Examples), "\n") {
			fmt.Fprintf(w, "  %s\n", l)
		}
	}
}

// globalFlags are the flags every command takes: addGlobalFlags without
// --netns, which only some commands take.
func globalFlags() *pflag.FlagSet {
	fs := newFlagSet("global")
	addGlobalFlags(fs, &globals{}, &Command{})
	return fs
}

// isGlobalFlag says whether every command takes the flag.
func isGlobalFlag(name string) bool { return globalFlags().Lookup(name) != nil }

// splitFlags parts a command's flag set into its own flags (--netns
// among them) and the global ones, for help and the man page, which list
// the global ones apart.
func splitFlags(fs *pflag.FlagSet) (own, global *pflag.FlagSet) {
	own, global = newFlagSet(fs.Name()), newFlagSet(fs.Name())
	fs.VisitAll(func(f *pflag.Flag) {
		if isGlobalFlag(f.Name) {
			global.AddFlag(f)
		} else {
			own.AddFlag(f)
		}
	})
	return own, global
}
