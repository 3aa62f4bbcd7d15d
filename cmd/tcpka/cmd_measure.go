package main

import (
	"context"
	"errors"
	"fmt"
	"math"
	"os"
	"os/signal"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/spf13/pflag"
	"github.com/tcpka/tcpka/internal/caps"
	"github.com/tcpka/tcpka/internal/detect"
	"github.com/tcpka/tcpka/internal/human"
	"github.com/tcpka/tcpka/internal/jsonout"
	"github.com/tcpka/tcpka/internal/keepalive"
	"github.com/tcpka/tcpka/internal/probe"
	"github.com/tcpka/tcpka/internal/profile"
	"github.com/tcpka/tcpka/internal/sysctl"
)

type measureFlags struct {
	timeout     time.Duration
	withData    bool
	userTimeout time.Duration
	retries2    int
	natTimeout  time.Duration
	idle        time.Duration
	json        bool
	// set reports whether a flag was given on the command line.
	set func(name string) bool
}

var cmdMeasure = &Command{
	Name:      "measure",
	UsageLine: "measure PROFILE [--timeout D] [--with-data] [--user-timeout D] [--retries2 N] [--nat-timeout D [--idle D2]] [--json]",
	Short:     "time real dead-peer detection in scratch namespaces, vs the model",
	Long: `Builds two scratch network namespaces joined by a veth pair, writes PROFILE's
keepalive values inside them only (keys the profile does not set, and
tcp_retries2 unless the profile sets it, are copied from this namespace),
opens a TCP connection with SO_KEEPALIVE and the profile's user_timeout as
TCP_USER_TIMEOUT, as tcpka enforce would set it, silences the peer without
a RST so that it looks exactly like a dead host, and times how long the
surviving end takes to fail. Prints the model's prediction, the measurement,
the difference and how the failure was reported (ETIMEDOUT for a dead peer).

Exit 0 when the measurement lies in the model's band (from every timer as
early as the timer wheel files it to every timer as late, plus 0.25 s for
the wake-up), 1 when it misses (or measure could not run: no root), 2 on bad
input (a bad flag or profile, a band past --timeout), 3 when this
namespace's values could not be read. The namespaces are anonymous, held by
tcpka alone: they vanish with it, on exit, on error, on Ctrl-C and when it
is killed, and no other command lists or tunes them; the host's sysctls are
never written. Needs root (CAP_SYS_ADMIN, CAP_NET_ADMIN).

--with-data sends data after the peer is gone: keepalive then does nothing
and retransmission decides (tcp_retries2, the RTO). --user-timeout sets
TCP_USER_TIMEOUT on the connection. Scale a profile down (e.g. 2/1/3) to
measure it in seconds; a profile predicted to take longer than --timeout is
refused before anything is created.

--nat-timeout D measures the other promise, that keepalive keeps a flow
open through a NAT or load balancer that forgets flows silent for D. Three
scratch namespaces, client, router and server: the router masquerades, its
conntrack forgets an established TCP flow after D (loose pickup off) and it
drops the packets of forgotten flows. PROFILE's values go in the client's
namespace. The client holds a connection with SO_KEEPALIVE and one without
idle for D2 (--idle, default 3 x D), then both send and the server echoes.
The model predicts that a flow survives when its longest silence ends
before D: the first probe comes after time, answered ones every
max(time, intvl), each late by up to its timer-wheel granularity. Exit 0
when both connections did what the model predicted, 1 when one did not; a
profile whose outcome would depend on how late a timer fires is refused up
front (exit 2).`,
	Examples: "sudo tcpka measure fast-failover\nsudo tcpka measure ./short.yaml --with-data --retries2 5\nsudo tcpka measure ./short.yaml --user-timeout 7s --json\nsudo tcpka measure ./short.yaml --nat-timeout 4s --idle 10s",
	Bind: func(fs *pflag.FlagSet) Runner {
		f := &measureFlags{}
		fs.DurationVar(&f.timeout, "timeout", 10*time.Minute, "give up waiting after `D`; a longer prediction is refused up front")
		fs.BoolVar(&f.withData, "with-data", false, "leave unacknowledged data in flight: retransmission decides")
		fs.DurationVar(&f.userTimeout, "user-timeout", 0, "set TCP_USER_TIMEOUT to `D` on the connection (default: the profile's user_timeout)")
		fs.IntVar(&f.retries2, "retries2", 0, "tcp_retries2 `N` in the scratch namespaces (default: the profile's, else this namespace's)")
		fs.DurationVar(&f.natTimeout, "nat-timeout", 0, "instead: hold connections idle through a NAT that forgets flows silent for `D` (whole seconds)")
		fs.DurationVar(&f.idle, "idle", 0, "with --nat-timeout: hold them idle for `D2` (default 3 x D)")
		fs.BoolVar(&f.json, "json", false, "print one JSON object")
		f.set = func(name string) bool { return fs.Changed(name) }
		return func(env *Env, args []string) error { return runMeasure(env, *f, args) }
	},
}

