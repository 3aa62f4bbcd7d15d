package main

import (
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// TestMainStaysThin: cmd/ binds flags and renders; the packages under
// internal/ decide. cmd/ holds at most 25 % of the non-test Go lines of
// cmd/ and of the internal/ packages the tcpka binary links (test helpers
// such as nstest and testkit are not counted), so logic that belongs in
// a package does not pile up in main again.
func TestMainStaysThin(t *testing.T) {
	out, err := exec.Command("go", "list", "-deps", "-f", "{{.ImportPath}} {{.Dir}}", ".").Output()
	if err != nil {
		t.Skipf("go list: %v", err)
	}
	count := func(dir string) int {
		n := 0
		files, _ := filepath.Glob(filepath.Join(dir, "*.go"))
		for _, f := range files {
			if strings.HasSuffix(f, "_test.go") {
				continue
			}
			b, err := os.ReadFile(f)
			if err != nil {
				t.Fatal(err)
			}
			n += bytes.Count(b, []byte("\n"))
		}
		return n
	}
	cmd, internal := count("."), 0
	var linked []string
	for _, l := range strings.Split(strings.TrimSpace(string(out)), "\n") {
		path, dir, _ := strings.Cut(l, " ")
		if strings.HasPrefix(path, "github.com/tcpka/tcpka/internal/") {
			internal += count(dir)
			linked = append(linked, strings.TrimPrefix(path, "github.com/tcpka/tcpka/internal/"))
		}
	}
	for _, helper := range []string{"nstest", "testkit", "enforce/enforcetest", "sshcfg/sshtest"} {
		for _, l := range linked {
			if l == helper {
				t.Errorf("the tcpka binary links the test helper internal/%s", helper)
			}
		}
	}
	if share := float64(cmd) / float64(cmd+internal); share > 0.25 {
		t.Errorf("cmd/ holds %d of %d non-test Go lines (%.1f %%), more than 25 %%: move what decides into internal/", cmd, cmd+internal, 100*share)
	} else {
		t.Logf("cmd/ holds %d of %d non-test Go lines (%.1f %%)", cmd, cmd+internal, 100*share)
	}
}
