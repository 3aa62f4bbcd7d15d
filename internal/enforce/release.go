package enforce

import (
	"errors"
	"fmt"
	"strconv"
	"strings"

	"golang.org/x/sys/unix"
)

// ErrKernelTooOld is wrapped when the running kernel lacks what the BPF
// mode needs: keepalive options in bpf_setsockopt came with Linux 5.9
// (commit f9bcf96837f1); on older kernels the helper fails silently.
var ErrKernelTooOld = errors.New("kernel too old")

// MinKernel is the first release whose bpf_setsockopt takes SO_KEEPALIVE
// and TCP_KEEPIDLE/INTVL/CNT.
var MinKernel = [2]int{5, 9}

// ParseRelease reads "major.minor" from a uname release ("6.18.44-fc").
func ParseRelease(rel string) (major, minor int, err error) {
	parts := strings.SplitN(rel, ".", 3)
	if len(parts) < 2 {
		return 0, 0, fmt.Errorf("kernel release %q: not major.minor", rel)
	}
	digits := func(s string) string {
		i := 0
		for i < len(s) && s[i] >= '0' && s[i] <= '9' {
			i++
		}
		return s[:i]
	}
	major, err1 := strconv.Atoi(parts[0])
	minor, err2 := strconv.Atoi(digits(parts[1]))
	if err1 != nil || err2 != nil {
		return 0, 0, fmt.Errorf("kernel release %q: not major.minor", rel)
	}
	return major, minor, nil
}

// CheckRelease refuses a release older than MinKernel.
func CheckRelease(rel string) error {
	major, minor, err := ParseRelease(rel)
	if err != nil {
		return err
	}
	if major < MinKernel[0] || major == MinKernel[0] && minor < MinKernel[1] {
		return fmt.Errorf("%w: Linux %s; attaching to a cgroup needs %d.%d+ (bpf_setsockopt learned the keepalive options in 5.9): use --pid for live sockets, or tcpka apply",
			ErrKernelTooOld, rel, MinKernel[0], MinKernel[1])
	}
	return nil
}

// CheckKernel checks the running kernel with CheckRelease.
func CheckKernel() error {
	var u unix.Utsname
	if err := unix.Uname(&u); err != nil {
		return err
	}
	return CheckRelease(unix.ByteSliceToString(u.Release[:]))
}
