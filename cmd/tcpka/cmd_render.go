package main

import (
	"github.com/spf13/pflag"
	"github.com/tcpka/tcpka/internal/profile"
	"github.com/tcpka/tcpka/internal/sysctld"
)

var renderFormat string

var cmdRender = &Command{
	Name:      "render",
	UsageLine: "render PROFILE [--format sysctl|k8s]",
	Short:     "print a profile as a sysctl.d drop-in or a Kubernetes pod snippet",
	Long: `Prints PROFILE as a sysctl.d drop-in on stdout: a header comment (profile,
where it comes from, its dead-peer detection time), then one
"net.ipv4.tcp_keepalive_time = N" line per key the profile sets. Both
systemd-sysctl and procps 'sysctl -p FILE' load it. 'tcpka install' writes the
same text to /etc/sysctl.d/60-tcpka.conf.

--format k8s prints the pod securityContext.sysctls snippet instead: every
pod has its own network namespace, which starts at the kernel defaults
7200/75/9 whatever the node is set to, so pods need the setting themselves.
The three keys are in Kubernetes' safe set (1.29+), so no kubelet flag is needed.`,
	Examples: "tcpka render ssh\ntcpka render ssh > /etc/sysctl.d/60-tcpka.conf\ntcpka render aws-nlb --format k8s",
	Flags: func(fs *pflag.FlagSet) {
		fs.StringVar(&renderFormat, "format", "sysctl", "output `FORMAT`: sysctl (a sysctl.d drop-in) or k8s (pod securityContext.sysctls)")
	},
	Run: runRender,
}

func runRender(env *Env, args []string) error {
	if len(args) != 1 {
		return usagef("needs exactly one PROFILE")
	}
	if renderFormat != "sysctl" && renderFormat != "k8s" {
		return usagef("--format %q: must be sysctl or k8s", renderFormat)
	}
	p, err := profile.Load(args[0])
	if err != nil {
		return err
	}
	out := sysctld.Render(p)
	if renderFormat == "k8s" {
		out = sysctld.RenderK8s(p)
	}
	_, err = env.Stdout.Write(out)
	return err
}
