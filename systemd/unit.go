package systemd

import (
	"bytes"
	"errors"
	"fmt"
	"path"
	"strings"
	"unicode"
	"unicode/utf8"
)

// ErrExecPath: systemd cannot run a binary at this path from ExecStart=.
var ErrExecPath = errors.New("systemd cannot run it from ExecStart=")

// WithBinary returns unit with each command line that runs BinPath made to
// run bin instead, written as systemd reads it back: in double quotes when
// it holds a space, with "%" doubled (a specifier otherwise). systemd
// refuses an executable whose name holds a quote, a backslash or a control
// character, and so does WithBinary.
func WithBinary(unit []byte, bin string) ([]byte, error) {
	word, err := execWord(bin)
	if err != nil {
		return nil, err
	}
	lines := bytes.SplitAfter(unit, []byte("\n"))
	n := 0
	for i, l := range lines {
		key, rest, ok := bytes.Cut(l, []byte("="))
		if !ok || !bytes.HasPrefix(key, []byte("Exec")) {
			continue
		}
		prefix := len(rest) - len(bytes.TrimLeft(rest, "-+@:!"))
		if !bytes.HasPrefix(rest[prefix:], []byte(BinPath+" ")) {
			continue
		}
		lines[i] = bytes.Join([][]byte{key, []byte("="), rest[:prefix], []byte(word), rest[prefix+len(BinPath):]}, nil)
		n++
	}
	if n == 0 {
		return nil, fmt.Errorf("the unit has no command line that runs %s", BinPath)
	}
	return bytes.Join(lines, nil), nil
}

// execWord is bin as the first word of a command line.
func execWord(bin string) (string, error) {
	switch {
	case !path.IsAbs(bin) || path.Clean(bin) != bin:
		return "", fmt.Errorf("%w: not a clean absolute path", ErrExecPath)
	case !utf8.ValidString(bin):
		return "", fmt.Errorf("%w: not UTF-8", ErrExecPath)
	case strings.ContainsAny(bin, "\"'\\"), strings.ContainsFunc(bin, unicode.IsControl):
		return "", fmt.Errorf("%w: the name holds a quote, a backslash or a control character", ErrExecPath)
	}
	w := strings.ReplaceAll(bin, "%", "%%")
	if strings.ContainsFunc(w, unicode.IsSpace) {
		w = `"` + w + `"`
	}
	return w, nil
}

// Hides says whether unit's sandbox hides p from the service (so that
// ExecStart= cannot run a binary there), and by which setting: PrivateTmp=
// gives it an empty /tmp and /var/tmp, ProtectHome= an empty or
// inaccessible /home, /root and /run/user, InaccessiblePaths= and
// TemporaryFileSystem= what they list.
func Hides(unit []byte, p string) (dir, setting string, hidden bool) {
	for _, l := range strings.Split(string(unit), "\n") {
		key, val, ok := strings.Cut(strings.TrimSpace(l), "=")
		if !ok || strings.HasPrefix(key, "#") || strings.HasPrefix(key, ";") {
			continue
		}
		var dirs []string
		switch {
		case key == "PrivateTmp" && isTrue(val):
			dirs = []string{"/tmp", "/var/tmp"}
		case key == "ProtectHome" && (isTrue(val) || val == "tmpfs"):
			dirs = []string{"/home", "/root", "/run/user"}
		case key == "InaccessiblePaths" || key == "TemporaryFileSystem":
			for _, f := range strings.Fields(val) {
				f, _, _ = strings.Cut(strings.TrimLeft(f, "-+"), ":")
				dirs = append(dirs, f)
			}
		}
		for _, d := range dirs {
			if p == d || strings.HasPrefix(p, strings.TrimSuffix(d, "/")+"/") {
				return d, key + "=" + val, true
			}
		}
	}
	return "", "", false
}

func isTrue(v string) bool {
	switch strings.ToLower(v) {
	case "1", "yes", "true", "on":
		return true
	}
	return false
}
