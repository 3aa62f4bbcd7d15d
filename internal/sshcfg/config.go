package sshcfg

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"syscall"

	"github.com/tcpka/tcpka/internal/human"
	"time"
)

// Config is the output of `ssh -G` or `sshd -T`: one "keyword value" per
// line, keywords in lower case. A keyword may repeat (identityfile).
type Config map[string][]string

// Parse reads ssh -G / sshd -T output.
func Parse(r io.Reader) (Config, error) {
	c := Config{}
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 64*1024), 1<<20)
	for sc.Scan() {
		line := strings.TrimSpace(sc.Text())
		if line == "" {
			continue
		}
		key, val, _ := strings.Cut(line, " ")
		key = strings.ToLower(key)
		c[key] = append(c[key], strings.TrimSpace(val))
	}
	if err := sc.Err(); err != nil {
		return nil, err
	}
	return c, nil
}

// ErrMissingKey is wrapped when the output lacks a keyword tcpka needs
// (not OpenSSH, or a very old one).
var ErrMissingKey = errors.New("keyword missing")

// Sentinel errors that sort what tcpka ssh could not judge (ErrImpossible,
// in judge.go, is an ask no settings meet).
var (
	// ErrInvalid: input the user named is not there or not what it should
	// be: a PuTTY export or sessions directory, --ssh-config or
	// --sshd-config.
	ErrInvalid = errors.New("invalid input")
	// ErrUnreadable: the settings could not be read: ssh -G or sshd -T
	// failed or printed too little, or a file is there but unreadable.
	ErrUnreadable = errors.New("cannot read the settings")
)

// marked is err, its text unchanged, that also wraps a sentinel.
type marked struct{ sentinel, err error }

func (m marked) Error() string   { return m.err.Error() }
func (m marked) Unwrap() []error { return []error{m.sentinel, m.err} }

// checkConfig refuses a config file given by flag that is not there
// before ssh or sshd is run on it (which would say so in its own words,
// or, for ssh -F, not at all for some versions).
func checkConfig(flag, file string) error {
	if file == "" {
		return nil
	}
	st, err := os.Stat(file)
	switch {
	case err != nil && (errors.Is(err, fs.ErrNotExist) || errors.Is(err, syscall.ENOTDIR)):
		return marked{ErrInvalid, fmt.Errorf("%s %s: no such file", flag, human.Safe(file))}
	case err != nil:
		return marked{ErrUnreadable, fmt.Errorf("%s %s: %w", flag, human.Safe(file), errors.Unwrap(err))}
	case st.IsDir():
		return marked{ErrInvalid, fmt.Errorf("%s %s: is a directory, not a config file", flag, human.Safe(file))}
	}
	return nil
}

func (c Config) value(key string) (string, error) {
	v := c[key]
	if len(v) == 0 {
		return "", fmt.Errorf("%s: %w", key, ErrMissingKey)
	}
	return v[0], nil
}

func (c Config) seconds(key string) (int, error) {
	s, err := c.value(key)
	if err != nil {
		return 0, err
	}
	n, err := strconv.Atoi(s)
	if err != nil || n < 0 {
		return 0, fmt.Errorf("%s: %q is not a whole number of seconds", key, s)
	}
	return n, nil
}

func (c Config) yesNo(key string) (bool, error) {
	s, err := c.value(key)
	if err != nil {
		return false, err
	}
	switch s {
	case "yes":
		return true, nil
	case "no":
		return false, nil
	}
	return false, fmt.Errorf("%s: %q is neither yes nor no", key, s)
}

// Side is the client (ssh) or the server (sshd).
type Side int

const (
	Client Side = iota
	Server
)

func (s Side) String() string {
	if s == Server {
		return "server"
	}
	return "client"
}

// Keyword names the side's settings as the config files spell them.
func (s Side) Keyword(what string) string {
	prefix := "ServerAlive"
	if s == Server {
		prefix = "ClientAlive"
	}
	switch what {
	case "interval":
		return prefix + "Interval"
	case "countmax":
		return prefix + "CountMax"
	}
	return "TCPKeepAlive"
}

// Settings is one side's keepalive configuration.
type Settings struct {
	Side Side
	// Interval: seconds without data from the peer before an SSH-level
	// keepalive is sent (0: never).
	Interval int
	// CountMax: unanswered SSH keepalives before the session is closed.
	CountMax int
	// TCPKeepAlive: the socket has SO_KEEPALIVE, so the kernel's
	// keepalive sysctls apply to it.
	TCPKeepAlive bool
}

