package metrics

import (
	"math"
	"strconv"
)

// ContentType is the media type of what AppendText writes: the Prometheus
// text format 0.0.4, with the escaping scheme expfmt names by default
// (names are legacy ones, so escaping never changes them).
const ContentType = "text/plain; version=0.0.4; charset=utf-8; escaping=underscores"

// AppendText appends fams to b in the Prometheus text exposition format,
// byte for byte as prometheus/common/expfmt writes the same families
// (text_test.go compares the two): HELP, TYPE, then one line per sample
// with its labels in the order given. Family and label names must be legacy
// Prometheus names ([a-zA-Z_:][a-zA-Z0-9_:]*); tcpka's are constants.
//
// tcpka writes the format itself because expfmt's encoder takes
// client_model's MetricFamily, a protobuf message: linking it brings the
// protobuf runtime, whose package init hashes the tcpka binary and builds
// descriptors at every start of every command.
func AppendText(b []byte, fams []Family) []byte {
	for _, f := range fams {
		b = append(b, "# HELP "...)
		b = append(b, f.Name...)
		b = append(b, ' ')
		b = appendEscaped(b, f.Help, false)
		b = append(b, "\n# TYPE "...)
		b = append(b, f.Name...)
		if f.Counter {
			b = append(b, " counter\n"...)
		} else {
			b = append(b, " gauge\n"...)
		}
		for _, m := range f.Metrics {
			b = append(b, f.Name...)
			for i, l := range m.Labels {
				if i == 0 {
					b = append(b, '{')
				} else {
					b = append(b, ',')
				}
				b = append(b, l.Name...)
				b = append(b, `="`...)
				b = appendEscaped(b, l.Value, true)
				b = append(b, '"')
			}
			if len(m.Labels) > 0 {
				b = append(b, '}')
			}
			b = append(b, ' ')
			b = appendFloat(b, m.Value)
			b = append(b, '\n')
		}
	}
	return b
}

// appendEscaped escapes a HELP text (backslash, newline) or, with quote, a
// label value (also the double quote).
func appendEscaped(b []byte, s string, quote bool) []byte {
	for i := 0; i < len(s); i++ {
		switch c := s[i]; {
		case c == '\\':
			b = append(b, `\\`...)
		case c == '\n':
			b = append(b, `\n`...)
		case c == '"' && quote:
			b = append(b, `\"`...)
		default:
			b = append(b, c)
		}
	}
	return b
}

// appendFloat formats a sample value as the text format does: shortest
// representation, NaN, +Inf and -Inf, and 0 for negative zero.
func appendFloat(b []byte, f float64) []byte {
	switch {
	case f == 0:
		return append(b, '0')
	case math.IsNaN(f):
		return append(b, "NaN"...)
	case math.IsInf(f, +1):
		return append(b, "+Inf"...)
	case math.IsInf(f, -1):
		return append(b, "-Inf"...)
	}
	return strconv.AppendFloat(b, f, 'g', -1, 64)
}
