package main

import (
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"sort"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"
	"github.com/spf13/pflag"
	"github.com/tcpka/tcpka/internal/plan"
	"github.com/tcpka/tcpka/internal/profile"
	"github.com/tcpka/tcpka/internal/testkit"
)

// These tests iterate the command table: commands added later are checked
// by the same code without edits here.

// withFakeCommand adds a command with the flag kinds no real command may
// have yet (a DIR, a FILE, a shorthand) and the global --netns, for the
// test's duration.
func withFakeCommand(t *testing.T) {
	t.Helper()
	saved := commands
	var dummy string
	fake := &Command{
		Name:      "zz-fake",
		UsageLine: "zz-fake PROFILE [--netns NAME] [--out DIR] [--in FILE] [-q]",
		Short:     "a test command",
		Netns:     true,
		Bind: func(fs *pflag.FlagSet) Runner {
			fs.StringVar(&dummy, "out", "", "write below `DIR`")
			fs.StringVar(&dummy, "in", "", "read `FILE`")
			fs.BoolP("quiet", "q", false, "say less")
			return func(*Env, []string) error { return nil }
		},
	}
	commands = append(append([]*Command{}, saved...), fake)
	t.Cleanup(func() { commands = saved })
}

// tcpkaOut runs tcpka in process and returns stdout, failing on a non-zero exit.
func tcpkaOut(t *testing.T, args ...string) string {
	t.Helper()
	var out, errb bytes.Buffer
	if code := run(args, &out, &errb); code != 0 {
		t.Fatalf("tcpka %s: exit %d: %s", strings.Join(args, " "), code, errb.String())
	}
	return out.String()
}

// visibleFlags lists "--name" (and "-x") of a command as help shows them.
func visibleFlags(c *Command) []string {
	var out []string
	c.flagSet().VisitAll(func(f *pflag.Flag) {
		if !f.Hidden {
			out = append(out, "--"+f.Name)
			if f.Shorthand != "" {
				out = append(out, "-"+f.Shorthand)
			}
		}
	})
	return out
}

func writeScript(t *testing.T, shell string) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "tcpka."+shell)
	if err := os.WriteFile(path, []byte(tcpkaOut(t, "completion", shell)), 0o644); err != nil {
		t.Fatal(err)
	}
	return path
}

// bashComplete sources the script and calls its completion function the way
// bash does on TAB, with the words of the command line (the last one being
// the word under the cursor), and returns COMPREPLY sorted.
func bashComplete(t *testing.T, script, netnsDir string, words ...string) []string {
	t.Helper()
	return bashCompleteIn(t, "", script, netnsDir, words...)
}

// bashCompleteIn is bashComplete with dir as the working directory.
func bashCompleteIn(t *testing.T, dir, script, netnsDir string, words ...string) []string {
	t.Helper()
	cmd := exec.Command("bash", "--norc", "--noprofile", "-c", `source "$0" || exit 1
COMP_WORDS=("$@"); COMP_CWORD=$(( ${#COMP_WORDS[@]} - 1 )); COMP_LINE="${COMP_WORDS[*]}"; COMP_POINT=${#COMP_LINE}
_tcpka 2>/dev/null
printf '%s\n' "${COMPREPLY[@]}"`, script)
	cmd.Args = append(cmd.Args, words...)
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), "TCPKA_NETNS_DIR="+netnsDir)
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("bash completion of %q: %v\n%s", words, err, out)
	}
	got := strings.Fields(string(out))
	sort.Strings(got)
	return got
}

func sorted(s []string) []string {
	s = append([]string{}, s...)
	sort.Strings(s)
	return s
}

