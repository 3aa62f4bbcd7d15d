package sshcfg

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

// The fixtures hold the same five sessions three ways: sessions.reg as
// regedit writes it (UTF-16LE with a BOM, CRLF; made once from
// sessions-utf8.reg with `{ printf '\xff\xfe'; sed 's/$/\r/' |
// iconv -t UTF-16LE; }`), sessions-utf8.reg, and unix/sessions as Unix
// PuTTY saves them. "split 90s" is how PuTTY saves 90 s: PingInterval 1
// (minutes) and PingIntervalSecs 30; "legacy" has only the minutes.
var fixtureSessions = []PuTTYSession{
	{Name: "Default Settings"},
	{Name: "legacy", PingInterval: 300, PingMinutes: 5},
	{Name: "my server", PingInterval: 30, PingSecs: 30},
	{Name: "split 90s", PingInterval: 90, PingMinutes: 1, PingSecs: 30, TCPKeepalives: true},
	{Name: "tcp only", TCPKeepalives: true},
}

func TestReadPuTTY(t *testing.T) {
	tests := []struct {
		path   string
		client PuTTYClient
		dir    string // the directory read, when not path
	}{
		{"testdata/putty/sessions.reg", PuTTYWindows, ""},
		{"testdata/putty/sessions-utf8.reg", PuTTYWindows, ""},
		{"testdata/putty/unix/sessions", PuTTYUnix, ""},
		// ~/.putty itself: its sessions/ is read.
		{"testdata/putty/unix", PuTTYUnix, "testdata/putty/unix/sessions"},
	}
	for _, tt := range tests {
		t.Run(tt.path, func(t *testing.T) {
			got, err := ReadPuTTY(tt.path)
			if err != nil {
				t.Fatal(err)
			}
			want := PuTTYSessions{Path: tt.path, Client: tt.client, Sessions: fixtureSessions}
			if tt.dir != "" {
				want.Path = tt.dir
			}
			if diff := cmp.Diff(want, got); diff != "" {
				t.Errorf("ReadPuTTY (-want +got):\n%s", diff)
			}
		})
	}
}

func TestParseRegExport(t *testing.T) {
	const head = "Windows Registry Editor Version 5.00\r\n\r\n[HKEY_CURRENT_USER\\Software\\SimonTatham\\PuTTY\\Sessions\\"
	tests := []struct {
		name, data string
		want       []PuTTYSession
	}{
		{"UTF-8 BOM, lower-case hive, value names in other case",
			"\xef\xbb\xbf" + "Windows Registry Editor Version 5.00\n\n[hkey_current_user\\software\\simontatham\\putty\\sessions\\a]\n\"pingintervalsecs\"=dword:0000003C\n\"tcpkeepalives\"=dword:1\n",
			[]PuTTYSession{{Name: "a", PingInterval: 60, PingSecs: 60, TCPKeepalives: true}}},
		{"REGEDIT4",
			"REGEDIT4\n\n[HKEY_CURRENT_USER\\Software\\SimonTatham\\PuTTY\\Sessions\\b]\n\"PingIntervalSecs\"=dword:0000000a\n",
			[]PuTTYSession{{Name: "b", PingInterval: 10, PingSecs: 10}}},
		{"escaped names: PuTTY's %XX, a leading dot, UTF-8",
			head + "%2Ehidden]\r\n" + "[HKEY_CURRENT_USER\\Software\\SimonTatham\\PuTTY\\Sessions\\caf%C3%A9%20%2A]\r\n",
			[]PuTTYSession{{Name: ".hidden"}, {Name: "café *"}}},
		{"a name in the ANSI code page stays escaped",
			head + "caf%E9]\r\n",
			[]PuTTYSession{{Name: "caf%E9"}}},
		{"other hives, subkeys and deletions are skipped; a deleted value is unset",
			head + "x]\r\n\"PingIntervalSecs\"=dword:0000001e\r\n\"PingIntervalSecs\"=-\r\n" +
				"[HKEY_LOCAL_MACHINE\\Software\\SimonTatham\\PuTTY\\Sessions\\y]\r\n\"PingIntervalSecs\"=dword:1\r\n" +
				"[HKEY_CURRENT_USER\\Software\\SimonTatham\\PuTTY\\Sessions\\x\\sub]\r\n\"PingIntervalSecs\"=dword:1\r\n" +
				"[-HKEY_CURRENT_USER\\Software\\SimonTatham\\PuTTY\\Sessions\\z]\r\n",
			[]PuTTYSession{{Name: "x"}}},
		{"the same key twice: the later value wins, one session",
			head + "x]\r\n\"PingIntervalSecs\"=dword:1\r\n" + head[len("Windows Registry Editor Version 5.00\r\n\r\n"):] + "X]\r\n\"PingIntervalSecs\"=dword:2\r\n",
			[]PuTTYSession{{Name: "x", PingInterval: 2, PingSecs: 2}}},
		{"@, comments, strings with escapes and multi-line hex pass",
			head + "x]\r\n; a comment\r\n@=\"default\"\r\n\"A\"=\"say \\\"hi\\\" \\\\\"\r\n\"B\"=hex:01,02,\\\r\n  03,04\r\n\"PingInterval\"=dword:00000002\r\n",
			[]PuTTYSession{{Name: "x", PingInterval: 120, PingMinutes: 2}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := parseRegExport("x.reg", []byte(tt.data))
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("(-want +got):\n%s", diff)
			}
		})
	}
}

