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
	fmt.Fprintf(w, "\nGlobal flags (every command takes them):\n%s", flagUsages(globalFlags()))
}

func printHelp(w io.Writer, c *Command) {
	fmt.Fprintf(w, "%s\n\n", wrapUsage("usage: tcpka "+c.UsageLine))
	fmt.Fprintf(w, "%s\n", c.Short)
	if long := c.long(); long != "" {
		fmt.Fprintf(w, "\n%s\n", strings.TrimSpace(long))
	}
	own, global := splitFlags(c.flagSet())
	if own.HasAvailableFlags() {
		fmt.Fprintf(w, "\nFlags:\n%s", flagUsages(own))
	}
	if global.HasAvailableFlags() {
		fmt.Fprintf(w, "\nGlobal flags:\n%s", flagUsages(global))
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

// helpWidth is the width help fits in: a terminal's 80 columns.
const helpWidth = 80

// flagUsages lists fs's visible flags as pflag does, "--name VALUE" and
// what it does, wrapped to helpWidth with the descriptions in one column;
// a boolean flag is just its name (pflag would add "[=true|false]").
func flagUsages(fs *pflag.FlagSet) string {
	type row struct{ left, usage string }
	var rows []row
	width := 0
	fs.VisitAll(func(f *pflag.Flag) {
		if f.Hidden {
			return
		}
		left := "      --" + f.Name
		if f.Shorthand != "" {
			left = "  -" + f.Shorthand + ", --" + f.Name
		}
		varname, usage := pflag.UnquoteUsage(f)
		if f.Value.Type() != "bool" && varname != "" {
			left += " " + varname
		}
		if d := f.DefValue; d != "" && d != "false" && d != "0" && d != "[]" && d != "0s" {
			if f.Value.Type() == "string" {
				usage += fmt.Sprintf(" (default %q)", d)
			} else {
				usage += " (default " + d + ")"
			}
		}
		rows = append(rows, row{left, usage})
		width = max(width, len(left))
	})
	// The descriptions start after the longest flag, but never so far
	// right that less than half the width is left for them.
	col := min(width+3, helpWidth/2)
	var b strings.Builder
	for _, r := range rows {
		b.WriteString(r.left)
		if len(r.left)+3 > col {
			b.WriteString("\n" + strings.Repeat(" ", col))
		} else {
			b.WriteString(strings.Repeat(" ", col-len(r.left)))
		}
		for i, l := range wrapWords(r.usage, helpWidth-col) {
			if i > 0 {
				b.WriteString("\n" + strings.Repeat(" ", col))
			}
			b.WriteString(l)
		}
		b.WriteString("\n")
	}
	return b.String()
}

// wrapUsage breaks a usage line at helpWidth between top-level groups
// ("[--json]", "(--pid N | --cgroup DIR)"), never inside one; the lines
// after the first are indented under the command's arguments.
func wrapUsage(s string) string {
	var groups []string
	depth, start := 0, 0
	for i, c := range s {
		switch c {
		case '[', '(':
			depth++
		case ']', ')':
			depth--
		case ' ':
			if depth == 0 {
				groups = append(groups, s[start:i])
				start = i + 1
			}
		}
	}
	groups = append(groups, s[start:])
	indent := "       " // under "tcpka"
	var b strings.Builder
	line := ""
	for _, g := range groups {
		if line != "" && len(line)+1+len(g) > helpWidth {
			b.WriteString(line + "\n")
			line = indent + g
			continue
		}
		if line != "" {
			line += " "
		}
		line += g
	}
	b.WriteString(line)
	return b.String()
}

// wrapWords breaks s into lines of at most width bytes, at spaces (a
// longer word gets a line of its own).
func wrapWords(s string, width int) []string {
	var lines []string
	line := ""
	for _, w := range strings.Fields(s) {
		switch {
		case line == "":
			line = w
		case len(line)+1+len(w) <= width:
			line += " " + w
		default:
			lines = append(lines, line)
			line = w
		}
	}
	return append(lines, line)
}
