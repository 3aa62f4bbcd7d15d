package sshcfg

import (
	"errors"
	"os"
	"os/exec"
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
	// ssh's own error comes back as one line.
	_, err := ReadClient("ssh", "testdata/nonexistent_config", "alive")
	if err == nil || !strings.Contains(err.Error(), "ssh -F testdata/nonexistent_config -G -- alive: ") {
		t.Errorf("missing -F file: %v", err)
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
