package termsafe

import (
	"strconv"
	"unicode/utf8"
)

// Quote is s for a terminal: s itself when it holds no control character
// (C0, DEL, C1) and is valid UTF-8, and otherwise s quoted with Go
// escapes ("\x1b[31m"), so it cannot move the cursor or forge a line.
func Quote(s string) string {
	if safe(s) {
		return s
	}
	return strconv.Quote(s)
}

func safe(s string) bool {
	for _, r := range s {
		if r < 0x20 || r == 0x7f || r == utf8.RuneError || (r >= 0x80 && r < 0xa0) {
			return false
		}
	}
	return true
}
