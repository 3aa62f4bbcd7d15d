package sshcfg

import (
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
	"time"
)

// bigExport is a regedit export of about size bytes as regedit writes a
// large binary value: one session whose REG_BINARY value runs over
// continuation lines of 25 bytes each ("  01,02,...,\"), then its
// keepalive settings.
func bigExport(size int) []byte {
	var b strings.Builder
	b.WriteString("Windows Registry Editor Version 5.00\r\n\r\n")
	b.WriteString(`[HKEY_CURRENT_USER\Software\SimonTatham\PuTTY\Sessions\big]` + "\r\n")
	b.WriteString(`"Blob"=hex:00,01,02,03,04,05,06,07,08,09,0a,0b,0c,0d,0e,0f,10,11,12,13,\` + "\r\n")
	line := "  " + strings.Repeat("7f,", 24) + `7f,\` + "\r\n"
	for b.Len() < size {
		b.WriteString(line)
	}
	b.WriteString("  00\r\n")
	b.WriteString(`"PingIntervalSecs"=dword:0000001e` + "\r\n")
	return []byte(b.String())
}

// TestParseRegExportLinear: a value continued over many lines costs work
// in proportion to its length: twice the export, about twice the bytes
// allocated (a count, not a time, so a loaded machine cannot make it
// flaky; joining by repeated concatenation allocated four times as much
// for twice the input: 7 s for 3 MB and 18 s for 6 MB).
func TestParseRegExportLinear(t *testing.T) {
	if testing.Short() {
		t.Skip("parses 9 MB of registry export")
	}
	cost := func(data []byte) (uint64, time.Duration) {
		var before, after runtime.MemStats
		runtime.GC()
		runtime.ReadMemStats(&before)
		t0 := time.Now()
		s, err := parseRegExport("big.reg", data)
		d := time.Since(t0)
		runtime.ReadMemStats(&after)
		if err != nil || len(s) != 1 || s[0].PingInterval != 30 {
			t.Fatalf("%d bytes: %v %+v", len(data), err, s)
		}
		return after.TotalAlloc - before.TotalAlloc, d
	}
	small, large := bigExport(3<<20), bigExport(6<<20)
	as, ts := cost(small)
	al, tl := cost(large)
	ratio := float64(al) / float64(as)
	t.Logf("3 MB: %d bytes allocated, %v; 6 MB: %d bytes, %v; ratio %.2f", as, ts, al, tl, ratio)
	if ratio > 2.5 {
		t.Errorf("twice the export allocated %.1f times as much (3 MB %d bytes, 6 MB %d): not linear", ratio, as, al)
	}
	if per := float64(al) / float64(len(large)); per > 20 {
		t.Errorf("%.0f bytes allocated per byte of input", per)
	}
}

func BenchmarkParseRegExport6MB(b *testing.B) {
	data := bigExport(6 << 20)
	b.SetBytes(int64(len(data)))
	for b.Loop() {
		if _, err := parseRegExport("big.reg", data); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkParseUnixSession(b *testing.B) {
	data := []byte(strings.Repeat("HostName=example.org\nPortNumber=22\n", 20000) + "PingIntervalSecs=30\n")
	b.SetBytes(int64(len(data)))
	for b.Loop() {
		if _, err := parseUnixSession("s", data); err != nil {
			b.Fatal(err)
		}
	}
}

// TestPuTTYErrorsShowNoContent: pointed at any file (as root, a symlink
// to /etc/shadow), ssh --putty names the file, the line and the setting
// that is wrong, never what the file holds; a path or session name with
// control characters is escaped.
func TestPuTTYErrorsShowNoContent(t *testing.T) {
	const secret = "root:$6$SECRETHASH"
	dir := t.TempDir()
	write := func(name, data string) string {
		p := filepath.Join(dir, name)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(data), 0o600); err != nil {
			t.Fatal(err)
		}
		return p
	}
	shadow := write("shadow", secret+":19000:0:99999:7:::\ndaemon:*:19000:0:99999:7:::\n")
	link := filepath.Join(dir, "putty.reg")
	if err := os.Symlink(shadow, link); err != nil {
		t.Fatal(err)
	}
	const head = "Windows Registry Editor Version 5.00\n[HKEY_CURRENT_USER\\Software\\SimonTatham\\PuTTY\\Sessions\\w%1B[2J]\n"
	evilDir := filepath.Join(dir, "evil\x1b[31m")
	write("evil\x1b[31m/sessions/host", "PingIntervalSecs="+secret+"\n")
	tests := []struct {
		path string
		want string // the message after the (escaped) path
	}{
		{link, `:1: not a registry export or a PuTTY sessions directory: its first line is not "Windows Registry Editor Version 5.00" (export the key with regedit, or give Unix PuTTY's sessions directory)`},
		{write("line.reg", head+secret+"\n"), `:3: not a registry line (want "Name"=value or [KEY])`},
		{write("key.reg", head+"["+secret+"\n"), `:3: a key line without its closing ]`},
		{write("name.reg", head+`"`+secret+"\n"), `:3: a value name without its closing quote`},
		{write("eq.reg", head+`"`+secret+`" `+secret+"\n"), `:3: a value without '='`},
		{write("dword.reg", head+`"PingInterval"=dword:`+secret+"\n"), `:3: session "w\x1b[2J": PingInterval: malformed dword: want up to 8 hex digits, e.g. dword:0000001e`},
		{write("string.reg", head+`"PingIntervalSecs"="`+secret+`"`+"\n"), `:3: session "w\x1b[2J": PingIntervalSecs is not a dword (PuTTY ignores it and uses 0): want dword:0000001e`},
		{write("neg.reg", head+`"PingInterval"=dword:ffffffff`+"\n"), `:3: session "w\x1b[2J": PingInterval: a negative dword`},
		{evilDir, `:1: PingIntervalSecs: want a whole number of seconds, 0 or more`},
	}
	for _, tt := range tests {
		_, err := ReadPuTTY(tt.path)
		if err == nil {
			t.Errorf("%q: no error", tt.path)
			continue
		}
		msg := err.Error()
		if strings.Contains(msg, "SECRET") || strings.Contains(msg, "daemon") || strings.ContainsAny(msg, "\x1b\n") {
			t.Errorf("%q: the message echoes content or a control character: %q", tt.path, msg)
		}
		p := tt.path
		if p == evilDir {
			p = fmt.Sprintf("%q", evilDir+"/sessions/host")
		}
		if msg != p+tt.want {
			t.Errorf("%q:\n got %s\nwant %s", tt.path, msg, p+tt.want)
		}
	}
}
