package main

import (
	"context"
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
	"github.com/tcpka/tcpka/internal/probe"
	"github.com/tcpka/tcpka/internal/profile"
	"golang.org/x/sys/unix"
)

type measureFlags struct {
	timeout     time.Duration
	withData    bool
	userTimeout time.Duration
	retries2    int
	json        bool
}

var cmdMeasure = &Command{
	Name:      "measure",
	UsageLine: "measure PROFILE [--timeout D] [--with-data] [--user-timeout D] [--retries2 N] [--json]",
	Short:     "time real dead-peer detection in scratch network namespaces, vs the prediction",
	Long: `Builds two scratch network namespaces joined by a veth pair, writes PROFILE's
keepalive values inside them only (keys the profile does not set, and
tcp_retries2, are copied from this namespace), opens a TCP connection with
SO_KEEPALIVE and no per-socket keepalive options, silences the peer without
a RST so that it looks exactly like a dead host, and times how long the
surviving end takes to fail. Prints the model's prediction, the measurement,
the difference and how the failure was reported (ETIMEDOUT for a dead peer).

Exit 0 when the measurement lies in [predicted, predicted*1.15 + 1 s], 1
otherwise. The namespaces are removed on exit, on error and on Ctrl-C; the
host's sysctls are never written. Needs root (CAP_SYS_ADMIN, CAP_NET_ADMIN).

--with-data sends data after the peer is gone: keepalive then does nothing
and retransmission decides (tcp_retries2, the RTO). --user-timeout sets
TCP_USER_TIMEOUT on the connection. Scale a profile down (e.g. 2/1/3) to
measure it in seconds; a profile predicted to take longer than --timeout is
refused before anything is created.`,
	Examples: "sudo tcpka measure fast-failover\nsudo tcpka measure ./short.yaml --with-data --retries2 5\nsudo tcpka measure ./short.yaml --user-timeout 7s --json",
	Bind: func(fs *pflag.FlagSet) Runner {
		f := &measureFlags{}
		fs.DurationVar(&f.timeout, "timeout", 10*time.Minute, "give up waiting after `D`; a longer prediction is refused up front")
		fs.BoolVar(&f.withData, "with-data", false, "leave unacknowledged data in flight: retransmission decides")
		fs.DurationVar(&f.userTimeout, "user-timeout", 0, "set TCP_USER_TIMEOUT to `D` on the connection")
		fs.IntVar(&f.retries2, "retries2", 0, "tcp_retries2 `N` in the scratch namespaces (default: this namespace's)")
		fs.BoolVar(&f.json, "json", false, "print one JSON object")
		return func(env *Env, args []string) error { return runMeasure(env, *f, args) }
	},
}

// measureJSONOut is measure's --json shape; times are fractional seconds.
type measureJSONOut struct {
	Profile       string   `json:"profile"`
	TimeS         int      `json:"time_s"`
	IntvlS        int      `json:"intvl_s"`
	Probes        int      `json:"probes"`
	WithData      bool     `json:"with_data"`
	UserTimeoutMs int      `json:"user_timeout_ms,omitempty"`
	Retries2      int      `json:"retries2,omitempty"`
	RTOMs         float64  `json:"rto_ms,omitempty"`
	Rule          string   `json:"rule"`
	PredictedS    float64  `json:"predicted_s"`
	PredictedMaxS float64  `json:"predicted_max_s"`
	AcceptMaxS    float64  `json:"accept_max_s"`
	MeasuredS     *float64 `json:"measured_s"`
	DifferenceS   *float64 `json:"difference_s"`
	DifferencePct *float64 `json:"difference_pct"`
	EarlyPossible bool     `json:"early_possible"`
	Error         string   `json:"error"`
	TimedOut      bool     `json:"timed_out"`
	OK            bool     `json:"ok"`
}