func TestCompletionBash(t *testing.T) {
	testkit.Slow(t, "runs bash")
	if _, err := exec.LookPath("bash"); err != nil {
		t.Skip("bash not installed")
	}
	withFakeCommand(t)
	script := writeScript(t, "bash")
	netns := t.TempDir()
	for _, n := range []string{"blue", "red"} {
		os.WriteFile(filepath.Join(netns, n), nil, 0o644)
	}
	dirs := t.TempDir()
	os.Mkdir(filepath.Join(dirs, "textfiles"), 0o755)
	os.WriteFile(filepath.Join(dirs, "textfile.txt"), nil, 0o644)

	out, err := exec.Command("bash", "--norc", "--noprofile", "-c", `source "$0" && complete -p tcpka`, script).CombinedOutput()
	if err != nil || strings.TrimSpace(string(out)) != "complete -F _tcpka tcpka" {
		t.Fatalf("complete -p tcpka after sourcing: %q, %v", out, err)
	}

	cmdNames := sorted(commandList())
	profiles := sorted(profile.ShippedNames())
	tests := []struct {
		words []string
		want  []string
	}{
		{[]string{"tcpka", ""}, cmdNames},
		{[]string{"tcpka", "apply", ""}, profiles},
		{[]string{"tcpka", "apply", "a"}, []string{"aws-nlb", "azure-lb"}},
		{[]string{"tcpka", "check", "--json", "s"}, []string{"ssh"}},
		{[]string{"tcpka", "apply", "ssh", ""}, nil},
		{[]string{"tcpka", "help", ""}, cmdNames},
		{[]string{"tcpka", "completion", ""}, []string{"bash", "fish", "zsh"}},
		{[]string{"tcpka", "zz-fake", "--netns", ""}, []string{"blue", "red"}},
		{[]string{"tcpka", "zz-fake", "--netns", "=", ""}, []string{"blue", "red"}},
		{[]string{"tcpka", "zz-fake", "--netns", "=", "b"}, []string{"blue"}},
		{[]string{"tcpka", "zz-fake", "--netns", "blue", ""}, profiles},
		{[]string{"tcpka", "zz-fake", "-q", "k"}, []string{"kernel-default"}},
		{[]string{"tcpka", "zz-fake", "--out", dirs + "/text"}, []string{dirs + "/textfiles"}},
		{[]string{"tcpka", "zz-fake", "--in", dirs + "/text"}, []string{dirs + "/textfile.txt", dirs + "/textfiles"}},
		{[]string{"tcpka", "zz-fake", dirs + "/textfile"}, []string{dirs + "/textfile.txt", dirs + "/textfiles"}},
	}
	for _, tt := range tests {
		got := bashComplete(t, script, netns, tt.words...)
		if diff := cmp.Diff(tt.want, got, cmpopts.EquateEmpty()); diff != "" {
			t.Errorf("%q<TAB> (-want +got):\n%s", strings.Join(tt.words, " "), diff)
		}
	}
	// A PROFILE also completes to the profile files in the working
	// directory (a name ending in .yaml is a path).
	here := t.TempDir()
	for _, f := range []string{"nlb.yaml", "edge.yml", "notes.txt"} {
		os.WriteFile(filepath.Join(here, f), nil, 0o644)
	}
	if got := bashCompleteIn(t, here, script, netns, "tcpka", "apply", ""); !cmp.Equal(got, sorted(append(profiles, "edge.yml", "nlb.yaml"))) {
		t.Errorf("tcpka apply <TAB> in a directory with profiles: %v", got)
	}
	if got := bashCompleteIn(t, here, script, netns, "tcpka", "check", "n"); !cmp.Equal(got, []string{"nlb.yaml"}) {
		t.Errorf("tcpka check n<TAB>: %v, want nlb.yaml", got)
	}
	// Every flag of every command completes after "--" / "-".
	for _, c := range commands {
		got := bashComplete(t, script, netns, "tcpka", c.Name, "-")
		want := sorted(append(visibleFlags(c), "--help", "-h"))
		if diff := cmp.Diff(want, got); diff != "" {
			t.Errorf("tcpka %s -<TAB> (-want +got):\n%s", c.Name, diff)
		}
	}
}

