package sshcfg

import (
	"bytes"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"unicode/utf16"
	"unicode/utf8"

	"github.com/tcpka/tcpka/internal/atomicfile"
	"github.com/tcpka/tcpka/internal/human"
)

// PuTTY keeps a saved session's keepalive in three settings (settings.c,
// load_open_settings; conf.h):
//
//   - "PingInterval" (minutes) and "PingIntervalSecs" (seconds): PuTTY
//     adds them, pingmin*60 + pingsec, each 0 when missing; it saves the
//     interval split the same way (interval/60 and interval%60), so 90 s is
//     saved as 1 and 30. The value is "Seconds between keepalives (0 to
//     turn off)" on the Connection panel.
//   - "TCPKeepalives": SO_KEEPALIVE on the socket, "Enable TCP keepalives"
//     on the same panel; off when missing.
//
// On Windows the settings are dword values of the registry key
// HKEY_CURRENT_USER\Software\SimonTatham\PuTTY\Sessions\NAME
// (windows/storage.c); a value of another type is ignored by PuTTY, which
// then uses the default. Unix PuTTY keeps one file per session in
// ~/.putty/sessions (or ~/.config/putty/sessions), "Key=Value" lines, the
// value read with atoi (unix/storage.c). Both escape the session name
// with %XX: the registry for space, \ * ? %, '.' first and bytes outside
// printable ASCII; the file name for every byte but letters, digits and
// + - . @ _.
const (
	puttyKeyMinutes  = "PingInterval"
	puttyKeySeconds  = "PingIntervalSecs"
	puttyKeyTCP      = "TCPKeepalives"
	puttySessionsKey = `HKEY_CURRENT_USER\Software\SimonTatham\PuTTY\Sessions`
	regHeader        = "Windows Registry Editor Version 5.00"
	regHeader4       = "REGEDIT4"
	puttyMaxExport   = 64 << 20 // a .reg file
	puttyMaxSession  = 1 << 20  // one Unix session file
)

// PuTTYSession is one saved session's keepalive settings.
type PuTTYSession struct {
	Name string // as PuTTY lists it (unescaped)
	// PingInterval is the effective "Seconds between keepalives" (0: off);
	// PingMinutes and PingSecs the two saved values it adds up.
	PingInterval          int
	PingMinutes, PingSecs int
	TCPKeepalives         bool
}

// PuTTYClient is where the sessions were saved, and so whose TCP stack
// carries them.
type PuTTYClient int

const (
	PuTTYWindows PuTTYClient = iota // a registry export
	PuTTYUnix                       // a Unix sessions directory
)

func (c PuTTYClient) String() string {
	if c == PuTTYUnix {
		return "unix"
	}
	return "windows"
}

// PuTTYSessions is what ReadPuTTY found.
type PuTTYSessions struct {
	Path     string // the file or directory read
	Client   PuTTYClient
	Sessions []PuTTYSession
}

// PuTTYError is bad input: the file, the line where it helps, and why. It
// wraps ErrInvalid, and Err where set.
type PuTTYError struct {
	File string
	Line int
	Msg  string
	Err  error // a sentinel besides ErrInvalid (ErrNoSessions), or nil
}

func (e *PuTTYError) Unwrap() []error {
	if e.Err != nil {
		return []error{ErrInvalid, e.Err}
	}
	return []error{ErrInvalid}
}

// Error names the file (escaped for a terminal) and the line; the
// message never quotes what the file holds.
func (e *PuTTYError) Error() string {
	if e.Line > 0 {
		return fmt.Sprintf("%s:%d: %s", human.Safe(e.File), e.Line, e.Msg)
	}
	return human.Safe(e.File) + ": " + e.Msg
}

// ErrNoSessions is wrapped, with ErrInvalid, when the input is readable
// but holds no session.
var ErrNoSessions = errors.New("no PuTTY sessions")

// ReadPuTTY reads saved PuTTY sessions from path: a registry export
// (regedit's .reg, UTF-16LE with a BOM or UTF-8) or a Unix sessions
// directory (a directory holding sessions/ is taken to mean that).
func ReadPuTTY(path string) (PuTTYSessions, error) {
	st, err := os.Stat(path)
	if err != nil {
		return PuTTYSessions{}, inputError(err)
	}
	if st.IsDir() {
		if sub := filepath.Join(path, "sessions"); isDir(sub) {
			path = sub
		}
		return readPuTTYDir(path)
	}
	data, err := atomicfile.ReadFile(path, puttyMaxExport, nil)
	if err != nil {
		return PuTTYSessions{}, inputError(err)
	}
	sessions, err := parseRegExport(path, data)
	return PuTTYSessions{Path: path, Client: PuTTYWindows, Sessions: sessions}, err
}

