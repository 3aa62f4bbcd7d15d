package jsonout

import (
	"strconv"

	"github.com/tcpka/tcpka/internal/detect"
	"github.com/tcpka/tcpka/internal/human"
	"github.com/tcpka/tcpka/internal/keepalive"
)

// Settings is the one JSON shape of a set of keepalive values and what
// they give a connection whose peer went silent. Embedded in a command's
// output struct, its members are written in place (Marshal); as a field,
// it is an object of its own. Encode it with Marshal: encoding/json does
// not see its members.
//
//   - one per key of the table, under the key's JSON name: its value; for
//     a key the values leave unset, null where the key is Always shown
//     (time_s, intvl_s, probes) and nothing otherwise (retries2,
//     user_timeout_ms)
//   - detection_s: idle connection, seconds until a silent peer is
//     noticed; null where never (keepalive off)
//   - detection: the same in words ("2h11m15s"), where there is one
//   - data_in_flight_s: unacknowledged data in flight, seconds until the
//     connection fails; left out where unknown (no tcp_retries2 read)
type Settings struct {
	shown  keepalive.Settings
	bounds detect.Bounds
}

// New is the one constructor: shown are the values the object lists (a
// profile's are partial), b the detection times the model gives them
// (detect: Net.Bounds, or for a client tcpka cannot read, detect.Windows).
// The helpers below build b for the usual cases.
func New(shown keepalive.Settings, b detect.Bounds) Settings {
	return Settings{shown: shown, bounds: b}
}

// NewSettings is New for values whose connection the model reckons:
// effective is what a connection really holds with shown (a namespace's
// sysctls under a profile, a socket's own options over its namespace's,
// with tcp_retries2 and TCP_USER_TIMEOUT), net the namespace's
// retransmission parameters, keepaliveOn whether it probes at all.
func NewSettings(shown, effective keepalive.Settings, net detect.Net, keepaliveOn bool) Settings {
	return New(shown, net.Bounds(effective, keepaliveOn))
}

// Of is NewSettings for values that are complete and hold for a
// connection with keepalive on: a namespace's sysctls.
func Of(s keepalive.Settings, net detect.Net) Settings { return NewSettings(s, s, net, true) }

// Profile is NewSettings for a profile's or a plan's partial values: the
// times are what a namespace at the kernel defaults gives every socket
// once they are applied (user_timeout is listed, but a socket option only
// tcpka enforce sets, so not counted).
func Profile(s keepalive.Settings) Settings {
	return NewSettings(s, s.Sysctls().Over(keepalive.KernelDefaults), detect.Net{}, true)
}

// Bounds are the detection times the object reports.
func (s Settings) Bounds() detect.Bounds { return s.bounds }

// Members lists the object's members in order.
func (s Settings) Members() []Member {
	var out []Member
	for _, k := range keepalive.Keys() {
		switch n := k.Get(s.shown); {
		case n != 0:
			out = append(out, Member{k.JSON, strconv.AppendInt(nil, int64(n), 10)})
		case k.Always:
			out = append(out, Member{k.JSON, null})
		}
	}
	if d := s.bounds.Idle; d >= 0 {
		out = append(out, Member{"detection_s", strconv.AppendInt(nil, int64(d), 10)},
			Member{"detection", strconv.AppendQuote(nil, human.Duration(d))})
	} else {
		out = append(out, Member{"detection_s", null})
	}
	if d := s.bounds.Data; d >= 0 {
		out = append(out, Member{"data_in_flight_s", strconv.AppendInt(nil, int64(d), 10)})
	}
	return out
}

var null = []byte("null")
