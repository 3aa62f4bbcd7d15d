package detect

import (
	"bufio"
	"compress/gzip"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"golang.org/x/sys/unix"
)

// ReadRetrans reads the RTO bounds and the tail loss probe setting of the
// network namespace whose proc tree is at procRoot (as seen by the calling
// thread). Each is optional: tcp_rto_min_us (Linux 6.11+) and
// tcp_rto_max_ms (6.15+) default to the constants. tcp_retries2 is a
// sysctl tcpka manages; internal/sysctl reads it.
func ReadRetrans(procRoot string) Retrans {
	dir := filepath.Join(procRoot, "sys", "net", "ipv4")
	var r Retrans
	if n, err := readInt(filepath.Join(dir, "tcp_rto_min_us")); err == nil && n > 0 {
		r.RTOMin = time.Duration(n) * time.Microsecond
	}
	if n, err := readInt(filepath.Join(dir, "tcp_rto_max_ms")); err == nil && n > 0 {
		r.RTOMax = time.Duration(n) * time.Millisecond
	}
	if n, err := readInt(filepath.Join(dir, "tcp_early_retrans")); err == nil && n < 3 {
		r.NoTLP = true
	}
	return r
}

func readInt(path string) (int, error) {
	b, err := ReadSmallFile(path)
	if err != nil {
		return 0, err
	}
	n, err := strconv.Atoi(strings.TrimSpace(string(b)))
	if err != nil {
		return 0, fmt.Errorf("read %s: not an integer: %q", path, strings.TrimSpace(string(b)))
	}
	return n, nil
}

// ReadHZ returns the tick rate (CONFIG_HZ) of the kernel whose proc tree
// is at procRoot; ok is false (and hz DefaultHZ) when nothing says.
//
// For the running kernel (procRoot "/proc") it asks the clock: the
// resolution the kernel reports for CLOCK_MONOTONIC_COARSE is one tick,
// TICK_NSEC = (1e9 + HZ/2) / HZ, in the syscall and the vDSO alike. That
// is one call where inflating /proc/config.gz took ~1.7M instructions, 40%
// of tcpka show's start-up, and it also works where the kernel config is
// not published (no IKCONFIG_PROC, no /boot in a container).
//
// For another tree (tests, --proc-root) or if the clock does not answer,
// it reads CONFIG_HZ from procRoot/config.gz, else /boot/config-RELEASE.
func ReadHZ(procRoot string) (hz int, ok bool) {
	if filepath.Clean(procRoot) == "/proc" {
		if hz, ok := clockHZ(); ok {
			return hz, true
		}
	}
	return configHZ(procRoot)
}

// clockHZ derives HZ from the coarse clock's resolution.
func clockHZ() (int, bool) {
	var ts unix.Timespec
	if err := unix.ClockGetres(unix.CLOCK_MONOTONIC_COARSE, &ts); err != nil {
		return 0, false
	}
	return hzOfTick(time.Duration(ts.Nano()))
}

// hzOfTick inverts TICK_NSEC: the HZ whose rounded tick is d.
func hzOfTick(d time.Duration) (int, bool) {
	if d <= 0 {
		return 0, false
	}
	hz := int((time.Second + d/2) / d)
	if hz < 10 || hz > 10000 || (time.Second+time.Duration(hz/2))/time.Duration(hz) != d {
		return 0, false // not a tick length: some other clock source
	}
	return hz, true
}

// configHZ reads CONFIG_HZ from procRoot/config.gz, else from
// /boot/config-RELEASE.
func configHZ(procRoot string) (hz int, ok bool) {
	if f, err := os.Open(filepath.Join(procRoot, "config.gz")); err == nil {
		defer f.Close()
		if zr, err := gzip.NewReader(f); err == nil {
			if hz, ok := scanHZ(zr); ok {
				return hz, true
			}
		}
	}
	if rel, err := os.ReadFile(filepath.Join(procRoot, "sys", "kernel", "osrelease")); err == nil {
		if f, err := os.Open("/boot/config-" + strings.TrimSpace(string(rel))); err == nil {
			defer f.Close()
			if hz, ok := scanHZ(f); ok {
				return hz, true
			}
		}
	}
	return DefaultHZ, false
}

func scanHZ(r interface{ Read([]byte) (int, error) }) (int, bool) {
	sc := bufio.NewScanner(r)
	for sc.Scan() {
		if v, ok := strings.CutPrefix(sc.Text(), "CONFIG_HZ="); ok {
			if n, err := strconv.Atoi(v); err == nil && n > 0 {
				return n, true
			}
		}
	}
	return 0, false
}

// ReadSmallFile is os.ReadFile for a file of a few bytes under /proc/sys,
// with the same result and errors (*os.PathError, Op "open" or "read"), in
// plain system calls: os.ReadFile registers a /proc/sys file (which
// supports poll) with Go's netpoller and unregisters it, a finalizer with
// it, at every read (as internal/sysctl's readSmall says).
func ReadSmallFile(path string) ([]byte, error) {
	var fd int
	var err error
	for {
		if fd, err = unix.Open(path, unix.O_RDONLY|unix.O_CLOEXEC, 0); err != unix.EINTR {
			break
		}
	}
	if err != nil {
		return nil, &os.PathError{Op: "open", Path: path, Err: err}
	}
	defer unix.Close(fd)
	b := make([]byte, 0, 64)
	for {
		if len(b) == cap(b) {
			b = append(b, 0)[:len(b)]
		}
		n, err := unix.Read(fd, b[len(b):cap(b)])
		if err == unix.EINTR {
			continue
		}
		if err != nil {
			return nil, &os.PathError{Op: "read", Path: path, Err: err}
		}
		if n == 0 {
			return b, nil
		}
		b = b[:len(b)+n]
	}
}
