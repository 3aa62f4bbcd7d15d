// Command tcpka tunes Linux TCP keepalive and says when a dead peer will be
// noticed. This file holds the command table, global flags and exit codes;
// each command lives in a cmd_*.go file of its own: it binds its flags for
// one run, calls the packages that decide, and renders what they return.
//
// Exit status is one table for every command (exitTable, which 'tcpka
// help' and the man page print; exitStatus maps what a command returned
// onto it):
//
//	0  ok; for check, ssh and measure: the kernel matches, the goal is met
//	1  drift (check), a missed goal (ssh, measure), or a change that failed
//	   and was rolled back or never written (apply as non-root or on a
//	   read-only /proc/sys, plan -o onto an existing file without --force)
//	2  usage or invalid input, nothing touched: an unknown command, flag
//	   or profile name, a profile file that is missing or not a valid
//	   profile, a bad flag value (a directory to read or write below, such
//	   as --root, --sysctl-d, -o's or --textfile-dir, that does not exist)
//	3  could not determine: the kernel's values, a network namespace or a
//	   needed file could not be read
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
	"github.com/tcpka/tcpka/internal/atomicfile"
	"github.com/tcpka/tcpka/internal/bootcfg"
	"github.com/tcpka/tcpka/internal/caps"
	"github.com/tcpka/tcpka/internal/enforce"
	"github.com/tcpka/tcpka/internal/human"
	"github.com/tcpka/tcpka/internal/keepalive"
	"github.com/tcpka/tcpka/internal/netns"
	"github.com/tcpka/tcpka/internal/netscope"
	"github.com/tcpka/tcpka/internal/nodetimer"
	"github.com/tcpka/tcpka/internal/plan"
	"github.com/tcpka/tcpka/internal/profile"
	"github.com/tcpka/tcpka/internal/sockdiag"
	"github.com/tcpka/tcpka/internal/sockopt"
	"github.com/tcpka/tcpka/internal/sshcfg"
	"github.com/tcpka/tcpka/internal/sysctl"
	"github.com/tcpka/tcpka/internal/watch"
)

// Command is one tcpka subcommand; help, usage, completion and the man
// page are all made from these fields.
type Command struct {
	Name      string
	UsageLine string // after "tcpka ", e.g. "show [--json]"
	Short     string // one line for the command list
	Long      string // paragraphs for help
	Examples  string // shell lines for help
	// LongFunc, when set, makes Long when help or the man page asks for it:
	// text built from a table (plan's middleboxes) costs nothing at start-up.
	LongFunc func() string
	// Netns: the command takes the global --netns TARGET.
	Netns bool
	// AllNetns, when set, is the help of the command's --all-netns: the
	// scope it gets is then every network namespace.
	AllNetns string
	// Bind defines the command's flags on a fresh set and returns the
	// function that runs the command with them: flag values live in that
	// closure, one per run, never in package variables.
	Bind func(fs *pflag.FlagSet) Runner
}

// long is the command's Long text.
func (c *Command) long() string {
	if c.LongFunc != nil {
		return c.LongFunc()
	}
	return c.Long
}

// Runner runs a command with its bound flags.
type Runner func(env *Env, args []string) error

// commands is the command table, in the order help lists it.
var commands []*Command

func init() {
	commands = []*Command{cmdShow, cmdApply, cmdCheck, cmdRevert, cmdProfiles, cmdSockets, cmdMeasure, cmdEnforce, cmdRender, cmdInstall, cmdUninstall, cmdPlan, cmdSSH, cmdMetrics, cmdWatch, cmdCompletion, cmdVersion, cmdHelp}
}

// Exit codes: the table in the package comment.
const (
	exitOK      = 0 // ok; the kernel matches, the goal is met
	exitFailure = 1 // drift, a missed goal, or a change that failed
	exitUsage   = 2 // usage or invalid input: nothing was touched
	exitUnknown = 3 // could not determine: kernel, namespace or file unreadable
)

// exitTable is the exit status section of 'tcpka help' and the man page.
// Each line fits the 80-column help.
var exitTable = []struct {
	Code  int
	Lines []string
}{
	{exitOK, []string{"success; check: the kernel matches; ssh, measure: the goal is met"}},
	{exitFailure, []string{
		"drift (check), a missed goal (ssh, measure), or a change that failed",
		"and was rolled back or never written (apply without root or on a",
		"read-only /proc/sys, plan -o onto an existing FILE without --force)"}},
	{exitUsage, []string{
		"usage or invalid input, nothing touched: an unknown command, flag or",
		"profile name, a profile file missing or not a valid profile, a bad",
		"flag value"}},
	{exitUnknown, []string{
		"could not determine: the kernel's values, a network namespace",
		"(--netns) or a needed file could not be read"}},
}