func runMeasure(env *Env, f measureFlags, args []string) error {
	if len(args) != 1 {
		return usagef("needs exactly one PROFILE")
	}
	if f.timeout <= 0 {
		return usagef("--timeout must be positive, got %s", f.timeout)
	}
	if f.userTimeout < 0 || f.userTimeout%time.Millisecond != 0 || f.userTimeout > math.MaxInt32*time.Millisecond {
		return usagef("--user-timeout must be whole milliseconds between 0 and %d ms, got %s", math.MaxInt32, f.userTimeout)
	}
	if f.retries2 < 0 || f.retries2 > 255 {
		return usagef("--retries2 must be 1..255, got %d", f.retries2)
	}
	p, err := profile.Load(args[0])
	if err != nil {
		return err
	}
	base, err := env.Kernel.Read()
	if err != nil {
		return fmt.Errorf("measure: %w", err)
	}
	// The values of the measured connection: the profile's (its
	// user_timeout on the socket, as tcpka enforce sets it), the keys it
	// leaves alone and tcp_retries2 from this namespace.
	vals := p.Settings.Over(base)
	if vals.Retries2 == 0 {
		if f.withData && f.retries2 == 0 {
			return fmt.Errorf("measure: read tcp_retries2: not readable under %s (set it with --retries2)", env.ProcRoot())
		}
		vals.Retries2 = detect.DefaultRetries2
	}
	if f.retries2 > 0 {
		vals.Retries2 = f.retries2
	}
	if f.userTimeout > 0 {
		vals.UserTimeout = f.userTimeout
	}
	net := env.Kernel.ReadNet()
	c := detect.Case{Settings: vals, Data: f.withData, Retrans: net.Retrans, HZ: net.HZ}
	band := detect.Predict(c)
	if band.Nominal > f.timeout {
		return fmt.Errorf("measure: %s: predicted detection %s exceeds --timeout %s: measure a scaled-down profile or raise --timeout",
			p.Name, detect.Seconds(int(math.Ceil(band.Nominal.Seconds()))), f.timeout)
	}
	if !caps.Has(caps.SysAdmin, caps.NetAdmin) {
		return fmt.Errorf("measure needs root (CAP_SYS_ADMIN and CAP_NET_ADMIN, to create scratch network namespaces): run it with sudo")
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
	acceptMax := probe.AcceptMax(pred)
	errName := ""
	if res.Errno != 0 {
		errName = unix.ErrnoName(res.Errno)
	} else if res.Err != nil {
		errName = res.Err.Error()
	}
	ok := res.Matches(pred)
	diff := res.Measured - pred
	pct := 100 * diff.Seconds() / pred.Seconds()

	if f.json {
		out := measureJSONOut{Profile: p.Name, TimeS: vals.Time, IntvlS: vals.Intvl, Probes: vals.Probes, WithData: f.withData,
			UserTimeoutMs: int(f.userTimeout / time.Millisecond), Rule: band.Rule, PredictedS: round3(pred.Seconds()), PredictedMaxS: round3(band.Upper.Seconds()),
			AcceptMaxS: round3(acceptMax.Seconds()), EarlyPossible: band.Early, Error: errName, TimedOut: res.TimedOut, OK: ok}
		if f.withData {
			out.Retries2 = vals.Retries2
			out.RTOMs = float64(res.RTO.Microseconds()) / 1000
		}
		if !res.TimedOut {
			m, d, pc := round3(res.Measured.Seconds()), round3(diff.Seconds()), math.Round(pct*10)/10
			out.MeasuredS, out.DifferenceS, out.DifferencePct = &m, &d, &pc
		}
		if err := writeJSON(env.Stdout, out); err != nil {
			return err
		}
	} else {
		w := env.Stdout
		fmt.Fprintf(w, "profile     %s: time %d s, intvl %d s, probes %d (written in 2 scratch network namespaces only)\n", p.Name, vals.Time, vals.Intvl, vals.Probes)
		fmt.Fprintf(w, "case        %s\n", measureCase(f.withData, f.userTimeout, vals.Retries2, res.RTO))
		fmt.Fprintf(w, "model       %s\n", band.Rule)
		fmt.Fprintf(w, "predicted   %s (with timer-wheel lateness: up to %s)\n", detect.FloatSeconds(pred), detect.FloatSeconds(band.Upper))
		if band.Early {
			fmt.Fprintf(w, "note        the retransmission budget ends just after a retransmission: a late timer can end the connection one retransmission sooner, from %s\n", detect.FloatSeconds(band.Lower))
		}
		if res.TimedOut {
			fmt.Fprintf(w, "measured    no failure within --timeout %s\n", f.timeout)
		} else {
			fmt.Fprintf(w, "measured    %s\n", detect.FloatSeconds(res.Measured))
			fmt.Fprintf(w, "difference  %+.2f s (%+.1f %%)\n", diff.Seconds(), pct)
			fmt.Fprintf(w, "failure     %s\n", describeFailure(res))
		}
		verdict := "ok"
		if !ok {
			verdict = "MISS"
		}
		fmt.Fprintf(w, "verdict     %s: accepted range %s .. %s (predicted .. predicted*1.15 + 1 s)\n", verdict, fmtSecs(pred), fmtSecs(acceptMax))
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
		parts = append(parts, "TCP_USER_TIMEOUT "+ut.String())
	}
	return strings.Join(parts, ", ")
}

func describeFailure(res probe.Result) string {
	switch {
	case res.Errno == syscall.ETIMEDOUT:
		return "ETIMEDOUT (connection timed out) on the survivor's read, as for a dead host"
	case res.Errno != 0:
		return fmt.Sprintf("%s (%v) on the survivor's read: not how a dead host is reported", unix.ErrnoName(res.Errno), res.Errno)
	}
	return fmt.Sprintf("%v: not how a dead host is reported", res.Err)
}

func fmtSecs(d time.Duration) string { return strconv.FormatFloat(d.Seconds(), 'f', 2, 64) + " s" }

func round3(f float64) float64 { return math.Round(f*1000) / 1000 }
