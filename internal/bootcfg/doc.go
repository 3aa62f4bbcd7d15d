// Package bootcfg makes keepalive tuning survive a reboot and says what a
// boot will really set.
//
// It renders a profile as a sysctl.d drop-in (and as a Kubernetes pod
// sysctls snippet), writes files atomically below a root directory without
// following symlinks and without overwriting files tcpka did not generate,
// installs and uninstalls the drop-in, the profile copy and the systemd unit
// as one recorded set, and resolves sysctl.d precedence the way
// systemd-sysctl and procps `sysctl --system` do, naming the file and line
// that sets each key.
package bootcfg
