package main

import (
	"os"
	"strings"
	"testing"

	"github.com/tcpka/tcpka/internal/nstest"
)

// TestDryRunAsNobodyAfterRoot: once root has applied a profile, the
// private state directory /run/tcpka exists, root-owned 0700. A dry run
// needs no root (the docs promise it): as nobody it still prints the
// changes, exits 0 and says nothing alarming; it only cannot look for a
// transaction a killed tcpka left, which needs root to undo anyway.
func TestDryRunAsNobodyAfterRoot(t *testing.T) {
	if !nstest.Private(t, "setpriv") {
		return
	}
	nstest.SetValues(t, "", 7200, 75, 9)
	if out, errs, code := tcpkaRun(t, "apply", "ssh"); code != 0 {
		t.Fatalf("apply ssh as root: exit %d\n%s%s", code, out, errs)
	}
	if fi, err := os.Stat("/run/tcpka"); err != nil || fi.Mode().Perm() != 0o700 {
		t.Fatalf("root's state directory: %v %v", fi, err)
	}
	nobody := []string{"setpriv", "--reuid=65534", "--regid=65534", "--clear-groups"}
	out, errs, code := tcpkaRunAs(t, nobody, "apply", "aws-nlb", "--dry-run")
	if code != 0 || errs != "" || !strings.Contains(out, "dry run: 3 keys would change; nothing written") {
		t.Errorf("apply --dry-run as nobody: exit %d\nstdout:\n%s\nstderr:\n%s", code, out, errs)
	}
	if got := nstest.Values(t, ""); got != "60/13/4" { // the ssh profile's
		t.Errorf("the dry run changed the values: %s", got)
	}
}