// measureJSONOut is measure's --json shape; times are fractional seconds.
type measureJSONOut struct {
	Profile string `json:"profile"`
	// the measured connection's values and the model's whole-second times
	jsonout.Settings
	WithData bool    `json:"with_data"`
	RTOMs    float64 `json:"rto_ms,omitempty"`
	Rule     string  `json:"rule"`
	// The band: ok when predicted_min_s <= measured_s <= predicted_max_s.
	PredictedMinS float64  `json:"predicted_min_s"`
	PredictedS    float64  `json:"predicted_s"`
	PredictedMaxS float64  `json:"predicted_max_s"`
	MeasuredS     *float64 `json:"measured_s"`
	DifferenceS   *float64 `json:"difference_s"`
	DifferencePct *float64 `json:"difference_pct"`
	Error         string   `json:"error"`
	TimedOut      bool     `json:"timed_out"`
	OK            bool     `json:"ok"`
}

func runMeasure(env *Env, f measureFlags, args []string) error {
	if len(args) != 1 {
		return usagef("needs exactly one PROFILE")
	}
	if f.timeout <= 0 {
		return usagef("--timeout must be positive, got %s", human.Span(f.timeout))
	}
	if ut := keepalive.UserTimeout; f.userTimeout < 0 || f.userTimeout%time.Millisecond != 0 || f.userTimeout > time.Duration(ut.Max)*time.Millisecond {
		return usagef("--user-timeout must be whole milliseconds between 0 and %d ms, got %s", ut.Max, f.userTimeout)
	}
	if r := keepalive.Retries2; f.retries2 < 0 || f.retries2 > r.Max {
		return usagef("--retries2 must be %d..%d, got %d", r.Min, r.Max, f.retries2)
	}
	if f.set("nat-timeout") || f.set("idle") {
		return runMeasureNAT(env, f, args[0])
	}
	p, err := profile.Load(args[0])
	if err != nil {
		return err
	}
	base, err := env.NS().Read()
	if err != nil {
		return fmt.Errorf("measure: %w", err)
	}
	// The values of the measured connection: the profile's (its
	// user_timeout on the socket, as tcpka enforce sets it), the keys it
	// leaves alone and tcp_retries2 from this namespace.
	vals := p.Settings.Over(base)
	if vals.Retries2 == 0 {
		if f.withData && f.retries2 == 0 {
			return fmt.Errorf("measure: %w: tcp_retries2 under %s (set it with --retries2)", sysctl.ErrRead, env.ProcRoot())
		}
		vals.Retries2 = detect.DefaultRetries2
	}
	if f.retries2 > 0 {
		vals.Retries2 = f.retries2
	}
	if f.userTimeout > 0 {
		vals.UserTimeout = f.userTimeout
	}
	net := env.NS().ReadNet()
	c := detect.Case{Settings: vals, Data: f.withData, Retrans: net.Retrans, HZ: net.HZ}
	band := detect.Predict(c)
	if band.Upper > f.timeout {
		return inputf("measure: %s: predicted detection up to %s exceeds --timeout %s: measure a scaled-down profile or raise --timeout",
			p.Name, human.Seconds(int(math.Ceil(band.Upper.Seconds()))), human.Span(f.timeout))
	}
	if err := caps.Need("measure", "to create scratch network namespaces", caps.SysAdmin, caps.NetAdmin); err != nil {
		return err
	}

	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM, syscall.SIGHUP)
	defer stop()
	res, err := probe.Measure(ctx, probe.Options{Settings: vals, WithData: f.withData, Timeout: f.timeout})
	if err != nil {
		return fmt.Errorf("measure: %w (scratch namespaces removed)", err)
	}
	if f.withData && res.RTO > 0 {
		c.Retrans.RTO = res.RTO
		band = detect.Predict(c)
	}
	pred := band.Nominal
	errName := res.ErrorName()
	ok := res.DeadPeer() && detect.Confirms(band, res.Measured)
	diff := res.Measured - pred
	pct := 100 * diff.Seconds() / pred.Seconds()

	if f.json {
		shown := vals
		if !f.withData {
			shown.Retries2 = 0 // an idle connection: tcp_retries2 plays no part
		}
		out := measureJSONOut{Profile: p.Name, Settings: jsonout.NewSettings(shown, vals, net, true), WithData: f.withData, Rule: band.Rule,
			PredictedMinS: round3(band.Lower.Seconds()), PredictedS: round3(pred.Seconds()), PredictedMaxS: round3(band.Upper.Seconds()),
			Error: errName, TimedOut: res.TimedOut, OK: ok}
		if f.withData {
			out.RTOMs = float64(res.RTO.Microseconds()) / 1000
		}
		if !res.TimedOut {
			m, d, pc := round3(res.Measured.Seconds()), round3(diff.Seconds()), math.Round(pct*10)/10
			out.MeasuredS, out.DifferenceS, out.DifferencePct = &m, &d, &pc
		}
		if err := jsonout.Write(env.Stdout, out); err != nil {
			return err
		}
	} else {
		w := env.Stdout
		fmt.Fprintf(w, "profile     %s: time %d s, intvl %d s, probes %d (written in 2 scratch network namespaces only)\n", p.Name, vals.Time, vals.Intvl, vals.Probes)
		fmt.Fprintf(w, "case        %s\n", measureCase(f.withData, vals.UserTimeout, vals.Retries2, res.RTO))
		fmt.Fprintf(w, "model       %s\n", band.Rule)
		fmt.Fprintf(w, "predicted   %s (with timer-wheel lateness: %s .. %s)\n", human.FloatSeconds(pred), human.FloatSeconds(band.Lower), human.FloatSeconds(band.Upper))
		if res.TimedOut {
			fmt.Fprintf(w, "measured    no failure within --timeout %s\n", human.Span(f.timeout))
		} else {
			fmt.Fprintf(w, "measured    %s\n", human.FloatSeconds(res.Measured))
			fmt.Fprintf(w, "difference  %+.2f s (%+.1f %%)\n", diff.Seconds(), pct)
			fmt.Fprintf(w, "failure     %s\n", res.Describe())
		}
		verdict := "ok"
		if !ok {
			verdict = "MISS"
		}
		fmt.Fprintf(w, "verdict     %s: accepted range %s .. %s (the model's band)\n", verdict, fmtSecs(band.Lower), fmtSecs(band.Upper))
	}
	if !ok {
		return exitCode(exitFailure)
	}
	return nil
}