// inputError is pathError of a failure to read a file or directory the
// user named, sorted: missing, or not a file to read, is ErrInvalid; there
// but unreadable (permission, I/O) is ErrUnreadable.
func inputError(err error) error {
	switch {
	case errors.Is(err, fs.ErrNotExist), errors.Is(err, atomicfile.ErrNotRegular), errors.Is(err, atomicfile.ErrTooLarge),
		errors.Is(err, atomicfile.ErrIsDir), errors.Is(err, syscall.ENOTDIR):
		return marked{ErrInvalid, pathError(err)}
	}
	return marked{ErrUnreadable, pathError(err)}
}

// pathError says "PATH: what" rather than "stat PATH: what".
func pathError(err error) error {
	var pe *os.PathError
	if errors.As(err, &pe) {
		return fmt.Errorf("%s: %w", human.Safe(pe.Path), pe.Err)
	}
	return err
}

func isDir(p string) bool {
	st, err := os.Stat(p)
	return err == nil && st.IsDir()
}

// decodeRegText turns a .reg file into text: UTF-16LE after its BOM (what
// regedit writes for "Registration Files"), else UTF-8 with or without a
// BOM (REGEDIT4 exports are ANSI; the lines tcpka reads are ASCII).
func decodeRegText(file string, data []byte) (string, error) {
	switch {
	case bytes.HasPrefix(data, []byte{0xFF, 0xFE}):
		data = data[2:]
		if len(data)%2 != 0 {
			return "", &PuTTYError{File: file, Msg: "UTF-16 text with an odd number of bytes: the file is cut short"}
		}
		u := make([]uint16, len(data)/2)
		for i := range u {
			u[i] = uint16(data[2*i]) | uint16(data[2*i+1])<<8
		}
		data = []byte(string(utf16.Decode(u)))
	case bytes.HasPrefix(data, []byte{0xFE, 0xFF}):
		return "", &PuTTYError{File: file, Msg: "UTF-16 big-endian text: regedit writes little-endian; convert it (iconv -f UTF-16BE -t UTF-8)"}
	default:
		data = bytes.TrimPrefix(data, []byte{0xEF, 0xBB, 0xBF})
	}
	if bytes.IndexByte(data, 0) >= 0 {
		msg := "not a registry export: the file holds binary data"
		if len(data) >= 4 && data[0] != 0 && data[1] == 0 && data[2] != 0 && data[3] == 0 {
			msg = "UTF-16LE text without the BOM regedit writes: put FF FE in front, or convert it (iconv -f UTF-16LE -t UTF-8)"
		}
		return "", &PuTTYError{File: file, Msg: msg}
	}
	return string(data), nil
}

// regValue is one parsed `"name"=data` line.
type regValue struct {
	name, data string
}