// Settings extracts side's keepalive settings from c.
func (c Config) Settings(side Side) (Settings, error) {
	s := Settings{Side: side}
	var err error
	if s.Interval, err = c.seconds(strings.ToLower(side.Keyword("interval"))); err != nil {
		return s, err
	}
	if s.CountMax, err = c.seconds(strings.ToLower(side.Keyword("countmax"))); err != nil {
		return s, err
	}
	if s.TCPKeepAlive, err = c.yesNo("tcpkeepalive"); err != nil {
		return s, err
	}
	return s, nil
}

// ErrNotInstalled is wrapped when the ssh or sshd program is not found.
var ErrNotInstalled = errors.New("not installed")

// Find locates a program: bin when it holds a '/', else in PATH, else in
// the sbin directories that a non-root PATH often lacks.
func Find(bin string) (string, error) {
	if strings.Contains(bin, "/") {
		if st, err := os.Stat(bin); err != nil || st.IsDir() {
			return "", fmt.Errorf("%s: %w", bin, ErrNotInstalled)
		}
		return bin, nil
	}
	if p, err := exec.LookPath(bin); err == nil {
		return p, nil
	}
	for _, dir := range []string{"/usr/sbin", "/usr/local/sbin", "/sbin"} {
		p := dir + "/" + bin
		if st, err := os.Stat(p); err == nil && !st.IsDir() && st.Mode()&0o111 != 0 {
			return p, nil
		}
	}
	return "", fmt.Errorf("%s: %w (not in PATH, /usr/sbin or /usr/local/sbin)", bin, ErrNotInstalled)
}

// runTimeout bounds ssh -G and sshd -T (a Match exec in a config runs a
// command of the user's).
var runTimeout = 10 * time.Second

// Run runs bin with args and parses its output. A failure reports the
// program's first line on stderr.
func Run(bin string, args ...string) (Config, error) { return runAs(nil, bin, args...) }

// runAs is Run as another user when cred is set (root only): ssh -G for
// a live session must read that user's ~/.ssh/config, and runs with no
// more privilege than the user has.
func runAs(cred *syscall.Credential, bin string, args ...string) (Config, error) {
	path, err := Find(bin)
	if err != nil {
		return nil, err
	}
	ctx, cancel := context.WithTimeout(context.Background(), runTimeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, path, args...)
	if cred != nil {
		cmd.SysProcAttr = &syscall.SysProcAttr{Credential: cred}
		cmd.Dir = "/"
	}
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	cmd.Stdin = nil
	if err := cmd.Run(); err != nil {
		msg := strings.TrimSpace(stderr.String())
		if i := strings.IndexByte(msg, '\n'); i >= 0 {
			msg = msg[:i]
		}
		if msg == "" {
			msg = err.Error()
		}
		return nil, fmt.Errorf("%s %s: %s", human.Safe(bin), human.Safe(strings.Join(args, " ")), human.Safe(msg))
	}
	return Parse(&stdout)
}

// ReadClient runs `ssh -G [-F configFile] host`. A failure of ssh, or
// output that lacks a keyword, wraps ErrUnreadable; ErrNotInstalled is
// returned as it is.
func ReadClient(sshBin, configFile, host string) (Settings, error) {
	if err := checkConfig("--ssh-config", configFile); err != nil {
		return Settings{}, err
	}
	var args []string
	if configFile != "" {
		args = append(args, "-F", configFile)
	}
	args = append(args, "-G", "--", host)
	c, err := Run(sshBin, args...)
	if errors.Is(err, ErrNotInstalled) {
		return Settings{}, err
	}
	if err != nil {
		return Settings{}, marked{ErrUnreadable, err}
	}
	s, err := c.Settings(Client)
	if err != nil {
		return s, marked{ErrUnreadable, fmt.Errorf("ssh -G output: %w", err)}
	}
	return s, nil
}

// ReadServer runs `sshd -T [-f configFile]` (needs root); its errors are
// sorted as ReadClient's.
func ReadServer(sshdBin, configFile string) (Settings, error) {
	if err := checkConfig("--sshd-config", configFile); err != nil {
		return Settings{}, err
	}
	args := []string{"-T"}
	if configFile != "" {
		args = append(args, "-f", configFile)
	}
	c, err := Run(sshdBin, args...)
	if errors.Is(err, ErrNotInstalled) {
		return Settings{}, err
	}
	if err != nil {
		return Settings{}, marked{ErrUnreadable, err}
	}
	s, err := c.Settings(Server)
	if err != nil {
		return s, marked{ErrUnreadable, fmt.Errorf("sshd -T output: %w", err)}
	}
	return s, nil
}