// TestCompletionFlagValues: the flags that take one of a few words
// complete to exactly the words the command accepts: each one offered is
// named by the error for a value it refuses, which is made from the same
// list.
func TestCompletionFlagValues(t *testing.T) {
	testkit.Slow(t, "runs the shells")
	paths := sorted(plan.Names())
	states := []string{"all", "close-wait", "closed", "closing", "connected", "established", "fin-wait-1", "fin-wait-2", "last-ack", "listening", "syn-recv", "syn-sent", "time-wait"}
	tests := []struct {
		line []string // the command line up to the flag
		want []string
		bad  []string // a run with a value the command refuses
	}{
		{[]string{"render", "ssh", "--format"}, []string{"k8s", "sysctl", "unit"}, []string{"render", "ssh", "--format", "nope"}},
		{[]string{"sockets", "--state"}, states, []string{"sockets", "--state", "nope"}},
		{[]string{"plan", "--path"}, sorted(append(plan.Names(), "node")), []string{"plan", "--path", "nope"}},
		{[]string{"ssh", "--path"}, paths, []string{"ssh", "--path", "nope"}},
		{[]string{"watch", "ssh", "--log-format"}, []string{"json", "text"}, []string{"watch", "ssh", "--log-format", "nope"}},
	}
	for _, tt := range tests {
		_, errOut, code := tcpkaRun(t, tt.bad...)
		if code != exitUsage {
			t.Errorf("tcpka %s: exit %d, want %d", strings.Join(tt.bad, " "), code, exitUsage)
		}
		for _, w := range tt.want {
			if !regexp.MustCompile(`[ ,]` + regexp.QuoteMeta(w) + `[ ,]`).MatchString(errOut) {
				t.Errorf("tcpka %s: the error does not name %s, which completion offers: %s", strings.Join(tt.bad, " "), w, errOut)
			}
		}
	}
	var bash, fish string
	if _, err := exec.LookPath("bash"); err == nil {
		bash = writeScript(t, "bash")
	}
	if _, err := exec.LookPath("fish"); err == nil {
		fish = writeScript(t, "fish")
	}
	zsh := tcpkaOut(t, "completion", "zsh")
	for _, tt := range tests {
		line := "tcpka " + strings.Join(tt.line, " ")
		if bash != "" {
			for _, words := range [][]string{append(tt.line, ""), append(tt.line, "=", "")} {
				got := bashComplete(t, bash, t.TempDir(), append([]string{"tcpka"}, words...)...)
				if diff := cmp.Diff(tt.want, got); diff != "" {
					t.Errorf("bash %q<TAB> (-want +got):\n%s", strings.Join(words, " "), diff)
				}
			}
			first := tt.want[0]
			if got := bashComplete(t, bash, t.TempDir(), append(append([]string{"tcpka"}, tt.line...), first[:2])...); !slices.Contains(got, first) {
				t.Errorf("bash %q %s<TAB>: %v lacks %s", line, first[:2], got, first)
			}
		}
		if fish != "" {
			out, err := exec.Command("fish", "--no-config", "-c", `source $argv[1]; or exit 1; complete -C $argv[2]`, fish, line+" ").CombinedOutput()
			if err != nil {
				t.Fatalf("fish: %v\n%s", err, out)
			}
			var got []string
			for _, l := range strings.Split(strings.TrimSpace(string(out)), "\n") {
				got = append(got, strings.SplitN(l, "\t", 2)[0])
			}
			if diff := cmp.Diff(tt.want, sorted(got)); diff != "" {
				t.Errorf("fish %q<TAB> (-want +got):\n%s", line+" ", diff)
			}
		}
		flag := tt.line[len(tt.line)-1][2:]
		if !regexp.MustCompile(`:` + flag + `:\([a-z0-9 -]+\)'`).MatchString(zsh) {
			t.Errorf("zsh script: --%s of %s completes no words", flag, tt.line[0])
		}
	}
}

