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
)

// ReadRetrans reads tcp_retries2 and the RTO bounds of the netns whose
// proc tree is at procRoot. tcp_retries2 must be there; tcp_rto_min_us
// (Linux 6.11+) and tcp_rto_max_ms (6.15+) default to the constants.
func ReadRetrans(procRoot string) (Retrans, error) {
	dir := filepath.Join(procRoot, "sys", "net", "ipv4")
	var r Retrans
	n, err := readInt(filepath.Join(dir, "tcp_retries2"))
	if err != nil {
		return r, err
	}
	r.Retries2 = n
	if n, err := readInt(filepath.Join(dir, "tcp_rto_min_us")); err == nil && n > 0 {
		r.RTOMin = time.Duration(n) * time.Microsecond
	}
	if n, err := readInt(filepath.Join(dir, "tcp_rto_max_ms")); err == nil && n > 0 {
		r.RTOMax = time.Duration(n) * time.Millisecond
	}
	if n, err := readInt(filepath.Join(dir, "tcp_early_retrans")); err == nil && n < 3 {
		r.NoTLP = true
	}
	return r, nil
}

func readInt(path string) (int, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return 0, err
	}
	n, err := strconv.Atoi(strings.TrimSpace(string(b)))
	if err != nil {
		return 0, fmt.Errorf("read %s: not an integer: %q", path, strings.TrimSpace(string(b)))
	}
	return n, nil
}

// ReadHZ reads CONFIG_HZ from procRoot/config.gz, else from
// /boot/config-RELEASE; ok is false (and hz DefaultHZ) when neither says.
func ReadHZ(procRoot string) (hz int, ok bool) {
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
