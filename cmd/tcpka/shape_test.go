package main

import (
	"bytes"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestMainStaysThin: cmd/ binds flags and renders; the packages under
// internal/ decide. cmd/ holds at most 30 % of the non-test Go lines of
// cmd/ and internal/ together, so logic that belongs in a package does not
// pile up in main again.
func TestMainStaysThin(t *testing.T) {
	count := func(dir string) int {
		n := 0
		err := filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
			if err != nil || d.IsDir() || !strings.HasSuffix(p, ".go") || strings.HasSuffix(p, "_test.go") {
				return err
			}
			b, err := os.ReadFile(p)
			n += bytes.Count(b, []byte("\n"))
			return err
		})
		if err != nil {
			t.Fatal(err)
		}
		return n
	}
	cmd, internal := count("../../cmd"), count("../../internal")
	if share := float64(cmd) / float64(cmd+internal); share > 0.30 {
		t.Errorf("cmd/ holds %d of %d non-test Go lines (%.1f %%), more than 30 %%: move what decides into internal/", cmd, cmd+internal, 100*share)
	} else {
		t.Logf("cmd/ holds %d of %d non-test Go lines (%.1f %%)", cmd, cmd+internal, 100*share)
	}
}
