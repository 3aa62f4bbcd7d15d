package nsreport

import (
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/tcpka/tcpka/internal/human"
	"github.com/tcpka/tcpka/internal/rearm"
)

// Rearm is what a command found of the live connections' keepalive
// timers after it changed the sysctls: a pass of internal/rearm in each
// namespace, that re-armed them (Asked, --rearm) or only counted those
// still armed with the old values.
type Rearm struct {
	Asked  bool // --rearm: the pass re-armed (or, on a dry run, would)
	DryRun bool
	Visits []rearm.Visited
	Err    error // the pass failed (for one namespace)
}

// RearmJSON is a pass in --json: "rearm".
type RearmJSON struct {
	Method       string  `json:"method"`
	Fallback     string  `json:"fallback,omitempty"`
	DryRun       bool    `json:"dry_run"`
	Rearmed      int     `json:"rearmed"`
	Current      int     `json:"current"`
	OwnValues    int     `json:"own_values"`
	KeepaliveOff int     `json:"keepalive_off"`
	Busy         int     `json:"busy"`
	Unreachable  int     `json:"unreachable"`
	Failed       int     `json:"failed"`
	LimitS       int     `json:"limit_s"`
	OldUntilS    float64 `json:"old_timers_until_s"`
	TookMs       float64 `json:"took_ms"`
	Error        string  `json:"error,omitempty"`
}

func rearmJSON(v rearm.Visited, dry bool) *RearmJSON {
	r := v.Result
	j := &RearmJSON{Method: string(r.Method), DryRun: dry, Rearmed: r.Rearmed, Current: r.Current, OwnValues: r.Own,
		KeepaliveOff: r.Off, Busy: r.Busy, Unreachable: r.Unreachable, Failed: r.Failed,
		LimitS: int(r.Limit / time.Second), OldUntilS: v.Latest.Round(time.Millisecond).Seconds(),
		TookMs: float64(r.Took.Microseconds()) / 1000}
	if r.Fallback != nil {
		j.Fallback = human.OneLine(r.Fallback.Error())
	}
	if v.Err != nil {
		j.Error = human.OneLine(v.Err.Error())
	}
	return j
}

// visit is the pass of namespace id, or nil.
func (r *Rearm) visit(id string) *rearm.Visited {
	if r == nil {
		return nil
	}
	for i := range r.Visits {
		if r.Visits[i].ID == id {
			return &r.Visits[i]
		}
	}
	return nil
}

// Failed says whether the pass failed anywhere: a namespace's pass, or a
// socket the kernel refused.
func (r *Rearm) Failed() bool {
	if r == nil {
		return false
	}
	if r.Err != nil {
		return true
	}
	for _, v := range r.Visits {
		if v.Err != nil || v.Result.Failed > 0 {
			return true
		}
	}
	return false
}

// print says what the pass of one namespace found, indented by indent.
func (r *Rearm) print(w io.Writer, v *rearm.Visited, indent string) {
	if r == nil || v == nil {
		return
	}
	res := v.Result
	if v.Err != nil {
		fmt.Fprintf(w, "%sre-arm: FAILED: %s\n", indent, human.OneLine(v.Err.Error()))
		return
	}
	how := fmt.Sprintf("%s, %.2f s", res.Method, res.Took.Seconds())
	if res.Fallback != nil {
		how += "; BPF unavailable: " + human.OneLine(res.Fallback.Error())
	}
	switch {
	case !r.Asked && res.Rearmed > 0:
		fmt.Fprintf(w, "%snote: %d live %s still %s a keepalive timer armed with the old values, the last for %s more: tcpka apply --rearm makes the new values hold now\n",
			indent, res.Rearmed, human.Plural(res.Rearmed, "connection"), human.Verb(res.Rearmed, "has", "have"), human.Duration(int(v.Latest.Round(time.Second)/time.Second)))
		return
	case !r.Asked:
		return
	case r.DryRun:
		fmt.Fprintf(w, "%swould re-arm %d keepalive %s (%s): their first probe would come within %s\n",
			indent, res.Rearmed, human.Plural(res.Rearmed, "timer"), how, human.Duration(int(res.Limit/time.Second)))
	default:
		fmt.Fprintf(w, "%sre-armed %d keepalive %s (%s): their first probe now comes within %s\n",
			indent, res.Rearmed, human.Plural(res.Rearmed, "timer"), how, human.Duration(int(res.Limit/time.Second)))
	}
	left := []string{fmt.Sprintf("%d already due in time", res.Current), fmt.Sprintf("%d own TCP_KEEPIDLE", res.Own), fmt.Sprintf("%d keepalive off", res.Off)}
	if res.Busy > 0 {
		left = append(left, fmt.Sprintf("%d busy retransmitting", res.Busy))
	}
	if res.Unreachable > 0 {
		left = append(left, fmt.Sprintf("%d without a process tcpka can reach", res.Unreachable))
	}
	if res.Failed > 0 {
		left = append(left, fmt.Sprintf("%d FAILED", res.Failed))
	}
	fmt.Fprintf(w, "%sleft alone: %s\n", indent, strings.Join(left, ", "))
}
