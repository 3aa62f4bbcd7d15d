package main

import (
	"encoding/json"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strings"
	"testing"

	"github.com/tcpka/tcpka/internal/keepalive"
)

// collectKeys adds every object key of a JSON document to keys.
func collectKeys(v any, keys map[string]bool) {
	switch v := v.(type) {
	case map[string]any:
		for k, x := range v {
			keys[k] = true
			collectKeys(x, keys)
		}
	case []any:
		for _, x := range v {
			collectKeys(x, keys)
		}
	}
}

// TestJSONDocumented runs the read commands with --json and holds every
// field name they print to docs/json.md: a new field, or a new key in the
// key table, is documented or this fails.
func TestJSONDocumented(t *testing.T) {
	doc, err := os.ReadFile("../../docs/json.md")
	if err != nil {
		t.Fatal(err)
	}
	documented := map[string]bool{}
	for _, m := range regexp.MustCompile("`([a-z][a-z0-9_]*)`").FindAllStringSubmatch(string(doc), -1) {
		documented[m[1]] = true
	}
	tree := fakeProc(t, keepalive.KernelDefaults)
	dir := t.TempDir()
	profileFile := filepath.Join(dir, "p.yaml")
	os.WriteFile(profileFile, []byte("time: 60\ninterval: 15\nprobes: 4\nretries2: 8\nuser_timeout: 2m\n"), 0o644)
	putty, _ := filepath.Abs("../../internal/sshcfg/testdata/putty/sessions.reg")
	runs := [][]string{
		{"show", "--json", "--proc-root", tree, "--root", dir},
		{"check", "ssh", "--json", "--proc-root", tree},
		{"apply", profileFile, "--json", "--dry-run", "--proc-root", tree, "--run-dir", dir},
		{"revert", "--json", "--dry-run", "--proc-root", tree, "--run-dir", dir},
		{"profiles", "--json"},
		{"plan", "--json", "--path", "aws-nlb", "--detect-within", "2m"},
		{"ssh", "--json", "--ssh-bin", "/nonexistent", "--sshd-bin", "/nonexistent", "--proc-root", tree},
		{"ssh", "--json", "--putty", putty, "--proc-root", tree},
		{"version", "--json"},
	}
	keys := map[string]bool{}
	for _, args := range runs {
		out, errs, _ := tcpkaRun(t, args...)
		var v any
		if err := json.Unmarshal([]byte(out), &v); err != nil {
			t.Errorf("tcpka %s: not JSON: %v\n%s%s", strings.Join(args, " "), err, out, errs)
			continue
		}
		collectKeys(v, keys)
	}
	for _, k := range keepalive.Keys() {
		keys[k.JSON] = true
	}
	var missing []string
	for k := range keys {
		if !documented[k] {
			missing = append(missing, k)
		}
	}
	sort.Strings(missing)
	if len(missing) > 0 {
		t.Errorf("docs/json.md does not name these --json fields: %s", strings.Join(missing, ", "))
	}
	if len(keys) < 40 {
		t.Errorf("only %d fields seen: the commands printed less than they should", len(keys))
	}
}
