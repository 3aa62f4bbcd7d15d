// Command tcpka tunes Linux TCP keepalive and says when a dead peer will be
// noticed. This file holds the command table, global flags and exit codes;
// each command lives in a cmd_*.go file of its own and calls a package.
package main

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"os"
	"sort"
	"strings"

	"github.com/spf13/pflag"
	"github.com/tcpka/tcpka/internal/netns"
)

// Command is one tcpka subcommand; help, usage and the man page are all
// made from these fields.
type Command struct {
	Name      string
	UsageLine string // after "tcpka ", e.g. "show [--json]"
	Short     string // one line for the command list
	Long      string // paragraphs for help
	Examples  string // shell lines for help
	// Flags defines the command's own flags on a fresh set; each run (and
	// help, completion, man) builds the set anew.
	Flags func(fs *pflag.FlagSet)
	// Netns: the command takes the global --netns TARGET.
	Netns bool
	Run   func(env *Env, args []string) error
}

// commands is the command table, in the order help lists it.
var commands []*Command

func init() {
	commands = []*Command{cmdShow, cmdApply, cmdCheck, cmdRevert, cmdProfiles, cmdSockets, cmdMeasure, cmdEnforce, cmdRender, cmdInstall, cmdUninstall, cmdPlan, cmdSSH, cmdMetrics, cmdWatch, cmdCompletion, cmdVersion, cmdHelp}
}

// Exit codes.
const (
	exitOK      = 0
	exitFailure = 1
	exitUsage   = 2
)

// Env is what a command runs with: output streams and the global flags.
type Env struct {
	Stdout io.Writer
	Stderr io.Writer
	// ProcRoot is where procfs is read (hidden --proc-root, for tests).
	ProcRoot string
	// RunDir holds the apply lock and revert state (hidden --run-dir).
	RunDir string
	// Netns is the global --netns TARGET ("" = tcpka's own namespace);
	// run resolves it into target before the command runs (see netns.go).
	Netns  string
	target *netns.NS
}

// usageError is a mistake on the command line: exit 2.
type usageError struct{ msg string }

func (e usageError) Error() string { return e.msg }

func usagef(format string, args ...any) error { return usageError{fmt.Sprintf(format, args...)} }

// exitCode ends the program with a code after the command printed its own
// explanation (check's drift, measure's miss).
type exitCode int

func (e exitCode) Error() string { return fmt.Sprintf("exit %d", int(e)) }

func newFlagSet(name string) *pflag.FlagSet {
	fs := pflag.NewFlagSet(name, pflag.ContinueOnError)
	fs.SortFlags = false
	fs.SetOutput(io.Discard)
	return fs
}

// addGlobalFlags puts the flags every command takes on fs, and --netns on
// the commands that act on one namespace's sysctls or sockets (elsewhere it
// would be accepted and silently mean nothing).
func addGlobalFlags(fs *pflag.FlagSet, env *Env, netns bool) {
	fs.StringVar(&env.ProcRoot, "proc-root", "/proc", "use procfs mounted at `DIR` (e.g. the host's /proc/sys/net bind-mounted in a container)")
	fs.StringVar(&env.RunDir, "run-dir", "/run", "keep the lock and revert state below `DIR` (for tests)")
	if netns {
		fs.StringVar(&env.Netns, "netns", "", "act inside network namespace `TARGET`: a name under /run/netns, a path (/proc/PID/ns/net) or pid:N")
	}
	// Hidden from every command's help, where it is noise for most users;
	// documented in the README for containers (the DaemonSet uses it).
	_ = fs.MarkHidden("proc-root")
	_ = fs.MarkHidden("run-dir")
}

// flagSet builds the command's flags plus the global ones, bound to env.
func (c *Command) flagSet(env *Env) *pflag.FlagSet {
	fs := newFlagSet(c.Name)
	if c.Flags != nil {
		c.Flags(fs)
	}
	addGlobalFlags(fs, env, c.Netns)
	return fs
}

func lookup(name string) *Command {
	for _, c := range commands {
		if c.Name == name {
			return c
		}
	}
	return nil
}

func main() { os.Exit(main1()) }

// main1 runs tcpka with os.Args and returns the exit code; testscript calls
// it directly.
func main1() int {
	out := bufio.NewWriter(os.Stdout)
	defer out.Flush()
	return run(os.Args[1:], out, os.Stderr)
}

func run(args []string, stdout io.Writer, stderr io.Writer) int {
	env := &Env{Stdout: stdout, Stderr: stderr}
	if len(args) == 0 {
		printCommandList(stderr)
		return exitUsage
	}
	name := args[0]
	switch name {
	case "-h", "--help":
		printCommandList(stdout)
		return exitOK
	}
	cmd := lookup(name)
	if cmd == nil {
		fmt.Fprintf(stderr, "tcpka: unknown command %q: commands are %s\n", name, commandNames())
		return exitUsage
	}
	fs := cmd.flagSet(env)
	help := fs.BoolP("help", "h", false, "show help for this command")
	_ = fs.MarkHidden("help")
	if err := fs.Parse(args[1:]); err != nil {
		fmt.Fprintf(stderr, "tcpka: %s: %v (usage: tcpka %s)\n", cmd.Name, err, cmd.UsageLine)
		return exitUsage
	}
	if *help {
		printHelp(stdout, cmd)
		return exitOK
	}
	if code, ok := env.resolveNetns(cmd, stderr); !ok {
		return code
	}
	defer env.target.Close()
	err := cmd.Run(env, fs.Args())
	if f, ok := stdout.(interface{ Flush() error }); ok {
		f.Flush()
	}
	var code exitCode
	var usage usageError
	switch {
	case err == nil:
		return exitOK
	case errors.As(err, &code):
		return int(code)
	case errors.As(err, &usage):
		fmt.Fprintf(stderr, "tcpka: %s: %s (usage: tcpka %s)\n", cmd.Name, usage.msg, cmd.UsageLine)
		return exitUsage
	default:
		fmt.Fprintf(stderr, "tcpka: %s\n", oneLine(err.Error()))
		return exitFailure
	}
}

// oneLine keeps an error to one line on stderr, whatever a library put in it.
func oneLine(s string) string {
	return strings.Join(strings.Fields(strings.ReplaceAll(s, "\n", "; ")), " ")
}

func commandNames() string {
	var names []string
	for _, c := range commands {
		names = append(names, c.Name)
	}
	sort.Strings(names)
	return strings.Join(names, ", ")
}