// TestReadPuTTYBad: every bad input is one error naming the file, and the
// line where there is one.
func TestReadPuTTYBad(t *testing.T) {
	empty := t.TempDir()
	utf16Odd := filepath.Join(t.TempDir(), "odd.reg")
	if err := os.WriteFile(utf16Odd, []byte("\xff\xfeW\x00i"), 0o644); err != nil {
		t.Fatal(err)
	}
	const head = "Windows Registry Editor Version 5.00\n[HKEY_CURRENT_USER\\Software\\SimonTatham\\PuTTY\\Sessions\\w]\n"
	inline := func(name, data string) string {
		p := filepath.Join(t.TempDir(), name)
		if err := os.WriteFile(p, []byte(data), 0o644); err != nil {
			t.Fatal(err)
		}
		return p
	}
	tests := []struct {
		path string
		want string // the whole message after the path
	}{
		{"testdata/putty/bad/garbage.bin", ": not a registry export: the file holds binary data"},
		{inline("nobom.reg", "W\x00i\x00n\x00"), ": UTF-16LE text without the BOM regedit writes: put FF FE in front, or convert it (iconv -f UTF-16LE -t UTF-8)"},
		{"testdata/putty/bad/notreg.ini", `:1: not a registry export or a PuTTY sessions directory: its first line is not "Windows Registry Editor Version 5.00" (export the key with regedit, or give Unix PuTTY's sessions directory)`},
		{"testdata/putty/bad/nosessions.reg", `: no PuTTY sessions: the export has no key under HKEY_CURRENT_USER\Software\SimonTatham\PuTTY\Sessions (export that key with regedit)`},
		{"testdata/putty/bad/baddword.reg", `:5: session "web": PingIntervalSecs: malformed dword: want up to 8 hex digits, e.g. dword:0000001e`},
		{"testdata/putty/bad/string.reg", `:4: session "web": PingIntervalSecs is not a dword (PuTTY ignores it and uses 0): want dword:0000001e`},
		{"testdata/putty/bad/unix-badvalue", "/host:2: PingIntervalSecs: want a whole number of seconds, 0 or more"},
		{empty, ": no PuTTY sessions: the directory holds no session files (Unix PuTTY saves them in ~/.putty/sessions or ~/.config/putty/sessions)"},
		{utf16Odd, ": UTF-16 text with an odd number of bytes: the file is cut short"},
		{inline("be.reg", "\xfe\xff\x00W"), ": UTF-16 big-endian text: regedit writes little-endian; convert it (iconv -f UTF-16BE -t UTF-8)"},
		{inline("empty.reg", ""), ": empty file: not a registry export"},
		{inline("neg.reg", head+"\"PingInterval\"=dword:ffffffff\n"), `:3: session "w": PingInterval: a negative dword`},
		{inline("long.reg", head+"\"PingInterval\"=dword:000000001\n"), `:3: session "w": PingInterval: malformed dword: want up to 8 hex digits, e.g. dword:0000001e`},
		{inline("line.reg", head+"PingInterval=1\n"), `:3: not a registry line (want "Name"=value or [KEY])`},
		{inline("key.reg", head+"[HKEY_CURRENT_USER\\x\n"), `:3: a key line without its closing ]`},
		{inline("latin1.reg", head+"\"HostName\"=\"caf\xe9\"\n"), ":3: not text: invalid UTF-8 (regedit exports are UTF-16LE with a BOM)"},
	}
	for _, tt := range tests {
		_, err := ReadPuTTY(tt.path)
		if err == nil {
			t.Errorf("%s: no error, want %q", tt.path, tt.want)
			continue
		}
		if got := err.Error(); got != tt.path+tt.want {
			t.Errorf("%s:\n got %s\nwant %s", tt.path, got, tt.path+tt.want)
		}
		if strings.Contains(err.Error(), "\n") {
			t.Errorf("%s: error on more than one line", tt.path)
		}
		if !errors.Is(err, ErrInvalid) {
			t.Errorf("%s: %v, want it to wrap ErrInvalid", tt.path, err)
		}
	}
	if _, err := ReadPuTTY("testdata/putty/missing.reg"); !errors.Is(err, os.ErrNotExist) || !errors.Is(err, ErrInvalid) {
		t.Errorf("missing file: %v, want not exist and ErrInvalid", err)
	}
	// There, but unreadable: the sessions could not be determined.
	if _, err := ReadPuTTY("/proc/self/mem"); !errors.Is(err, ErrUnreadable) || errors.Is(err, ErrInvalid) {
		t.Errorf("unreadable file: %v, want ErrUnreadable", err)
	}
}
