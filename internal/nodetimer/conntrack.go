package nodetimer

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strconv"
	"strings"
)

// ConntrackKey is the sysctl that bounds an idle established TCP flow in
// conntrack.
const ConntrackKey = "nf_conntrack_tcp_timeout_established"

// conntrack reads ConntrackKey and nf_conntrack_count under
// procRoot/sys/net/netfilter (the calling thread's namespace).
func (s Sources) conntrack() ([]Timer, *Unread) {
	dir := filepath.Join(s.ProcRoot, "sys", "net", "netfilter")
	file := filepath.Join(dir, ConntrackKey)
	n, err := readSeconds(file)
	switch {
	case errors.Is(err, fs.ErrNotExist):
		return nil, &Unread{Kind: Conntrack, Why: "nf_conntrack is not loaded (no " + file + ")"}
	case err != nil:
		err = fmt.Errorf("%w: %w", ErrUnreadable, err)
		return nil, &Unread{Kind: Conntrack, Why: err.Error(), Err: err}
	}
	t := Timer{Kind: Conntrack, Name: "net.netfilter." + ConntrackKey, IdleTimeoutS: n, Source: file}
	// nf_conntrack_count is per namespace too: the evidence of whether
	// anything here uses conntrack.
	switch count, err := readSeconds(filepath.Join(dir, "nf_conntrack_count")); {
	case err != nil:
		t.Note = "flows tracked now: unknown"
	case count == 0:
		t.Note = "tracks no flow in this namespace now: it applies only where a rule uses conntrack (NAT, ct state)"
	default:
		t.Note = "tracking " + strconv.Itoa(count) + " flows"
	}
	return []Timer{t}, nil
}

// readSeconds reads a sysctl holding one non-negative integer.
func readSeconds(path string) (int, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return 0, err
	}
	v := strings.TrimSpace(string(b))
	n, err := strconv.Atoi(v)
	if err != nil || n < 0 {
		return 0, fmt.Errorf("%s: not a whole number of seconds", path) // never echo what a file holds
	}
	return n, nil
}
