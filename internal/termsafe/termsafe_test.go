package termsafe

import "testing"

func TestQuote(t *testing.T) {
	tests := []struct{ in, want string }{
		{"/home/ann/.putty/sessions", "/home/ann/.putty/sessions"},
		{"café", "café"},
		{"a\x1b[31mred", `"a\x1b[31mred"`},
		{"two\nlines", `"two\nlines"`},
		{"c1\u009b2J", `"c1\u009b2J"`},
		{"bad\xffutf8", `"bad\xffutf8"`},
		{"del\x7f", `"del\x7f"`},
		{"", ""},
	}
	for _, tt := range tests {
		if got := Quote(tt.in); got != tt.want {
			t.Errorf("Quote(%q) = %s, want %s", tt.in, got, tt.want)
		}
	}
}
