package sshcfg

import (
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// TestReadClientReal runs the installed ssh client against a test config:
// the settings are what ssh itself resolves (time units, Host patterns,
// defaults), not what tcpka guesses from the file.
func TestReadClientReal(t *testing.T) {
	if _, err := exec.LookPath("ssh"); err != nil {
		t.Skip("needs the OpenSSH client (ssh) in PATH: apt-get install openssh-client")
	}
	tests := []struct {
		host string
		want Settings
	}{
		{"alive", Settings{Side: Client, Interval: 30, CountMax: 3, TCPKeepAlive: true}},
		{"slow", Settings{Side: Client, Interval: 300, CountMax: 5, TCPKeepAlive: false}},
		{"db1.example.net", Settings{Side: Client, Interval: 15, CountMax: 3, TCPKeepAlive: true}},
		// No ServerAliveInterval anywhere: OpenSSH's defaults 0 and 3.
		{"other.example.com", Settings{Side: Client, Interval: 0, CountMax: 3, TCPKeepAlive: true}},
	}
	for _, tt := range tests {
		got, err := ReadClient("ssh", "testdata/ssh_config", tt.host)
		if err != nil {
			t.Fatalf("ReadClient(%s): %v", tt.host, err)
		}
		if got != tt.want {
			t.Errorf("ReadClient(%s) = %+v, want %+v", tt.host, got, tt.want)
		}
	}
	// A config that is not there is bad input, refused before ssh runs;
	// ssh's own error comes back as one line: the settings could not be
	// read.
	bad := filepath.Join(t.TempDir(), "bad_config")
	if err := os.WriteFile(bad, []byte("NoSuchKeyword yes\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	for _, tt := range []struct {
		config, want string
		is           error
	}{
		{"testdata/nonexistent_config", "--ssh-config testdata/nonexistent_config: no such file", ErrInvalid},
		{"testdata", "--ssh-config testdata: is a directory, not a config file", ErrInvalid},
		{bad, "ssh -F " + bad + " -G -- alive: ", ErrUnreadable},
	} {
		_, err := ReadClient("ssh", tt.config, "alive")
		if err == nil || !strings.HasPrefix(err.Error(), tt.want) || strings.Contains(err.Error(), "\n") {
			t.Errorf("-F %s: %v, want one line starting %q", tt.config, err, tt.want)
		}
		if !errors.Is(err, tt.is) {
			t.Errorf("-F %s: %v, want it to wrap %v", tt.config, err, tt.is)
		}
	}
}

// TestSideMisses: a judged side misses the goal when, kernel values
// included, the path drops its idle sessions or a dead peer goes unnoticed
// past the bound; lines to fix its own settings alone do not make a miss.
func TestSideMisses(t *testing.T) {
	fix := []string{"ServerAliveInterval 60"}
	for _, tt := range []struct {
		name string
		side SideReport
		want bool
	}{
		{"not judged", SideReport{Note: "ssh is not installed here"}, false},
		{"nothing to fix", SideReport{J: &Judgment{Verdict: Survives, Detect: 90}}, false},
		{"meets through the kernel values", SideReport{J: &Judgment{Verdict: Survives, Detect: 90}, Fix: fix}, false},
		{"noticed too late", SideReport{J: &Judgment{Verdict: Survives, Detect: 600}, Fix: fix}, true},
		{"never noticed", SideReport{J: &Judgment{Verdict: Survives}, Fix: fix}, true},
		{"dropped by the path", SideReport{J: &Judgment{Verdict: Dropped, Detect: 90}, Fix: fix}, true},
		{"at risk", SideReport{J: &Judgment{Verdict: AtRisk, Detect: 90}, Fix: fix}, true},
	} {
		if got := tt.side.Misses(120); got != tt.want {
			t.Errorf("%s: Misses(120) = %v, want %v", tt.name, got, tt.want)
		}
	}
}

func TestServerFixtures(t *testing.T) {
	// Captured with `sshd -T` (OpenSSH 9.2p1, Debian 12): the packaged
	// default config, and one with ClientAliveCountMax 0 / TCPKeepAlive no.
	tests := []struct {
		file string
		want Settings
	}{
		{"testdata/sshd-T-debian12-default.txt", Settings{Side: Server, Interval: 0, CountMax: 3, TCPKeepAlive: true}},
		{"testdata/sshd-T-countmax0-notcp.txt", Settings{Side: Server, Interval: 45, CountMax: 0, TCPKeepAlive: false}},
	}
	for _, tt := range tests {
		f, err := os.Open(tt.file)
		if err != nil {
			t.Fatal(err)
		}
		c, err := Parse(f)
		f.Close()
		if err != nil {
			t.Fatal(err)
		}
		got, err := c.Settings(Server)
		if err != nil {
			t.Fatalf("%s: %v", tt.file, err)
		}
		if got != tt.want {
			t.Errorf("%s: %+v, want %+v", tt.file, got, tt.want)
		}
		if len(c["hostkey"]) < 1 || len(c) < 50 {
			t.Errorf("%s: parsed %d keywords, hostkey %v", tt.file, len(c), c["hostkey"])
		}
	}
}

func TestParseErrors(t *testing.T) {
	tests := []struct {
		in, want string
	}{
		{"clientalivecountmax 3\ntcpkeepalive yes\n", "clientaliveinterval: keyword missing"},
		{"clientaliveinterval 1m\nclientalivecountmax 3\ntcpkeepalive yes\n", `clientaliveinterval: "1m" is not a whole number of seconds`},
		{"clientaliveinterval 10\nclientalivecountmax -1\ntcpkeepalive yes\n", `clientalivecountmax: "-1" is not a whole number of seconds`},
		{"clientaliveinterval 10\nclientalivecountmax 3\ntcpkeepalive maybe\n", `tcpkeepalive: "maybe" is neither yes nor no`},
		{"", "clientaliveinterval: keyword missing"},
	}
	for _, tt := range tests {
		c, err := Parse(strings.NewReader(tt.in))
		if err != nil {
			t.Fatal(err)
		}
		_, err = c.Settings(Server)
		if err == nil || err.Error() != tt.want {
			t.Errorf("Settings(%q) = %v, want %q", tt.in, err, tt.want)
		}
	}
	// Keywords are case-insensitive; repeated ones keep every value.
	c, _ := Parse(strings.NewReader("IdentityFile a\nidentityfile b\n\nServerAliveInterval 7\n"))
	if got := c["identityfile"]; len(got) != 2 || got[1] != "b" || c["serveraliveinterval"][0] != "7" {
		t.Errorf("Parse: %v", c)
	}
}

func TestFind(t *testing.T) {
	if _, err := Find("/nonexistent/sshd"); !errors.Is(err, ErrNotInstalled) {
		t.Errorf("Find(/nonexistent/sshd) = %v", err)
	}
	if _, err := Find("tcpka-no-such-program"); !errors.Is(err, ErrNotInstalled) ||
		!strings.Contains(err.Error(), "tcpka-no-such-program: not installed (not in PATH, /usr/sbin or /usr/local/sbin)") {
		t.Errorf("Find(missing) = %v", err)
	}
	if p, err := Find("sh"); err != nil || !strings.HasSuffix(p, "/sh") {
		t.Errorf("Find(sh) = %q, %v", p, err)
	}
}