// The one table from the packages' sentinel errors to exit codes: every
// exported Err* of internal/ is in exactly one list (a test parses the tree
// and holds it so), checked in this order, so an error that wraps a
// sentinel of a more specific list gets its code.

// invalidInput are the sentinels of input that is wrong, a target the user
// named that does not exist included: exit 2, nothing touched.
var invalidInput = []error{
	profile.ErrInvalid, profile.ErrUnknown, profile.ErrNotFound, profile.ErrUnsafe,
	keepalive.ErrOutOfRange, sockopt.ErrInvalid, enforce.ErrNoValues,
	netns.ErrBadSpec, netns.ErrNotNetns, netns.ErrNotExist, netns.ErrExited, netscope.ErrExclusive,
	plan.ErrUnknownPath, plan.ErrTimeoutRange, plan.ErrImpossible, plan.ErrNothingAsked,
	sshcfg.ErrInvalid, sshcfg.ErrImpossible, sshcfg.ErrNoSessions,
	bootcfg.ErrBadRoot, bootcfg.ErrGoRun, bootcfg.ErrHidden,
	atomicfile.ErrNoDir, atomicfile.ErrNotDir, atomicfile.ErrIsDir, atomicfile.ErrNotRegular, atomicfile.ErrTooLarge,
}

// undetermined are the sentinels of what could not be read: exit 3.
var undetermined = []error{
	sysctl.ErrRead, sysctl.ErrMalformed, netscope.ErrNamespace, profile.ErrUnreadable,
	sshcfg.ErrUnreadable, sshcfg.ErrMissingKey, sshcfg.ErrNotInstalled, sshcfg.ErrNoSSH, sockdiag.ErrUnavailable,
	sockdiag.ErrNoDestroy, nodetimer.ErrNotPermitted, nodetimer.ErrUnreadable,
}

// failed are the sentinels of a change that failed, was refused or rolled
// back, or a process that went away: exit 1, as any other error.
var failed = []error{
	caps.ErrPrivilege,
	sysctl.ErrRolledBack, sysctl.ErrVerify, sysctl.ErrPermission, sysctl.ErrReadOnly, sysctl.ErrLocked,
	sysctl.ErrNotExist, sysctl.ErrNothingToRevert, netscope.ErrWatched, watch.ErrDrift,
	atomicfile.ErrExist, atomicfile.ErrPermission, atomicfile.ErrReadOnly, atomicfile.ErrUnsafe, atomicfile.ErrSymlink,
	bootcfg.ErrChanged, bootcfg.ErrEnabled, bootcfg.ErrForeign, plan.ErrRoundTrip,
	enforce.ErrKernelTooOld, enforce.ErrNoCgroup2, enforce.ErrNotEnforced, enforce.ErrNotOurs, enforce.ErrPermission, enforce.ErrUnit,
	sockdiag.ErrGone, sockdiag.ErrNotPermitted, sockopt.ErrNoSuchFD, sockopt.ErrNotPermitted, sockopt.ErrNotSocket, sockopt.ErrNotTCP, sockopt.ErrProcessGone,
}

// exitStatus is the one map from what a command returned to the exit
// table: a code the command chose after printing its own explanation
// (check's drift, measure's miss), then bad input, then what could not be
// read; any other error is a failure.
func exitStatus(err error) int {
	var code exitCode
	var usage usageError
	var input inputError
	switch {
	case err == nil:
		return exitOK
	case errors.As(err, &code):
		return int(code)
	case errors.As(err, &usage), errors.As(err, &input), isAny(err, invalidInput):
		return exitUsage
	case isAny(err, undetermined):
		return exitUnknown
	case isAny(err, failed):
		return exitFailure
	}
	return exitFailure // anything else fails too

}

func isAny(err error, sentinels []error) bool {
	for _, s := range sentinels {
		if errors.Is(err, s) {
			return true
		}
	}
	return false
}

// Env is what a command runs with: its output streams and the one handle,
// bound before the command starts to its namespaces (--netns TARGET,
// --all-netns, or tcpka's own), the proc root and the run directory.
type Env struct {
	Stdout io.Writer
	Stderr io.Writer
	// Scope is the namespace, or every namespace, the command reads and
	// writes, with the roots it reads them through.
	Scope *netscope.Scope
}

