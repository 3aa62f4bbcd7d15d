package profile

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"math"
	"path/filepath"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/tcpka/tcpka/internal/detect"
	"github.com/tcpka/tcpka/internal/human"
	"github.com/tcpka/tcpka/internal/keepalive"
	"gopkg.in/yaml.v3"
)

// Profile is a validated profile.
type Profile struct {
	Name        string
	Description string
	Sources     []string
	// Settings holds the keys the profile sets (non-zero); unset keys are
	// left alone.
	Settings keepalive.Settings
	// IdleTimeout is the smallest idle timeout on the path the profile is
	// built for (0: not stated). Time must stay below it with a margin.
	IdleTimeout int
	// DetectWithin is the promised upper bound on the detection time
	// (0: not stated).
	DetectWithin int
	// Origin is "shipped" or the file the profile was read from.
	Origin string
	// Warnings are what the profile costs that its author should know:
	// tcp_retries2 below RFC 1122's 100 s, a user timeout that cuts
	// keepalive's probes short.
	Warnings []string
	// Raw is the text it was decoded from.
	Raw []byte
}

// ErrInvalid is wrapped by every decode and validation error, and by the
// refusal of a file that is no profile (a directory, a FIFO or device, too
// large, writable by others when tcpka runs as root).
var ErrInvalid = errors.New("invalid profile")

// Error is a decode error with its position.
type Error struct {
	File string
	Line int    // 0 when the error is about the whole file
	Key  string // "" when not about one key
	Msg  string
}

func (e *Error) Error() string {
	var b strings.Builder
	b.WriteString(human.Safe(e.File))
	if e.Line > 0 {
		b.WriteString(":" + strconv.Itoa(e.Line))
	}
	b.WriteString(": ")
	if e.Key != "" {
		b.WriteString(e.Key + ": ")
	}
	b.WriteString(e.Msg)
	return b.String()
}

func (e *Error) Unwrap() error { return ErrInvalid }

// Applied returns what a network namespace holding base holds once the
// profile is applied: its sysctl values over base. user_timeout is a
// socket option, not a namespace's, and is not part of it (Settings.Over
// keeps every field: what a socket holds).
func (p *Profile) Applied(base keepalive.Settings) keepalive.Settings {
	return p.Settings.Sysctls().Over(base)
}

// Complete says whether the profile sets all three keepalive keys, so that
// its detection time does not depend on the kernel it is applied to.
func (p *Profile) Complete() bool {
	s := p.Settings
	return s.Time != 0 && s.Intvl != 0 && s.Probes != 0
}

// metaKeys are the profile keys that are not settings: they describe the
// profile and the path it is made for.
var metaKeys = []string{"name", "description", "idle_timeout", "detect_within", "sources"}

// knownKeys is listed in errors about unknown keys: the meta keys around
// every key of the key table.
func knownKeys() string {
	names := []string{"name", "description"}
	for _, k := range keepalive.Keys() {
		names = append(names, k.Profile)
	}
	return strings.Join(append(names, metaKeys[2:]...), ", ")
}

// settingKeys names the keys of the key table: "time, interval, probes, ...".
func settingKeys() string {
	var names []string
	for _, k := range keepalive.Keys() {
		names = append(names, k.Profile)
	}
	return strings.Join(names, ", ")
}