func measureCase(data bool, ut time.Duration, retries2 int, rto time.Duration) string {
	var parts []string
	if data {
		parts = append(parts, fmt.Sprintf("unacknowledged data in flight, peer silenced without a RST (tcp_retries2 %d, RTO %s)", retries2, rto))
	} else {
		parts = append(parts, "idle connection, peer silenced without a RST")
	}
	if ut > 0 {
		parts = append(parts, "TCP_USER_TIMEOUT "+keepalive.FormatUserTimeout(ut))
	}
	return strings.Join(parts, ", ")
}

func fmtSecs(d time.Duration) string { return strconv.FormatFloat(d.Seconds(), 'f', 2, 64) + " s" }

func round3(f float64) float64 { return math.Round(f*1000) / 1000 }

// maxNATTimeout is conntrack's own default established timeout (5 days):
// the most --nat-timeout takes.
const maxNATTimeout = 432000 * time.Second

// measureNATJSONOut is measure --nat-timeout's --json shape. The NAT's
// timeout is the path's idle_timeout_s, as in plan and profiles; the other
// times are fractional seconds.
type measureNATJSONOut struct {
	Profile string `json:"profile"`
	jsonout.Settings
	IdleTimeoutS                      int      `json:"idle_timeout_s"`
	IdleForS                          float64  `json:"idle_for_s"`
	SilenceMinS                       float64  `json:"silence_min_s"`
	SilenceMaxS                       float64  `json:"silence_max_s"`
	PredictedSurvived                 bool     `json:"predicted_survived"`
	Survived                          bool     `json:"survived"`
	EchoMs                            *float64 `json:"echo_ms"`
	Error                             string   `json:"error"`
	WithoutKeepalivePredictedSurvived bool     `json:"without_keepalive_predicted_survived"`
	WithoutKeepaliveSurvived          bool     `json:"without_keepalive_survived"`
	WithoutKeepaliveError             string   `json:"without_keepalive_error"`
	OK                                bool     `json:"ok"`
}

