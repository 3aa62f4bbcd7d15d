// Package docs holds tcpka's documentation; its test runs the examples.
//
// Every fenced block marked `console` in README.md and docs/*.md is a
// session: lines starting with "$ " are commands, the lines after one are
// what it prints (stdout and stderr as a terminal shows them). The test
// runs each file's sessions in order, as root, in a machine of its own:
// new network, mount and pid namespaces (the kernel defaults, its own
// /proc), a tmpfs on /run, overlays on /etc and /usr/sbin (tcpka built from
// this tree at /usr/sbin/tcpka, where the units run it), and empty sysctl.d
// directories, so `sudo tcpka apply` and `sudo tcpka install` change
// nothing outside. sudo is a shell function that runs its arguments; the
// commands run in one sh, so pipes, variables and background jobs work.
//
// Output is compared after volatile values are replaced in both the
// example and the real output (namespace ids, dates, pids, fds, ports,
// build versions); a line "..." in an example stands for any lines, and
// "…" within a line for any characters (a measured time, say). Run
// `go test ./docs -update` to write the real output into the files.
package docs

import (
	"bufio"
	"bytes"
	"flag"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/tcpka/tcpka/internal/testkit"
)

var update = flag.Bool("update", false, "write the real output into the examples")

// session is one `console` block: its commands and what each prints.
type session struct {
	line  int // of the opening fence, 1-based
	steps []step
}

type step struct {
	cmd  string
	want []string
}

// parse finds the console blocks of a markdown file.
func parse(data string) []session {
	var out []session
	var cur *session
	for i, l := range strings.Split(data, "\n") {
		switch {
		case cur == nil && strings.TrimSpace(l) == "```console":
			cur = &session{line: i + 1}
		case cur != nil && strings.TrimSpace(l) == "```":
			out = append(out, *cur)
			cur = nil
		case cur != nil && strings.HasPrefix(l, "$ "):
			cur.steps = append(cur.steps, step{cmd: strings.TrimPrefix(l, "$ ")})
		case cur != nil && len(cur.steps) > 0:
			s := &cur.steps[len(cur.steps)-1]
			s.want = append(s.want, l)
		}
	}
	return out
}

// volatile are replaced in example and output alike before comparing.
var volatile = []struct {
	re   *regexp.Regexp
	with string
}{
	{regexp.MustCompile(`net:\[\d+\]`), "net:[N]"},
	{regexp.MustCompile(`\d{4}-\d\d-\d\d[ T]\d\d:\d\d:\d\d(Z| UTC| [A-Z]{2,5}|[+-]\d\d:\d\d)?`), "DATE"},
	{regexp.MustCompile(`\bpid \d+`), "pid N"},
	{regexp.MustCompile(`\b\d+ tcpka\b`), "N tcpka"},
	{regexp.MustCompile(`\bfd \d+ *`), "fd N "},
	{regexp.MustCompile(`(127\.0\.0\.1|\[::1\]):\d+`), "$1:PORT"},
	{regexp.MustCompile(`tcpka [v(][^ ,]*( \S+)*? (go|built)`), "tcpka VERSION $2"},
	{regexp.MustCompile(`go1\.\d+(\.\d+)?`), "goVERSION"},
	{regexp.MustCompile(`(revision|version)="[^"]*"`), `$1="V"`},
	{regexp.MustCompile(`(cgroup|cgroup_)\d+`), "${1}N"},
	{regexp.MustCompile(`\d+(\.\d+)?ms\b`), "Tms"},
}

func normalize(lines []string) []string {
	out := make([]string, 0, len(lines))
	for _, l := range lines {
		for _, v := range volatile {
			l = v.re.ReplaceAllString(l, v.with)
		}
		out = append(out, strings.TrimRight(l, " "))
	}
	for len(out) > 0 && out[len(out)-1] == "" {
		out = out[:len(out)-1]
	}
	return out
}

// match compares want (with "..." lines standing for any lines) to got.
func match(want, got []string) bool {
	if len(want) == 0 {
		return len(got) == 0
	}
	if want[0] == "..." {
		for i := 0; i <= len(got); i++ {
			if match(want[1:], got[i:]) {
				return true
			}
		}
		return false
	}
	return len(got) > 0 && matchLine(want[0], got[0]) && match(want[1:], got[1:])
}