// Decode parses data as the profile file named file. defaultName is used
// when the profile has no name key. An error names the file, the line and
// the key, never a string the file holds: root may be pointed at any file,
// and its content must not reach a terminal or a log.
func Decode(file, defaultName string, data []byte) (*Profile, error) {
	fail := func(line int, key, format string, args ...any) error {
		return &Error{File: file, Line: line, Key: key, Msg: fmt.Sprintf(format, args...)}
	}
	if len(bytes.TrimSpace(data)) == 0 {
		return nil, fail(0, "", "empty profile: set at least one of time, interval, probes")
	}
	if enc := utf16(data); enc != "" {
		return nil, fail(0, "", "not a YAML profile: the file is %s text: save it as UTF-8", enc)
	}
	if bytes.IndexByte(data, 0) >= 0 || !utf8.Valid(data) {
		return nil, fail(0, "", "not a YAML profile: the file holds binary data")
	}
	dec := yaml.NewDecoder(bytes.NewReader(data))
	var doc yaml.Node
	if err := dec.Decode(&doc); err != nil {
		if errors.Is(err, io.EOF) {
			return nil, fail(0, "", "empty profile: set at least one of time, interval, probes")
		}
		return nil, yamlError(file, err)
	}
	var second yaml.Node
	if err := dec.Decode(&second); !errors.Is(err, io.EOF) {
		line := second.Line
		if err != nil {
			return nil, yamlError(file, err)
		}
		return nil, fail(line, "", "a second YAML document: a profile is one document")
	}
	if doc.Kind != yaml.DocumentNode || len(doc.Content) != 1 {
		return nil, fail(doc.Line, "", "empty profile: set at least one of time, interval, probes")
	}
	root := doc.Content[0]
	if root.Kind != yaml.MappingNode {
		return nil, fail(root.Line, "", "a profile is a mapping of keys (time, interval, probes, ...), not %s", kindName(root))
	}
	p := &Profile{Name: defaultName, Origin: file, Raw: data}
	seen := map[string]int{}
	for i := 0; i+1 < len(root.Content); i += 2 {
		kn, vn := root.Content[i], root.Content[i+1]
		if kn.Kind != yaml.ScalarNode {
			return nil, fail(kn.Line, "", "keys must be plain names")
		}
		key := kn.Value
		if prev, dup := seen[key]; dup {
			if !isName(key) {
				return nil, fail(kn.Line, "", "a key set twice (first on line %d)", prev)
			}
			return nil, fail(kn.Line, key, "duplicate key (first set on line %d)", prev)
		}
		seen[key] = kn.Line
		switch key {
		case "name":
			s, err := scalarString(vn)
			if err != nil {
				return nil, fail(vn.Line, key, "%v", err)
			}
			if s == "" || strings.ContainsAny(s, "/ \t\n") || !printable(s) {
				return nil, fail(vn.Line, key, "not a valid name: non-empty, printable, no spaces or '/'")
			}
			p.Name = s
		case "description":
			s, err := scalarString(vn)
			if err != nil {
				return nil, fail(vn.Line, key, "%v", err)
			}
			p.Description = s
		case "sources":
			if vn.Kind != yaml.SequenceNode {
				return nil, fail(vn.Line, key, "must be a list of strings, not %s", kindName(vn))
			}
			for _, item := range vn.Content {
				s, err := scalarString(item)
				if err != nil {
					return nil, fail(item.Line, key, "%v", err)
				}
				p.Sources = append(p.Sources, s)
			}
		case "idle_timeout", "detect_within":
			n, err := durationSeconds(vn)
			if err != nil {
				return nil, fail(vn.Line, key, "%v", err)
			}
			if n < 1 {
				return nil, fail(vn.Line, key, "must be at least 1s, got %d", n)
			}
			if key == "idle_timeout" {
				p.IdleTimeout = n
			} else {
				p.DetectWithin = n
			}
		default:
			k, ok := keepalive.KeyByProfile(key)
			if !ok && !isName(key) {
				return nil, fail(kn.Line, "", "an unknown key that is not a name (known: %s)", knownKeys())
			}
			if !ok {
				return nil, fail(kn.Line, key, "unknown key (known: %s)", knownKeys())
			}
			n, err := settingValue(k, vn)
			if err != nil {
				return nil, fail(vn.Line, key, "%v", err)
			}
			k.Set(&p.Settings, n)
		}
	}
	if p.Settings.IsZero() {
		return nil, fail(root.Line, "", "sets none of %s", settingKeys())
	}
	if err := p.checkIntent(func(key string) int { return seen[key] }); err != nil {
		return nil, &Error{File: file, Line: err.Line, Key: err.Key, Msg: err.Msg}
	}
	p.Warnings = warnings(p.Settings)
	return p, nil
}

// settingValue decodes the value of key k and holds it to k's range: a
// duration (Seconds, and Millis written in whole seconds) or a count.
func settingValue(k *keepalive.Key, vn *yaml.Node) (int, error) {
	n, err := settingNumber(k, vn)
	if errors.Is(err, errTooLarge) {
		if k.Unit == keepalive.Count {
			return 0, fmt.Errorf("out of range: must be %d..%d", k.Min, k.Max)
		}
		return 0, fmt.Errorf("out of range: must be %ds..%ds", max(k.Min/unitPerSecond(k), 1), k.Max/unitPerSecond(k))
	}
	return n, err
}

// unitPerSecond is how many of k's units make a second.
func unitPerSecond(k *keepalive.Key) int {
	if k.Unit == keepalive.Millis {
		return 1000
	}
	return 1
}