func TestCompletionFish(t *testing.T) {
	testkit.Slow(t, "runs fish")
	if _, err := exec.LookPath("fish"); err != nil {
		t.Skip("fish not installed")
	}
	withFakeCommand(t)
	script := writeScript(t, "fish")
	netns := t.TempDir()
	os.WriteFile(filepath.Join(netns, "blue"), nil, 0o644)
	here := t.TempDir() // the working directory: one profile file
	os.WriteFile(filepath.Join(here, "nlb.yaml"), nil, 0o644)
	os.WriteFile(filepath.Join(here, "notes.txt"), nil, 0o644)
	complete := func(line string) []string {
		cmd := exec.Command("fish", "--no-config", "-c", `source $argv[1]; or exit 1; complete -C $argv[2]`, script, line)
		cmd.Env = append(os.Environ(), "TCPKA_NETNS_DIR="+netns)
		cmd.Dir = here
		out, err := cmd.CombinedOutput()
		if err != nil {
			t.Fatalf("fish complete -C %q: %v\n%s", line, err, out)
		}
		var got []string
		for _, l := range strings.Split(strings.TrimSpace(string(out)), "\n") {
			if l != "" {
				got = append(got, strings.SplitN(l, "\t", 2)[0])
			}
		}
		sort.Strings(got)
		return got
	}
	tests := []struct {
		line string
		want []string
	}{
		{"tcpka ", sorted(commandList())},
		{"tcpka apply ", sorted(append(profile.ShippedNames(), "nlb.yaml"))},
		{"tcpka completion ", []string{"bash", "fish", "zsh"}},
		{"tcpka zz-fake --netns ", []string{"blue"}},
		{"tcpka zz-fake --netns blue ", sorted(append(profile.ShippedNames(), "nlb.yaml"))},
	}
	for _, tt := range tests {
		if diff := cmp.Diff(tt.want, complete(tt.line)); diff != "" {
			t.Errorf("fish %q<TAB> (-want +got):\n%s", tt.line, diff)
		}
	}
	for _, c := range commands {
		got := complete("tcpka " + c.Name + " --")
		var want []string
		for _, f := range visibleFlags(c) {
			if strings.HasPrefix(f, "--") {
				want = append(want, f)
			}
		}
		want = sorted(append(want, "--help"))
		if diff := cmp.Diff(want, got); diff != "" {
			t.Errorf("fish tcpka %s --<TAB> (-want +got):\n%s", c.Name, diff)
		}
	}
}

func TestCompletionZsh(t *testing.T) {
	testkit.Slow(t, "runs zsh")
	withFakeCommand(t)
	text := tcpkaOut(t, "completion", "zsh")
	if !strings.HasPrefix(text, "#compdef tcpka\n") {
		t.Errorf("zsh script does not start with #compdef tcpka")
	}
	for _, c := range commands {
		if !strings.Contains(text, "\t\t'"+c.Name+":") || !strings.Contains(text, "\t"+c.Name+")\n") {
			t.Errorf("zsh script lacks command %s", c.Name)
		}
		for _, f := range visibleFlags(c) {
			if !strings.Contains(text, f) {
				t.Errorf("zsh script lacks %s %s", c.Name, f)
			}
		}
	}
	for _, want := range []string{"'1:profile:_tcpka_profiles'", "]:netns:_tcpka_netns'", "'--netns=[act inside network namespace TARGET"} {
		if !strings.Contains(text, want) {
			t.Errorf("zsh script lacks %s", want)
		}
	}
	if _, err := exec.LookPath("zsh"); err != nil {
		t.Skip("zsh not installed: syntax not checked")
	}
	script := writeScript(t, "zsh")
	if out, err := exec.Command("zsh", "-n", script).CombinedOutput(); err != nil {
		t.Errorf("zsh -n: %v\n%s", err, out)
	}
	// Loaded the way compinit loads it: the function must define cleanly.
	out, err := exec.Command("zsh", "-f", "-c", `autoload -Uz compinit && compinit -u -D && source "$1" && whence -w _tcpka`, "zsh", script).CombinedOutput()
	if err != nil || !strings.Contains(string(out), "_tcpka: function") {
		t.Errorf("zsh: sourcing with compinit: %v\n%s", err, out)
	}
}

