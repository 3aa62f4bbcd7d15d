package plan

import (
	"fmt"
	"strconv"
	"strings"
)

// ProfileYAML renders the plan as a profile file that the profile decoder
// (and so `tcpka apply`) accepts: the three values, the idle timeout and
// detection bound it was made for, and the sources of the path's figure.
// comment goes in a leading "#" line (the command that made it).
func (p Plan) ProfileYAML(comment, description string, sources []string) []byte {
	var b strings.Builder
	if comment != "" {
		fmt.Fprintf(&b, "# %s\n", strings.ReplaceAll(comment, "\n", " "))
	}
	if description != "" {
		fmt.Fprintf(&b, "description: %s\n", strconv.Quote(description))
	}
	k := p.Keepalive
	fmt.Fprintf(&b, "time: %ds\ninterval: %ds\nprobes: %d\n", k.Time, k.Intvl, k.Probes)
	if p.IdleTimeout > 0 {
		fmt.Fprintf(&b, "idle_timeout: %ds\n", p.IdleTimeout)
	}
	if p.DetectWithin > 0 {
		fmt.Fprintf(&b, "detect_within: %ds\n", p.DetectWithin)
	}
	if len(sources) > 0 {
		b.WriteString("sources:\n")
		for _, s := range sources {
			fmt.Fprintf(&b, "  - %s\n", strconv.Quote(s))
		}
	}
	return []byte(b.String())
}