func settingNumber(k *keepalive.Key, vn *yaml.Node) (int, error) {
	switch k.Unit {
	case keepalive.Count:
		n, err := integer(vn)
		if err != nil {
			return 0, err
		}
		if n < k.Min || n > k.Max {
			return 0, fmt.Errorf("%d is out of range: must be %d..%d", n, k.Min, k.Max)
		}
		return n, nil
	case keepalive.Millis:
		n, err := durationSeconds(vn)
		if err != nil {
			return 0, err
		}
		lo, hi := max(k.Min/1000, 1), k.Max/1000
		if n < lo || n > hi {
			return 0, fmt.Errorf("%ds is out of range: must be %ds..%ds", n, lo, hi)
		}
		return n * 1000, nil
	}
	n, err := durationSeconds(vn)
	if err != nil {
		return 0, err
	}
	if n < k.Min || n > k.Max {
		return 0, fmt.Errorf("%ds is out of range: must be %ds..%ds", n, k.Min, k.Max)
	}
	return n, nil
}

// isName says whether an error may name key: it is spelled as profile
// keys are (letters, digits, '_', '-', '.'; at most 40). A line of some
// other file is not printed as a key.
func isName(key string) bool {
	if len(key) == 0 || len(key) > 40 {
		return false
	}
	for _, c := range key {
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '_' || c == '-' || c == '.') {
			return false
		}
	}
	return true
}

// asciiText says whether b is UTF-16 text in byte order o made of
// printable ASCII and line breaks, as a profile is: a byte order mark
// alone does not make a file text.
func asciiText(b []byte, o binary.ByteOrder) bool {
	if len(b)%2 != 0 {
		return false
	}
	for i := 0; i+1 < len(b); i += 2 {
		c := o.Uint16(b[i:])
		if c >= 0x7f || (c < 0x20 && c != '\n' && c != '\r' && c != '\t') {
			return false
		}
	}
	return true
}

// printable says whether s has no control characters.
func printable(s string) bool {
	for _, r := range s {
		if r < 0x20 || r == 0x7f || (r >= 0x80 && r < 0xa0) {
			return false
		}
	}
	return true
}

// utf16 names the encoding of a UTF-16 file (a byte order mark, or every
// other byte NUL in ASCII text), "" for anything else: editors on Windows
// save such files, and "binary data" would not say what to do.
func utf16(data []byte) string {
	switch {
	case bytes.HasPrefix(data, []byte{0xff, 0xfe}) && asciiText(data[2:], binary.LittleEndian):
		return "UTF-16 (little-endian)"
	case bytes.HasPrefix(data, []byte{0xfe, 0xff}) && asciiText(data[2:], binary.BigEndian):
		return "UTF-16 (big-endian)"
	}
	if len(data) >= 4 && len(data)%2 == 0 {
		even, odd := 0, 0
		for i := 0; i+1 < len(data); i += 2 {
			if data[i] == 0 && data[i+1] != 0 {
				even++
			}
			if data[i+1] == 0 && data[i] != 0 {
				odd++
			}
		}
		switch half := len(data) / 2; {
		case odd == half:
			return "UTF-16 (little-endian)"
		case even == half:
			return "UTF-16 (big-endian)"
		}
	}
	return ""
}

// RFC1122Retries2 is the least tcp_retries2 that keeps retransmitting for
// the 100 s RFC 1122 (4.2.3.5) asks for: at 8 the kernel gives up after
// 102.2 s.
const RFC1122Retries2 = 8

// warnings names what a valid profile costs.
func warnings(s keepalive.Settings) []string {
	var out []string
	if r := s.Retries2; r > 0 && r < RFC1122Retries2 {
		out = append(out, fmt.Sprintf("retries2 %d gives up on unacknowledged data after %s, below the 100 s RFC 1122 asks for: a network outage that long breaks busy connections too, not only dead peers",
			r, human.Seconds(detect.Net{}.Data(keepalive.Settings{Retries2: r}))))
	}
	if u := s.UserTimeout; u > 0 && s.Time != 0 && s.Intvl != 0 && s.Probes != 0 {
		if full := detect.Idle(s.Keepalive()); u < time.Duration(full)*time.Second {
			out = append(out, fmt.Sprintf("user_timeout %s ends an idle connection at %s, before its %d probes are out: time + interval x probes = %s keeps keepalive's meaning",
				u, human.Seconds(detect.Idle(s)), s.Probes, human.Duration(full)))
		}
	}
	return out
}

