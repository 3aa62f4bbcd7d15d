package complete

import (
	"bytes"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/spf13/pflag"
)

func TestPositionalArgs(t *testing.T) {
	tests := []struct {
		name, usage string
		want        []Arg
	}{
		{"apply", "apply PROFILE [--dry-run] [--json] [--all-netns | --netns TARGET]", []Arg{{Kind: ValProfile, Name: "PROFILE"}}},
		{"help", "help [COMMAND]", []Arg{{Kind: ValCommand, Name: "COMMAND"}}},
		{"completion", "completion bash|zsh|fish", []Arg{{Kind: ValWords, Name: "bash|zsh|fish", Words: []string{"bash", "zsh", "fish"}}}},
		{"metrics", "metrics [--textfile-dir DIR] [--profile PROFILE]", nil},
		{"ssh", "ssh [HOST] [--path NAME]", []Arg{{Kind: ValNone, Name: "HOST"}}},
	}
	for _, tt := range tests {
		if got := PositionalArgs(tt.name, tt.usage); !cmp.Equal(got, tt.want) {
			t.Errorf("PositionalArgs(%q) = %+v, want %+v", tt.usage, got, tt.want)
		}
	}
}

func TestFlagModel(t *testing.T) {
	fs := pflag.NewFlagSet("x", pflag.ContinueOnError)
	fs.Bool("json", false, "print JSON")
	fs.String("root", "/", "resolve under `DIR`")
	fs.String("netns", "", "act inside `TARGET`")
	fs.String("state", "established", "TCP state `S`")
	_ = fs.SetAnnotation("state", WordsAnnotation, []string{"established", "all"})
	tests := map[string]Flag{
		"json":  {Long: "json", Usage: "print JSON"},
		"root":  {Long: "root", Usage: "resolve under DIR", Value: ValDir, TakesValue: true},
		"netns": {Long: "netns", Usage: "act inside TARGET", Value: ValNetns, TakesValue: true},
		"state": {Long: "state", Usage: "TCP state S", Value: ValWords, Words: []string{"established", "all"}, TakesValue: true},
	}
	for name, want := range tests {
		if got := FlagModel(fs.Lookup(name)); !cmp.Equal(got, want) {
			t.Errorf("FlagModel(%s) = %+v, want %+v", name, got, want)
		}
	}
}

// TestScripts: each script names every command, flag and value it was
// made from, so a completion never offers what the binary lacks.
func TestScripts(t *testing.T) {
	m := Model{
		Profiles: []string{"ssh", "aws-nlb"},
		Commands: []Cmd{
			{Name: "apply", Short: "apply a profile", Args: []Arg{{Kind: ValProfile, Name: "PROFILE"}},
				Flags: []Flag{{Long: "dry-run"}, {Long: "netns", Value: ValNetns, TakesValue: true}}},
			{Name: "sockets", Short: "list sockets",
				Flags: []Flag{{Long: "state", Value: ValWords, Words: []string{"established", "listening"}, TakesValue: true}}},
		},
	}
	for name, write := range map[string]func(*bytes.Buffer, Model){
		"bash": func(b *bytes.Buffer, m Model) { Bash(b, m) },
		"zsh":  func(b *bytes.Buffer, m Model) { Zsh(b, m) },
		"fish": func(b *bytes.Buffer, m Model) { Fish(b, m) },
	} {
		var b bytes.Buffer
		write(&b, m)
		for _, want := range []string{"apply", "sockets", "dry-run", "netns", "established", "listening", "aws-nlb"} {
			if !strings.Contains(b.String(), want) {
				t.Errorf("%s script lacks %q", name, want)
			}
		}
	}
	if got := m.Names(); !cmp.Equal(got, []string{"apply", "sockets"}) {
		t.Errorf("Names = %v", got)
	}
}