// matchLine compares one line; "…" in want stands for any characters.
func matchLine(want, got string) bool {
	parts := strings.Split(want, "…")
	if len(parts) == 1 {
		return want == got
	}
	if !strings.HasPrefix(got, parts[0]) || !strings.HasSuffix(got[len(parts[0]):], parts[len(parts)-1]) {
		return false
	}
	rest := got[len(parts[0]) : len(got)-len(parts[len(parts)-1])]
	for _, p := range parts[1 : len(parts)-1] {
		i := strings.Index(rest, p)
		if i < 0 {
			return false
		}
		rest = rest[i+len(p):]
	}
	return true
}

// sandbox is the shell prologue that builds the machine of its own; it
// runs as PID 1 of a new pid namespace, in new network and mount
// namespaces.
const sandbox = `set -e
mount --make-rprivate /
mount -t tmpfs tcpka-docs /run
mkdir -p "$S/etc.u" "$S/etc.w" "$S/sbin.u" "$S/sbin.w"
mount -t overlay tcpka-docs -o "lowerdir=/etc,upperdir=$S/etc.u,workdir=$S/etc.w" /etc
mount -t overlay tcpka-docs -o "lowerdir=/usr/sbin,upperdir=$S/sbin.u,workdir=$S/sbin.w" /usr/sbin
for d in /etc/sysctl.d /usr/lib/sysctl.d /lib/sysctl.d /usr/local/lib/sysctl.d; do
	if [ -d "$d" ] && ! [ -L "$d" ]; then mount -t tmpfs tcpka-docs "$d"; fi
done
rm -f /etc/sysctl.conf /etc/tcpka/profile.yaml /etc/systemd/system/tcpka.service
cp "$BIN" /usr/sbin/tcpka
cd "$WORK"
ip link set lo up
sudo() { "$@"; } # the examples run as root already
`

// run executes a file's sessions in one sandbox and returns each step's
// output. The steps are separated by a marker line.
func run(t *testing.T, bin string, sessions []session) [][]string {
	t.Helper()
	const marker = "\x1etcpka-docs-step\x1e"
	var script strings.Builder
	script.WriteString(sandbox)
	script.WriteString("set +e\n")
	for _, s := range sessions {
		for _, st := range s.steps {
			fmt.Fprintf(&script, "echo '%s'\n{ %s\n} 2>&1\n", marker, st.cmd)
		}
	}
	tmp := t.TempDir()
	work := filepath.Join(tmp, "work")
	if err := os.Mkdir(work, 0o755); err != nil {
		t.Fatal(err)
	}
	c := exec.Command("unshare", "-n", "-m", "-p", "--fork", "--kill-child", "--mount-proc", "sh", "-c", script.String())
	c.Env = append(os.Environ(), "S="+tmp, "BIN="+bin, "WORK="+work, "PATH=/usr/sbin:/usr/bin:/sbin:/bin", "HOME="+work, "NO_COLOR=1")
	var out bytes.Buffer
	c.Stdout, c.Stderr = &out, &out
	if err := c.Run(); err != nil && out.Len() == 0 {
		t.Fatalf("sandbox: %v", err)
	}
	parts := strings.Split(out.String(), marker+"\n")
	if len(parts) > 0 && strings.TrimSpace(parts[0]) != "" {
		t.Fatalf("sandbox set-up said: %s", parts[0])
	}
	var steps [][]string
	for _, p := range parts[1:] {
		steps = append(steps, strings.Split(strings.TrimRight(p, "\n"), "\n"))
	}
	return steps
}

// docs lists the files whose examples run.
func docs(t *testing.T) []string {
	files, err := filepath.Glob("*.md")
	if err != nil {
		t.Fatal(err)
	}
	return append([]string{"../README.md"}, files...)
}

// commonTools are what every page's examples run beside tcpka.
var commonTools = []string{"unshare", "ip", "sysctl", "/lib/systemd/systemd-sysctl"}

// pageTools are what some pages' examples need besides: a real sshd and
// client, nft to cut a path, curl for /metrics, python3 for a socket
// with SO_KEEPALIVE alone.
var pageTools = map[string][]string{
	"incident.md": {"ssh", "ssh-keygen", "/usr/sbin/sshd", "nft"},
	"plan-ssh.md": {"ssh", "/usr/sbin/sshd"},
	"fleet.md":    {"curl"},
	"model.md":    {"python3"}, // a connection with SO_KEEPALIVE and no values of its own
}

// missing is the first of tools not installed, "" when all are.
func missing(tools []string) string {
	for _, tool := range tools {
		if _, err := exec.LookPath(tool); err != nil {
			return tool
		}
	}
	return ""
}