// runMeasureNAT is measure --nat-timeout: bad input is refused before
// anything is created, then probe.MeasureNAT holds the connections and
// detect.IdleFlow says what should have become of them.
func runMeasureNAT(env *Env, f measureFlags, arg string) error {
	if !f.set("nat-timeout") {
		return usagef("--idle needs --nat-timeout")
	}
	for _, other := range []string{"with-data", "user-timeout", "retries2"} {
		if f.set(other) {
			return usagef("--%s does not apply with --nat-timeout (the peer answers: nothing is retransmitted)", other)
		}
	}
	d := f.natTimeout
	if d < probe.MinNATTimeout || d > maxNATTimeout || d%time.Second != 0 {
		return usagef("--nat-timeout must be whole seconds from %s to %s (conntrack counts seconds), got %s", human.Span(probe.MinNATTimeout), human.Span(maxNATTimeout), human.Span(d))
	}
	idle := f.idle
	if !f.set("idle") {
		idle = 3 * d
	} else if idle <= 0 {
		return usagef("--idle must be positive, got %s", idle)
	}
	p, err := profile.Load(arg)
	if err != nil {
		return err
	}
	base, err := env.NS().Read()
	if err != nil {
		return fmt.Errorf("measure: %w", err)
	}
	// As for the detection measurement: keys the profile leaves alone are
	// this namespace's.
	vals := p.Applied(base)
	hz := env.NS().ReadNet().HZ
	with := detect.IdleFlow(vals, true, idle, d, hz)
	without := detect.IdleFlow(vals, false, idle, d, hz)
	if without.Flow == detect.FlowAtRisk {
		return inputf("measure: --idle %s is within %s of --nat-timeout %s: whether a flow idle that long survives is a matter of milliseconds; use an --idle below %s or above %s",
			human.Span(idle), human.Span(detect.Slack), human.Span(d), human.Span(d-detect.Slack), human.Span(d))
	}
	if with.Flow == detect.FlowAtRisk {
		msg := fmt.Sprintf("measure: %s: with keepalive the flow stays silent for %s .. %s (probes after time %d s, then every %s) and the NAT timeout %s lies within: the outcome is up to how late a timer fires; measure with --nat-timeout %s or more",
			p.Name, fmtSecs(with.Min), fmtSecs(with.Max), vals.Time, human.Seconds(int(with.Every/time.Second)), human.Span(d), human.Span(with.Max.Truncate(time.Second)+time.Second))
		if lost := (with.Min - time.Nanosecond).Truncate(time.Second); lost >= probe.MinNATTimeout {
			msg += fmt.Sprintf(", or %s or less", human.Span(lost))
		}
		return inputError{errors.New(msg)}
	}
	if run := idle + probe.DefaultEchoWait; run > f.timeout {
		return inputf("measure: --idle %s and the %s wait for the echo exceed --timeout %s: raise --timeout or shorten --idle",
			human.Span(idle), human.Seconds(int(probe.DefaultEchoWait/time.Second)), human.Span(f.timeout))
	}
	if err := caps.Need("measure", "to create scratch network namespaces", caps.SysAdmin, caps.NetAdmin); err != nil {
		return err
	}

	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM, syscall.SIGHUP)
	defer stop()
	res, err := probe.MeasureNAT(ctx, probe.NATOptions{Settings: vals, Timeout: d, Idle: idle})
	if err != nil {
		return fmt.Errorf("measure: %w (scratch namespaces removed)", err)
	}
	k, n := res.WithKeepalive, res.WithoutKeepalive
	predK, predN := with.Flow == detect.FlowKept, without.Flow == detect.FlowKept
	ok := k.Survived == predK && n.Survived == predN

	if f.json {
		out := measureNATJSONOut{Profile: p.Name, Settings: jsonout.Of(vals.Keepalive(), detect.Net{}),
			IdleTimeoutS: int(d / time.Second), IdleForS: round3(idle.Seconds()),
			SilenceMinS: round3(with.Min.Seconds()), SilenceMaxS: round3(with.Max.Seconds()),
			PredictedSurvived: predK, Survived: k.Survived, Error: k.ErrorName(),
			WithoutKeepalivePredictedSurvived: predN, WithoutKeepaliveSurvived: n.Survived, WithoutKeepaliveError: n.ErrorName(), OK: ok}
		if k.Survived {
			e := round3(float64(k.Echo.Microseconds()) / 1000)
			out.EchoMs = &e
		}
		if err := jsonout.Write(env.Stdout, out); err != nil {
			return err
		}
	} else {
		w := env.Stdout
		fmt.Fprintf(w, "profile     %s: time %d s, intvl %d s, probes %d (written in the client's scratch network namespace only)\n", p.Name, vals.Time, vals.Intvl, vals.Probes)
		fmt.Fprintf(w, "path        client -> NAT router -> server, 3 scratch network namespaces: the router forgets a TCP flow silent for %s and drops its packets\n", human.Seconds(int(d/time.Second)))
		fmt.Fprintf(w, "case        one connection with SO_KEEPALIVE, one without, idle for %s, then each sends and the server echoes\n", fmtSecs(idle))
		fmt.Fprintf(w, "model       first probe after time %s, answered ones every max(time, intvl) = %s, each late by up to its timer-wheel granularity; a flow survives when its longest silence is shorter than %s\n",
			human.Seconds(vals.Time), human.Seconds(int(with.Every/time.Second)), human.Seconds(int(d/time.Second)))
		rows := []struct {
			name, silence string
			sl            detect.Silence
			h             probe.Held
		}{{"with keepalive", "", with, k}, {"without keepalive", "", without, n}}
		width := len("longest silence") + 4
		for i := range rows {
			rows[i].silence = fmtSecs(rows[i].sl.Min) + " .. " + fmtSecs(rows[i].sl.Max)
			width = max(width, len(rows[i].silence)+1)
		}
		fmt.Fprintf(w, "%-19s %-*s %-10s %s\n", "connection", width, "longest silence", "predicted", "measured")
		for _, r := range rows {
			fmt.Fprintf(w, "%-19s %-*s %-10s %s\n", r.name, width, r.silence, survives(r.sl.Flow == detect.FlowKept), r.h.Describe())
		}
		switch {
		case ok:
			fmt.Fprintf(w, "verdict     ok: both as predicted\n")
		case k.Survived != predK:
			fmt.Fprintf(w, "verdict     MISS: the keepalive connection %s, the model said it would be %s\n", pastTense(k.Survived), survives(predK))
		default:
			fmt.Fprintf(w, "verdict     MISS: the connection without keepalive %s, the model said it would be %s: the NAT did not behave as built, so the keepalive result proves nothing\n", pastTense(n.Survived), survives(predN))
		}
	}
	if !ok {
		return exitCode(exitFailure)
	}
	return nil
}

func survives(b bool) string {
	if b {
		return "survives"
	}
	return "lost"
}

func pastTense(survived bool) string {
	if survived {
		return "survived"
	}
	return "was lost"
}
