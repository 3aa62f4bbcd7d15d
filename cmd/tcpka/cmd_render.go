package main

import (
	"path/filepath"
	"slices"

	"github.com/spf13/pflag"
	"github.com/tcpka/tcpka/internal/bootcfg"
	"github.com/tcpka/tcpka/internal/enforce"
	"github.com/tcpka/tcpka/internal/profile"
	"github.com/tcpka/tcpka/systemd"
)

// renderFormats are the values of render --format.
var renderFormats = []string{"sysctl", "k8s", "unit"}

var cmdRender = &Command{
	Name:      "render",
	UsageLine: "render PROFILE [--format sysctl|k8s|unit --unit NAME]",
	Short:     "print a profile as a sysctl.d drop-in, pod snippet or unit drop-in",
	Long: `Prints PROFILE as a sysctl.d drop-in on stdout: a header comment (profile,
where it comes from, its dead-peer detection time), then one
"net.ipv4.tcp_keepalive_time = N" line per key the profile sets. Both
systemd-sysctl and procps 'sysctl -p FILE' load it. 'tcpka install' writes the
same text to /etc/sysctl.d/60-tcpka.conf.

--format k8s prints the pod securityContext.sysctls snippet instead: every
pod has its own network namespace, which starts at the kernel defaults
7200/75/9 whatever the node is set to, so pods need the setting themselves.
The keepalive keys are in Kubernetes' safe set (1.29+), so no kubelet flag is
needed for them; tcp_retries2 is not, and the snippet says which flag admits it.

--format unit --unit NAME prints a systemd drop-in for service NAME that runs
'tcpka enforce PROFILE --unit %n' before every start (systemd makes a new
cgroup at each start, so the BPF program must be attached again), and
removes it after the service stops. Put it in
/etc/systemd/system/NAME.d/tcpka-enforce.conf.`,
	Examples: "tcpka render ssh\ntcpka render ssh > /etc/sysctl.d/60-tcpka.conf\ntcpka render aws-nlb --format k8s\ntcpka render aws-nlb --format unit --unit myapp.service",
	Bind: func(fs *pflag.FlagSet) Runner {
		format := fs.String("format", "sysctl", "output `FORMAT`: sysctl (a sysctl.d drop-in), k8s (pod securityContext.sysctls) or unit (a service drop-in that enforces the profile)")
		completesTo(fs, "format", renderFormats)
		unit := fs.String("unit", "", "with --format unit: the systemd service `NAME`")
		return func(env *Env, args []string) error { return runRender(env, *format, *unit, args) }
	},
}

func runRender(env *Env, renderFormat, renderUnit string, args []string) error {
	if len(args) != 1 {
		return usagef("needs exactly one PROFILE")
	}
	switch {
	case !slices.Contains(renderFormats, renderFormat):
		return usagef("--format %q: must be %s", renderFormat, oneOf(renderFormats))
	case renderFormat == "unit" && renderUnit == "":
		return usagef("--format unit needs --unit NAME")
	case renderFormat != "unit" && renderUnit != "":
		return usagef("--unit goes with --format unit")
	}
	p, err := profile.Load(args[0])
	if err != nil {
		return err
	}
	var out []byte
	switch renderFormat {
	case "k8s":
		out = bootcfg.RenderK8s(p)
	case "unit":
		d, err := unitDropIn(args[0], p, renderUnit)
		if err != nil {
			return inputf("render: %w", err)
		}
		out = []byte(d)
	default:
		out = bootcfg.Render(p)
	}
	_, err = env.Stdout.Write(out)
	return err
}

// unitDropIn is the drop-in that enforces profile p (arg on the command
// line) at every start of unit: what 'render --format unit --unit NAME'
// prints, and enforce's hidden --drop-in, its older spelling. The unit runs
// from /, so a profile path is made absolute.
func unitDropIn(arg string, p *profile.Profile, unit string) (string, error) {
	if profile.IsPath(arg) {
		abs, err := filepath.Abs(arg)
		if err != nil {
			return "", err
		}
		arg = abs
	}
	return enforce.UnitDropIn(systemd.BinPath, arg, p.Settings, unit)
}
