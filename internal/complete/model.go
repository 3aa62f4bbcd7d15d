package complete

import (
	"strings"

	"github.com/spf13/pflag"
)

// Kinds of values a completion offers.
const (
	ValNone    = ""        // free text: nothing to offer
	ValProfile = "profile" // shipped profile names, or a YAML file path
	ValCommand = "command" // a tcpka command name
	ValNetns   = "netns"   // a name under /run/netns
	ValDir     = "dir"
	ValFile    = "file"
	ValWords   = "words" // fixed words (Flag/Arg Words)
)

// WordsAnnotation on a flag (pflag.FlagSet.SetAnnotation) lists the
// values it takes; they complete it. The command sets it from the list it
// checks the value against, so the two cannot differ.
const WordsAnnotation = "tcpka-complete-words"

type Flag struct {
	Long, Short string
	Usage       string
	Value       string // "" for a flag without a value (bool), else a val* kind or ValNone
	Words       []string
	TakesValue  bool
}

type Arg struct {
	Kind  string
	Name  string   // as written in UsageLine, e.g. PROFILE
	Words []string // for ValWords
}

type Cmd struct {
	Name  string
	Short string
	Flags []Flag
	Args  []Arg // positional arguments in order
}

// Model is what the scripts are made of: the commands, their flags and
// arguments, and the shipped profile names a PROFILE completes to.
type Model struct {
	Commands []Cmd
	Profiles []string
}

// Names lists the commands in table order.
func (m Model) Names() []string {
	var out []string
	for _, c := range m.Commands {
		out = append(out, c.Name)
	}
	return out
}

// FlagModel describes one flag of a command.
func FlagModel(f *pflag.Flag) Flag {
	varname, usage := pflag.UnquoteUsage(f)
	cf := Flag{Long: f.Name, Short: f.Shorthand, Usage: usage, TakesValue: f.NoOptDefVal == ""}
	if !cf.TakesValue {
		return cf
	}
	switch words := f.Annotations[WordsAnnotation]; {
	case len(words) > 0:
		cf.Value, cf.Words = ValWords, words
	case f.Name == "netns":
		cf.Value = ValNetns
	default:
		cf.Value = KindOf(varname)
	}
	return cf
}

// KindOf maps an argument name from a usage string to what completes it.
func KindOf(name string) string {
	switch strings.ToUpper(name) {
	case "PROFILE":
		return ValProfile
	case "COMMAND":
		return ValCommand
	case "DIR", "DIRECTORY":
		return ValDir
	case "FILE", "PATH":
		return ValFile
	case "NETNS":
		return ValNetns
	}
	return ValNone
}

// PositionalArgs reads the positional arguments out of a UsageLine such as
// "apply PROFILE [--dry-run]", "help [COMMAND]" or "completion bash|zsh|fish":
// flags and the value after a flag are skipped.
func PositionalArgs(name, usageLine string) []Arg {
	toks := strings.Fields(strings.TrimPrefix(usageLine, name))
	var args []Arg
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
			args = append(args, Arg{Kind: ValWords, Name: t, Words: strings.Split(t, "|")})
		default:
			args = append(args, Arg{Kind: KindOf(t), Name: t})
		}
	}
	return args
}