// TestExamples runs every console example of README.md and docs/*.md.
func TestExamples(t *testing.T) {
	testkit.Slow(t, "runs every example of the docs in namespaces")
	testkit.NeedRoot(t, "runs the examples (sudo tcpka apply, install) in new network, mount and pid namespaces")
	// The tools every example runs beside tcpka (CI installs them).
	if tool := missing(commonTools); tool != "" {
		if os.Getenv("CI") == "true" {
			t.Fatalf("the examples need %s, which CI installs", tool)
		}
		t.Skipf("the examples need %s", tool)
	}
	bin := filepath.Join(t.TempDir(), "tcpka")
	build := exec.Command("go", "build", "-o", bin, "../cmd/tcpka")
	build.Env = append(os.Environ(), "CGO_ENABLED=0")
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	for _, file := range docs(t) {
		data, err := os.ReadFile(file)
		if err != nil {
			t.Fatal(err)
		}
		sessions := parse(string(data))
		if len(sessions) == 0 {
			continue
		}
		t.Run(filepath.Base(file), func(t *testing.T) {
			// A page whose examples need more (a real sshd) skips alone
			// where it is missing; the others still run.
			if tool := missing(pageTools[filepath.Base(file)]); tool != "" {
				if os.Getenv("CI") == "true" {
					t.Fatalf("%s's examples need %s, which CI installs", file, tool)
				}
				t.Skipf("%s's examples need %s", file, tool)
			}
			got := run(t, bin, sessions)
			i := 0
			var fixed []string // the real output of each step, for -update
			for _, s := range sessions {
				for _, st := range s.steps {
					var out []string
					if i < len(got) {
						out = got[i]
					}
					if len(out) == 1 && out[0] == "" {
						out = nil
					}
					fixed = append(fixed, strings.Join(out, "\n"))
					if !match(normalize(st.want), normalize(out)) {
						t.Errorf("%s:%d: $ %s\nthe example says:\n%s\ntcpka prints:\n%s", file, s.line, st.cmd,
							strings.Join(st.want, "\n"), strings.Join(out, "\n"))
					}
					i++
				}
			}
			if *update && t.Failed() {
				if err := os.WriteFile(file, []byte(rewrite(string(data), fixed)), 0o644); err != nil {
					t.Fatal(err)
				}
				t.Logf("%s: examples rewritten from the real output", file)
			}
		})
	}
}

// rewrite replaces each step's output in a markdown file with outs, in
// order; steps whose example uses "..." keep it only when it still
// matches (they are replaced by the full output otherwise).
func rewrite(data string, outs []string) string {
	var b strings.Builder
	sc := bufio.NewScanner(strings.NewReader(data))
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	in, skipping, n := false, false, 0
	var pending []string
	flush := func() {
		if !skipping {
			return
		}
		want, got := pending, strings.Split(outs[n-1], "\n")
		if outs[n-1] == "" {
			got = nil
		}
		if match(normalize(want), normalize(got)) {
			got = want
		}
		for _, l := range got {
			b.WriteString(l + "\n")
		}
		pending, skipping = nil, false
	}
	for sc.Scan() {
		l := sc.Text()
		switch {
		case !in && strings.TrimSpace(l) == "```console":
			in = true
		case in && strings.TrimSpace(l) == "```":
			flush()
			in = false
		case in && strings.HasPrefix(l, "$ "):
			flush()
			b.WriteString(l + "\n")
			n++
			skipping = n <= len(outs)
			continue
		case in && skipping:
			pending = append(pending, l)
			continue
		}
		b.WriteString(l + "\n")
	}
	return b.String()
}

// TestMatch pins the comparison rules the examples rely on.
func TestMatch(t *testing.T) {
	tests := []struct {
		want, got string
		ok        bool
	}{
		{"a\nb", "a\nb", true},
		{"a\n...\nd", "a\nb\nc\nd", true},
		{"a\n...", "a", true},
		{"a\n...\nd", "a\nb", false},
		{"net:[4026531840] x", "net:[4026532001] x", true},
		{"applied 2026-11-30 09:42:15 UTC", "applied 2027-01-01 00:00:00 UTC", true},
		{"a", "b", false},
		{"measured    2.… s", "measured    2.04 s", true},
		{"measured    2.… s", "measured    3.04 s", false},
		{"a…c…e", "abcde", true},
		{"a…c…e", "abde", false},
	}
	for _, tt := range tests {
		if got := match(normalize(strings.Split(tt.want, "\n")), normalize(strings.Split(tt.got, "\n"))); got != tt.ok {
			t.Errorf("match(%q, %q) = %v, want %v", tt.want, tt.got, got, tt.ok)
		}
	}
}
