package main

import (
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
)

// TestDocsNameOnlyFlagsThatExist reads README.md and docs/*.md for every
// `tcpka COMMAND ... --flag` (in examples and prose) and holds each flag
// to the command's flag set: a doc cannot promise a flag the binary
// lacks, or keep one that was renamed.
func TestDocsNameOnlyFlagsThatExist(t *testing.T) {
	files, _ := filepath.Glob("../../docs/*.md")
	files = append(files, "../../README.md")
	invocation := regexp.MustCompile("tcpka ([a-z]+)([^`|;&()\\n]*)")
	flag := regexp.MustCompile(`(?:^|\s)--([a-z][a-z0-9-]*)`)
	checked := 0
	for _, file := range files {
		b, err := os.ReadFile(file)
		if err != nil {
			t.Fatal(err)
		}
		for i, line := range strings.Split(string(b), "\n") {
			for _, m := range invocation.FindAllStringSubmatch(line, -1) {
				c := lookup(m[1])
				if c == nil {
					continue // "tcpka is", "tcpka service": prose
				}
				fs := c.flagSet()
				for _, f := range flag.FindAllStringSubmatch(m[2], -1) {
					checked++
					if f[1] == "help" || f[1] == "version" {
						continue
					}
					if fs.Lookup(f[1]) == nil {
						t.Errorf("%s:%d: tcpka %s has no --%s: %s", filepath.Base(file), i+1, c.Name, f[1], strings.TrimSpace(line))
					}
				}
			}
		}
	}
	if checked < 50 {
		t.Errorf("only %d flags found in the docs: the parse is broken", checked)
	}
}