// checkIntent holds the profile to its own stated idle_timeout and
// detect_within, so a profile cannot claim a path it does not fit.
func (p *Profile) checkIntent(line func(string) int) *Error {
	if t := p.Settings.Time; t != 0 && p.IdleTimeout > 0 && !detect.KeepsOpen(t, p.IdleTimeout) {
		m := detect.Margin(p.IdleTimeout)
		return &Error{Line: line("time"), Key: "time", Msg: fmt.Sprintf(
			"%d s does not fit below idle_timeout %d s with the %d s margin for timer lateness: use at most %d s",
			t, p.IdleTimeout, m, p.IdleTimeout-m)}
	}
	// Once a probe is answered the next comes max(time, interval) later,
	// so the interval (the kernel's 75 s where the profile leaves it) must
	// fit the path too.
	if k := p.Applied(keepalive.KernelDefaults); p.Settings.Time != 0 && p.IdleTimeout > 0 && !detect.KeepsOpen(k.Intvl, p.IdleTimeout) {
		key, what := "interval", fmt.Sprintf("%d s", k.Intvl)
		if p.Settings.Intvl == 0 {
			key, what = "time", fmt.Sprintf("the kernel's interval %d s (the profile sets none)", k.Intvl)
		}
		return &Error{Line: line(key), Key: key, Msg: fmt.Sprintf(
			"%s does not fit below idle_timeout %d s: once a probe is answered the next comes max(time, interval) later; use an interval of at most %d s",
			what, p.IdleTimeout, detect.OpenLimit(p.IdleTimeout))}
	}
	// detect_within is a promise for machines tcpka never sees: it holds
	// at the worst moment and tick rate (detect.Latest), as plan's does.
	if p.DetectWithin > 0 && p.Complete() {
		if d := detect.Latest(p.Settings, true).Idle; d > p.DetectWithin {
			return &Error{Line: line("detect_within"), Key: "detect_within", Msg: fmt.Sprintf(
				"time + interval*probes = %d s, up to %d s with late timers, exceeds detect_within %d s",
				detect.Idle(p.Settings), d, p.DetectWithin)}
		}
	}
	// Data in flight: each bound the profile sets must keep its promise.
	if r := p.Settings.Retries2; p.DetectWithin > 0 && r > 0 {
		if d := detect.Latest(keepalive.Settings{Retries2: r}, false).Data; d > p.DetectWithin {
			return &Error{Line: line("retries2"), Key: "retries2", Msg: fmt.Sprintf(
				"%d gives up on data in flight after up to %d s, past detect_within %d s", r, d, p.DetectWithin)}
		}
	}
	if u := p.Settings.UserTimeout; p.DetectWithin > 0 && u > 0 {
		if d := detect.Latest(keepalive.Settings{UserTimeout: u}, false).Data; d > p.DetectWithin {
			return &Error{Line: line("user_timeout"), Key: "user_timeout", Msg: fmt.Sprintf(
				"%s gives up on data in flight after up to %d s, past detect_within %d s", u, d, p.DetectWithin)}
		}
	}
	return nil
}

// durationSeconds accepts a bare integer (seconds) or a Go duration string
// ("90s", "2m", "1h") that is a whole number of seconds. Its errors never
// quote the value: the file could be anything root was pointed at.
func durationSeconds(n *yaml.Node) (int, error) {
	const want = "must be a duration like 90s or 2m, or whole seconds"
	if n.Kind != yaml.ScalarNode {
		return 0, fmt.Errorf("%s, not %s", want, kindName(n))
	}
	switch n.ShortTag() {
	case "!!int":
		return integer(n)
	case "!!float":
		if wholeNumber(n.Value) {
			return 0, errTooLarge
		}
		return 0, errors.New("must be whole seconds, not a fraction")
	case "!!str":
		if i, err := strconv.Atoi(n.Value); err == nil {
			return i, nil
		}
		d, err := time.ParseDuration(n.Value)
		if err != nil {
			return 0, fmt.Errorf("%s, not a string that is neither", want)
		}
		if d%time.Second != 0 {
			return 0, errors.New("must be whole seconds, not a fraction")
		}
		if d > math.MaxInt32*time.Second || d < -math.MaxInt32*time.Second {
			return 0, errTooLarge
		}
		return int(d / time.Second), nil
	}
	return 0, fmt.Errorf("%s, not %s", want, tagName(n))
}

// errTooLarge: a number past what any key takes; the caller names the
// key's range.
var errTooLarge = errors.New("out of range")

// wholeNumber says whether a YAML float is written as an integer too
// large for an int ("18446744073709551616"): out of range, not a fraction.
func wholeNumber(v string) bool {
	digits := strings.TrimLeft(v, "+-")
	if digits == "" {
		return false
	}
	for _, c := range digits {
		if c < '0' || c > '9' {
			return false
		}
	}
	return true
}

