package plan

import (
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/tcpka/tcpka/internal/human"
	"github.com/tcpka/tcpka/internal/profile"
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
	k := p.Settings
	fmt.Fprintf(&b, "time: %ds\ninterval: %ds\nprobes: %d\n", k.Time, k.Intvl, k.Probes)
	if k.Retries2 != 0 {
		fmt.Fprintf(&b, "retries2: %d\n", k.Retries2)
	}
	if k.UserTimeout != 0 {
		fmt.Fprintf(&b, "user_timeout: %ds\n", int(k.UserTimeout/time.Second))
	}
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

// ErrRoundTrip is wrapped when a rendered plan does not decode back to
// itself: a bug, never the user's input.
var ErrRoundTrip = errors.New("internal error: the plan does not round-trip through the profile decoder")

// Profile renders the plan as the profile file `plan -o FILE` writes: a
// description of the path (box, nil for none) and the bounds, the command
// line that made it, the path's source; and checks that the profile
// decoder reads back exactly the planned values.
func (p Plan) Profile(file string, box *Middlebox, commandLine string) ([]byte, error) {
	var sources []string
	desc := "Planned by tcpka"
	if box != nil {
		desc += " for " + box.Title + ","
		sources = append(sources, box.Source)
	}
	if p.IdleTimeout > 0 {
		desc += fmt.Sprintf(" keeping flows open through a %s idle timeout", human.Duration(p.IdleTimeout))
	}
	if p.DetectWithin > 0 {
		desc += fmt.Sprintf(", noticing a dead peer within %s", human.Duration(p.DetectWithin))
	}
	desc += "."
	data := p.ProfileYAML("written by: tcpka "+commandLine, desc, sources)
	got, err := profile.Decode(file, profile.NameFromFile(file), data)
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrRoundTrip, err)
	}
	if got.Settings != p.Settings {
		return nil, ErrRoundTrip
	}
	return data, nil
}