func TestCompletionBadShell(t *testing.T) {
	for _, args := range [][]string{{"completion"}, {"completion", "tcsh"}, {"completion", "bash", "zsh"}} {
		var out, errb bytes.Buffer
		if code := run(args, &out, &errb); code != exitUsage || out.Len() != 0 {
			t.Errorf("tcpka %s: exit %d, stdout %q; want exit 2 and nothing", strings.Join(args, " "), code, out.String())
		}
		if !regexp.MustCompile(`^tcpka: completion: .*\n$`).MatchString(errb.String()) {
			t.Errorf("tcpka %s: stderr %q, want one tcpka: completion: line", strings.Join(args, " "), errb.String())
		}
	}
}

// TestHelpEveryCommand: 'tcpka help X' and 'tcpka X --help' print the same
// usage, description, flags and examples from the table.
func TestHelpEveryCommand(t *testing.T) {
	for _, c := range commands {
		help := tcpkaOut(t, "help", c.Name)
		if flag := tcpkaOut(t, c.Name, "--help"); flag != help {
			t.Errorf("tcpka %s --help differs from tcpka help %s", c.Name, c.Name)
		}
		// The usage line wraps between groups to fit 80 columns; joined
		// again it is the table's.
		if !strings.Contains(regexp.MustCompile(`\n {7}`).ReplaceAllString(help, " "), "usage: tcpka "+c.UsageLine+"\n") {
			t.Errorf("tcpka help %s lacks the usage %q:\n%s", c.Name, c.UsageLine, help)
		}
		want := []string{c.Short}
		for _, l := range strings.Split(strings.TrimSpace(c.Examples), "\n") {
			want = append(want, "  "+l+"\n")
		}
		want = append(want, visibleFlags(c)...)
		for _, w := range want {
			if !strings.Contains(help, w) {
				t.Errorf("tcpka help %s lacks %q:\n%s", c.Name, w, help)
			}
		}
		// --proc-root (the DaemonSet points it at the host's /proc) is in
		// every command's help, apart from the command's own flags.
		if !regexp.MustCompile(`\nGlobal flags:\n +--proc-root DIR +use /proc/sys and /proc/PID below DIR instead of /proc`).MatchString(help) {
			t.Errorf("tcpka help %s lacks --proc-root under Global flags:\n%s", c.Name, help)
		}
		if strings.Contains(help, "--run-dir") {
			t.Errorf("tcpka help %s shows the hidden --run-dir", c.Name)
		}
	}
	list := tcpkaOut(t, "help")
	if !regexp.MustCompile(`(?m)^Global flags \(every command takes them\):\n +--proc-root DIR +use /proc/sys and /proc/PID below DIR`).MatchString(list) {
		t.Errorf("tcpka help does not document --proc-root:\n%s", list)
	}
	for _, c := range commands {
		if !regexp.MustCompile(`(?m)^  ` + regexp.QuoteMeta(c.Name) + ` +` + regexp.QuoteMeta(c.Short) + `$`).MatchString(list) {
			t.Errorf("tcpka help does not list %s", c.Name)
		}
	}
}