func integer(n *yaml.Node) (int, error) {
	if n.Kind != yaml.ScalarNode || n.ShortTag() != "!!int" {
		if n.Kind == yaml.ScalarNode && n.ShortTag() == "!!float" {
			if wholeNumber(n.Value) {
				return 0, errTooLarge
			}
			return 0, errors.New("must be a whole number, not a fraction")
		}
		return 0, fmt.Errorf("must be a whole number, not %s", tagName(n))
	}
	if err := decimal(n.Value); err != nil {
		return 0, err
	}
	var i int64
	if err := n.Decode(&i); err != nil || i > math.MaxInt32 || i < math.MinInt32 {
		return 0, errTooLarge
	}
	return int(i), nil
}

func scalarString(n *yaml.Node) (string, error) {
	if n.Kind != yaml.ScalarNode || n.ShortTag() == "!!null" {
		return "", fmt.Errorf("must be a string, not %s", tagName(n))
	}
	return n.Value, nil
}

// kindName names what a node is, with its article: "a list", "an alias",
// "a string". It never quotes the node's value.
func kindName(n *yaml.Node) string {
	switch n.Kind {
	case yaml.SequenceNode:
		return "a list"
	case yaml.MappingNode:
		return "a mapping"
	case yaml.AliasNode:
		return "an alias"
	}
	return tagName(n)
}

// tagName names a scalar's type, with its article: "a string", "a
// boolean"; the value itself is not printed.
func tagName(n *yaml.Node) string {
	if n.Kind != yaml.ScalarNode {
		return kindName(n)
	}
	switch n.ShortTag() {
	case "!!str":
		return "a string"
	case "!!bool":
		return "a boolean"
	case "!!null":
		return "an empty value"
	case "!!float":
		return "a number with a fraction"
	case "!!int":
		return "an integer"
	case "!!binary":
		return "binary data"
	case "!!timestamp":
		return "a timestamp"
	}
	return "a value of another type"
}

// yamlError turns a yaml.v3 error ("yaml: line 3: ...") into "file:3:
// ...". A quoted part longer than a character or two (an anchor's name)
// comes from the file and is left out.
func yamlError(file string, err error) error {
	msg := strings.TrimPrefix(err.Error(), "yaml: ")
	line := 0
	if rest, ok := strings.CutPrefix(msg, "line "); ok {
		if num, after, ok := strings.Cut(rest, ": "); ok {
			if n, err := strconv.Atoi(num); err == nil {
				line, msg = n, after
			}
		}
	}
	return &Error{File: file, Line: line, Msg: "not valid YAML: " + dropQuoted(msg)}
}

// dropQuoted replaces every quoted part of msg ('...', "...", `...`)
// longer than two characters with "…": yaml.v3 quotes its own tokens
// (',' or ']'), but also names from the file.
func dropQuoted(msg string) string {
	var b strings.Builder
	for i := 0; i < len(msg); i++ {
		c := msg[i]
		if c == '\'' || c == '"' || c == '`' {
			if end := strings.IndexByte(msg[i+1:], c); end > 2 {
				b.WriteString(string(c) + "…" + string(c))
				i += end + 1
				continue
			} else if end >= 0 {
				b.WriteString(msg[i : i+end+2])
				i += end + 1
				continue
			}
		}
		b.WriteByte(c)
	}
	return b.String()
}

// NameFromFile is the default profile name: the base name without .yaml/.yml.
func NameFromFile(path string) string {
	base := filepath.Base(path)
	for _, ext := range []string{".yaml", ".yml"} {
		if b, ok := strings.CutSuffix(base, ext); ok {
			return b
		}
	}
	return base
}

// decimal refuses an integer written with a leading zero, which YAML
// reads as octal (074 is 60): nobody writing seconds means that. Explicit
// forms (0x4a, 0o74) say what they mean and are kept.
func decimal(v string) error {
	digits := strings.TrimLeft(v, "+-")
	if len(digits) < 2 || digits[0] != '0' {
		return nil
	}
	for _, c := range digits {
		if c < '0' || c > '9' {
			return nil
		}
	}
	return fmt.Errorf("%s: a leading zero makes YAML read it as octal (%s): write %s", v, octal(digits), strings.TrimLeft(digits, "0"))
}

// octal is what YAML makes of a number with a leading zero.
func octal(digits string) string {
	if n, err := strconv.ParseInt(digits, 8, 64); err == nil {
		return strconv.FormatInt(n, 10)
	}
	return "not a number"
}