// NS is the one namespace of the scope: what commands that act on one
// namespace only (sockets, enforce, measure) read.
func (e *Env) NS() *netscope.NS { return e.Scope.NS() }

// ProcRoot is where procfs is read (--proc-root).
func (e *Env) ProcRoot() string { return e.Scope.ProcRoot() }

// globals are the flags every command takes.
type globals struct {
	procRoot string
	runDir   string
	netns    string
	allNetns bool
}

// usageError is a mistake on the command line: exit 2, printed with the
// usage line.
type usageError struct{ msg string }

func (e usageError) Error() string { return e.msg }

func usagef(format string, args ...any) error { return usageError{fmt.Sprintf(format, args...)} }

// inputError is input main itself refuses where no package sentinel says
// so (a flag value that names nothing, an ask measure cannot time): exit
// 2, printed as it is, without the usage line.
type inputError struct{ err error }

func (e inputError) Error() string { return e.err.Error() }
func (e inputError) Unwrap() error { return e.err }

func inputf(format string, args ...any) error { return inputError{fmt.Errorf(format, args...)} }

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
func addGlobalFlags(fs *pflag.FlagSet, g *globals, c *Command) {
	if c.AllNetns != "" {
		fs.BoolVar(&g.allNetns, "all-netns", false, c.AllNetns)
	}
	fs.StringVar(&g.procRoot, "proc-root", "/proc", "use /proc/sys and /proc/PID below `DIR` instead of /proc (e.g. a host's /proc mounted into a container)")
	fs.StringVar(&g.runDir, "run-dir", "/run", "keep the lock and revert state below `DIR` (for tests)")
	if c.Netns {
		fs.StringVar(&g.netns, "netns", "", "act inside network namespace `TARGET`: a name under /run/netns, a path (/proc/PID/ns/net) or pid:N")
	}
	// Hidden from every command's help: only tests move the state.
	_ = fs.MarkHidden("run-dir")
}

// flags builds the command's flags plus the global ones for one run.
func (c *Command) flags(g *globals) (*pflag.FlagSet, Runner) {
	fs := newFlagSet(c.Name)
	var run Runner
	if c.Bind != nil {
		run = c.Bind(fs)
	}
	addGlobalFlags(fs, g, c)
	return fs, run
}

// flagSet is the command's flag set alone, for help, completion and man.
func (c *Command) flagSet() *pflag.FlagSet {
	fs, _ := c.flags(&globals{})
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
	var g globals
	fs, runner := cmd.flags(&g)
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
	// The one handle: a bad --netns target is one clear line and nothing
	// else happens.
	scope, err := netscope.Open(netscope.Roots{Proc: g.procRoot, Run: g.runDir}, g.netns, g.allNetns)
	switch {
	case errors.Is(err, netscope.ErrExclusive):
		fmt.Fprintf(stderr, "tcpka: %s: %s (usage: tcpka %s)\n", cmd.Name, human.OneLine(err.Error()), cmd.UsageLine)
		return exitUsage
	case errors.Is(err, netns.ErrBadSpec):
		fmt.Fprintf(stderr, "tcpka: %s: --netns %s (usage: tcpka %s)\n", cmd.Name, human.OneLine(err.Error()), cmd.UsageLine)
		return exitStatus(err)
	case err != nil:
		fmt.Fprintf(stderr, "tcpka: --netns %s: %s\n", human.Safe(g.netns), human.OneLine(err.Error()))
		return exitStatus(err)
	}
	defer scope.Close()
	env := &Env{Stdout: stdout, Stderr: stderr, Scope: scope}
	err = runner(env, fs.Args())
	if f, ok := stdout.(interface{ Flush() error }); ok {
		f.Flush()
	}
	var code exitCode
	var usage usageError
	switch {
	case err == nil, errors.As(err, &code):
		// The command printed its own explanation.
	case errors.As(err, &usage):
		fmt.Fprintf(stderr, "tcpka: %s: %s (usage: tcpka %s)\n", cmd.Name, usage.msg, cmd.UsageLine)
	default:
		fmt.Fprintf(stderr, "tcpka: %s\n", human.OneLine(err.Error()))
	}
	return exitStatus(err)
}

func commandNames() string {
	var names []string
	for _, c := range commands {
		names = append(names, c.Name)
	}
	sort.Strings(names)
	return strings.Join(names, ", ")
}