// TestUsageLineFlags: each command's UsageLine (the first line of its
// help, the man page's synopsis, what a usage error repeats) names every
// flag the command takes, and no flag it does not take. Flags every
// command takes (--proc-root) are documented once, in 'tcpka help'.
func TestUsageLineFlags(t *testing.T) {
	mentioned := regexp.MustCompile(`(?:^|[\s\[(|])(--?[a-z][a-z0-9-]*)`)
	for _, c := range commands {
		inUsage := map[string]bool{}
		for _, m := range mentioned.FindAllStringSubmatch(c.UsageLine, -1) {
			inUsage[m[1]] = true
		}
		fs := c.flagSet()
		takes := map[string]bool{}
		fs.VisitAll(func(f *pflag.Flag) {
			takes["--"+f.Name] = true
			if f.Shorthand != "" {
				takes["-"+f.Shorthand] = true
			}
			if f.Hidden || isGlobalFlag(f.Name) {
				return
			}
			if !inUsage["--"+f.Name] && (f.Shorthand == "" || !inUsage["-"+f.Shorthand]) {
				t.Errorf("tcpka %s takes --%s but its usage line does not say so: %s", c.Name, f.Name, c.UsageLine)
			}
		})
		for flag := range inUsage {
			if !takes[flag] {
				t.Errorf("tcpka %s: its usage line names %s, which it does not take: %s", c.Name, flag, c.UsageLine)
			}
		}
	}
}

// TestManPage renders tcpka help --man with groff (warnings on) and checks
// every command and flag of the table is in the rendered page.
func TestManPage(t *testing.T) {
	withFakeCommand(t)
	page := tcpkaOut(t, "help", "--man")
	if !strings.Contains(page, ".TH TCPKA 8 ") {
		t.Fatalf("no .TH TCPKA 8 header:\n%s", page)
	}
	if _, err := exec.LookPath("groff"); err != nil {
		t.Skip("groff not installed: man page not rendered")
	}
	cmd := exec.Command("groff", "-man", "-Tutf8", "-ww", "-rLL=100n", "-P", "-cbou")
	cmd.Stdin = strings.NewReader(page)
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	if err := cmd.Run(); err != nil || errb.Len() > 0 {
		t.Fatalf("groff -ww: %v\n%s", err, errb.String())
	}
	text := strings.Join(strings.Fields(strings.ReplaceAll(out.String(), "\u2010\n", "")), " ")
	// groff renders \- as U+2212 in utf8 with some macro sets; fold it.
	text = strings.ReplaceAll(text, "\u2212", "-")
	for _, c := range commands {
		want := []string{"tcpka " + strings.Join(strings.Fields(c.UsageLine), " "), upperFirst(c.Short)}
		want = append(want, visibleFlags(c)...)
		for _, w := range want {
			if !strings.Contains(text, w) {
				t.Errorf("rendered man page lacks %q", w)
			}
		}
	}
	// The global --proc-root once, under its own heading, not per command.
	if n := strings.Count(text, "--proc-root"); n != 1 || !strings.Contains(text, "GLOBAL OPTIONS Every command takes these. --proc-root DIR use /proc/sys and /proc/PID below DIR") {
		t.Errorf("man page shows --proc-root %d times, want once under GLOBAL OPTIONS", n)
	}
	if strings.Contains(text, "run-dir") {
		t.Error("man page shows the hidden --run-dir")
	}
}

// TestHelpFitsTerminal: the command list, every command's help and the
// man page as man shows it fit 80 columns.
func TestHelpFitsTerminal(t *testing.T) {
	check := func(what, text string) {
		for i, l := range strings.Split(text, "\n") {
			if n := utf8.RuneCountInString(l); n > 80 {
				t.Errorf("%s line %d is %d columns: %s", what, i+1, n, l)
			}
		}
	}
	check("tcpka help", tcpkaOut(t, "help"))
	for _, c := range commands {
		check("tcpka help "+c.Name, tcpkaOut(t, "help", c.Name))
	}
	if _, err := exec.LookPath("groff"); err != nil {
		t.Log("groff not installed: the man page's rendering is not checked")
		return
	}
	cmd := exec.Command("sh", "-c", "groff -man -Tutf8 -rLL=80n | col -bx")
	cmd.Stdin = strings.NewReader(tcpkaOut(t, "help", "--man"))
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("groff: %v", err)
	}
	check("the man page", string(out))
}
