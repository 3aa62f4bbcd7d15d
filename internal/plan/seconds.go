package plan

import (
	"fmt"
	"math"
	"strconv"
	"time"
)

// ParseSeconds reads a duration as a person types it: a Go duration
// ("350s", "4m") or bare whole seconds, positive and whole. Its errors
// start with the value as given, for the caller to put after the flag.
func ParseSeconds(s string) (int, error) {
	if n, err := strconv.Atoi(s); err == nil {
		if n < 1 {
			return 0, fmt.Errorf("%s: must be at least 1s", s)
		}
		return n, nil
	}
	d, err := time.ParseDuration(s)
	if err != nil {
		return 0, fmt.Errorf("%q: not a duration (like 350s, 4m, 1h) nor whole seconds", s)
	}
	switch {
	case d%time.Second != 0:
		return 0, fmt.Errorf("%s: must be whole seconds", s)
	case d < time.Second:
		return 0, fmt.Errorf("%s: must be at least 1s", s)
	case d > math.MaxInt32*time.Second:
		return 0, fmt.Errorf("%s: too long", s)
	}
	return int(d / time.Second), nil
}