// parseRegExport reads the PuTTY sessions of a registry export. Keys
// other than HKEY_CURRENT_USER\...\PuTTY\Sessions\NAME, and values other
// than the three keepalive settings, are skipped.
func parseRegExport(file string, data []byte) ([]PuTTYSession, error) {
	text, err := decodeRegText(file, data)
	if err != nil {
		return nil, err
	}
	lines := strings.Split(text, "\n")
	var (
		sessions []PuTTYSession
		index    = map[string]int{} // key name -> sessions index
		cur      = -1               // the session whose key we are in
		header   bool
	)
	for i := 0; i < len(lines); i++ {
		n := i + 1
		line := strings.TrimSpace(strings.TrimSuffix(lines[i], "\r"))
		if !header {
			if line == "" {
				continue
			}
			if line != regHeader && line != regHeader4 {
				return nil, &PuTTYError{File: file, Line: n, Msg: fmt.Sprintf("not a registry export or a PuTTY sessions directory: its first line is not %q (export the key with regedit, or give Unix PuTTY's sessions directory)",
					regHeader)}
			}
			header = true
			continue
		}
		if !utf8.ValidString(line) {
			return nil, &PuTTYError{File: file, Line: n, Msg: "not text: invalid UTF-8 (regedit exports are UTF-16LE with a BOM)"}
		}
		switch {
		case line == "" || strings.HasPrefix(line, ";"):
			continue
		case strings.HasPrefix(line, "["):
			end := strings.LastIndexByte(line, ']')
			if end < 0 {
				return nil, &PuTTYError{File: file, Line: n, Msg: "a key line without its closing ]"}
			}
			cur = -1
			key := line[1:end]
			if strings.HasPrefix(key, "-") { // a deletion
				continue
			}
			name, ok := sessionKeyName(key)
			if !ok {
				continue
			}
			j, seen := index[strings.ToLower(name)]
			if !seen {
				j = len(sessions)
				index[strings.ToLower(name)] = j
				sessions = append(sessions, PuTTYSession{Name: unescapePuTTY(name)})
			}
			cur = j
			continue
		}
		// A value line; hex data may go on over lines ending in "\",
		// joined in one pass (linear in the value's length).
		first := n
		if strings.HasSuffix(line, `\`) && i+1 < len(lines) {
			var b strings.Builder
			for strings.HasSuffix(line, `\`) && i+1 < len(lines) {
				b.WriteString(strings.TrimSuffix(line, `\`))
				i++
				line = strings.TrimSpace(strings.TrimSuffix(lines[i], "\r"))
				if !utf8.ValidString(line) {
					return nil, &PuTTYError{File: file, Line: i + 1, Msg: "not text: invalid UTF-8 (regedit exports are UTF-16LE with a BOM)"}
				}
			}
			b.WriteString(line)
			line = b.String()
		}
		v, err := parseRegValue(line)
		if err != nil {
			return nil, &PuTTYError{File: file, Line: first, Msg: err.Error()}
		}
		if cur < 0 {
			continue
		}
		if err := sessions[cur].setReg(v); err != nil {
			return nil, &PuTTYError{File: file, Line: first, Msg: fmt.Sprintf("session %q: %v", sessions[cur].Name, err)}
		}
	}
	if !header {
		return nil, &PuTTYError{File: file, Msg: "empty file: not a registry export"}
	}
	if len(sessions) == 0 {
		return nil, &PuTTYError{File: file, Msg: fmt.Sprintf("%v: the export has no key under %s (export that key with regedit)", ErrNoSessions, puttySessionsKey), Err: ErrNoSessions}
	}
	for i := range sessions {
		sessions[i].total()
	}
	return sessions, nil
}

// sessionKeyName returns NAME (still escaped) when key is
// HKEY_CURRENT_USER\Software\SimonTatham\PuTTY\Sessions\NAME; registry key
// names are case-insensitive.
func sessionKeyName(key string) (string, bool) {
	prefix := puttySessionsKey + `\`
	if len(key) <= len(prefix) || !strings.EqualFold(key[:len(prefix)], prefix) {
		return "", false
	}
	name := key[len(prefix):]
	if strings.Contains(name, `\`) { // a subkey: PuTTY escapes \ in names
		return "", false
	}
	return name, true
}

// parseRegValue splits `"name"=data` (or `@=data`, the default value).
func parseRegValue(line string) (regValue, error) {
	var v regValue
	rest := line
	switch {
	case strings.HasPrefix(rest, "@="):
		return regValue{name: "@", data: rest[2:]}, nil
	case strings.HasPrefix(rest, `"`):
		var b strings.Builder
		i := 1
		for ; i < len(rest) && rest[i] != '"'; i++ {
			if rest[i] == '\\' && i+1 < len(rest) {
				i++
			}
			b.WriteByte(rest[i])
		}
		if i >= len(rest) {
			return v, errors.New("a value name without its closing quote")
		}
		v.name = b.String()
		rest = strings.TrimSpace(rest[i+1:])
	default:
		return v, errors.New(`not a registry line (want "Name"=value or [KEY])`)
	}
	data, ok := strings.CutPrefix(rest, "=")
	if !ok {
		return v, errors.New("a value without '='")
	}
	v.data = strings.TrimSpace(data)
	return v, nil
}

// setReg applies one registry value to s: the keepalive ones must be
// dwords (PuTTY ignores any other type and uses its default: say so
// rather than judge what PuTTY does not read); "-" deletes a value.
func (s *PuTTYSession) setReg(v regValue) error {
	var field *int
	switch {
	case strings.EqualFold(v.name, puttyKeyMinutes):
		field = &s.PingMinutes
	case strings.EqualFold(v.name, puttyKeySeconds):
		field = &s.PingSecs
	case strings.EqualFold(v.name, puttyKeyTCP):
		var n int
		if err := regDword(v, &n); err != nil {
			return err
		}
		s.TCPKeepalives = n != 0
		return nil
	default:
		return nil
	}
	return regDword(v, field)
}

func regDword(v regValue, field *int) error {
	if v.data == "-" {
		*field = 0
		return nil
	}
	hex, ok := strings.CutPrefix(strings.ToLower(v.data), "dword:")
	if !ok {
		return fmt.Errorf("%s is not a dword (PuTTY ignores it and uses 0): want dword:0000001e", v.name)
	}
	u, err := strconv.ParseUint(hex, 16, 32)
	if err != nil || hex == "" || len(hex) > 8 {
		return fmt.Errorf("%s: malformed dword: want up to 8 hex digits, e.g. dword:0000001e", v.name)
	}
	if int32(u) < 0 {
		return fmt.Errorf("%s: a negative dword", v.name)
	}
	*field = int(u)
	return nil
}

// total works out the interval PuTTY uses: minutes*60 + seconds.
func (s *PuTTYSession) total() { s.PingInterval = s.PingMinutes*60 + s.PingSecs }

// readPuTTYDir reads a Unix PuTTY sessions directory: every regular file
// is a session, named by its unescaped file name, in name order.
func readPuTTYDir(dir string) (PuTTYSessions, error) {
	out := PuTTYSessions{Path: dir, Client: PuTTYUnix}
	entries, err := os.ReadDir(dir)
	if err != nil {
		return out, inputError(err)
	}
	for _, e := range entries {
		p := filepath.Join(dir, e.Name())
		if st, err := os.Stat(p); err != nil || !st.Mode().IsRegular() {
			continue // PuTTY lists regular files only
		}
		data, err := atomicfile.ReadFile(p, puttyMaxSession, nil)
		if err != nil {
			return out, inputError(err)
		}
		s, err := parseUnixSession(p, data)
		if err != nil {
			return out, err
		}
		s.Name = unescapePuTTY(e.Name())
		out.Sessions = append(out.Sessions, s)
	}
	if len(out.Sessions) == 0 {
		return out, &PuTTYError{File: dir, Msg: fmt.Sprintf("%v: the directory holds no session files (Unix PuTTY saves them in ~/.putty/sessions or ~/.config/putty/sessions)", ErrNoSessions), Err: ErrNoSessions}
	}
	return out, nil
}

// parseUnixSession reads one session file: "Key=Value" lines; PuTTY skips
// a line without '=' and reads numbers with atoi, tcpka wants the three
// keepalive values to be whole numbers.
func parseUnixSession(file string, data []byte) (PuTTYSession, error) {
	var s PuTTYSession
	if bytes.IndexByte(data, 0) >= 0 {
		return s, &PuTTYError{File: file, Msg: "not a PuTTY session file: it holds binary data"}
	}
	tcp := 0
	for i, line := range strings.Split(string(data), "\n") {
		key, val, ok := strings.Cut(strings.TrimRight(line, "\r"), "=")
		if !ok {
			continue
		}
		var field *int
		switch key {
		case puttyKeyMinutes:
			field = &s.PingMinutes
		case puttyKeySeconds:
			field = &s.PingSecs
		case puttyKeyTCP:
			field = &tcp
		default:
			continue
		}
		n, err := strconv.Atoi(val)
		if err != nil || n < 0 {
			return s, &PuTTYError{File: file, Line: i + 1, Msg: fmt.Sprintf("%s: want a whole number %s", key, unitOf(key))}
		}
		*field = n
	}
	s.TCPKeepalives = tcp != 0
	s.total()
	return s, nil
}

func unitOf(key string) string {
	switch key {
	case puttyKeyMinutes:
		return "of minutes, 0 or more"
	case puttyKeySeconds:
		return "of seconds, 0 or more"
	}
	return "(0 off, 1 on)"
}

// unescapePuTTY undoes PuTTY's %XX escaping of a session name (the same
// for registry keys and file names). A name that does not decode to UTF-8
// (Windows saves names in its ANSI code page) is shown escaped.
func unescapePuTTY(s string) string {
	var b []byte
	for i := 0; i < len(s); i++ {
		if s[i] == '%' && i+2 < len(s) {
			if n, err := strconv.ParseUint(s[i+1:i+3], 16, 8); err == nil {
				b = append(b, byte(n))
				i += 2
				continue
			}
		}
		b = append(b, s[i])
	}
	if !utf8.Valid(b) {
		return s
	}
	return string(b)
}
