package main

import (
	"bytes"
	"go/ast"
	"go/parser"
	"go/token"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
)

// Every tcpka start, show included, runs the package-level initialization
// of every package it links. tcpka's own packages build what they need on
// first use (sync.OnceValue, a function), not at init; bench/show/run
// measures what start-up costs. These tests keep it so.

// initCostlyPkgs are packages whose functions do real work (compile,
// parse, decode) when called from a package-level initializer or an init
// function.
var initCostlyPkgs = map[string]bool{
	"regexp": true, "regexp/syntax": true,
	"text/template": true, "html/template": true,
	"encoding/json": true, "encoding/xml": true, "encoding/base64": true, "encoding/hex": true,
	"gopkg.in/yaml.v3": true,
	"compress/gzip":    true, "compress/flate": true,
	"go/parser": true,
}

// modulePackages lists tcpka's own packages that the binary links, with
// their directory and non-test Go files.
func modulePackages(t *testing.T) map[string][]string {
	t.Helper()
	out, err := exec.Command("go", "list", "-deps", "-f", "{{if not .Standard}}{{.ImportPath}} {{.Dir}} {{join .GoFiles \" \"}}{{end}}", ".").Output()
	if err != nil {
		t.Skipf("go list not available: %v", err)
	}
	pkgs := map[string][]string{}
	for _, l := range strings.Split(strings.TrimSpace(string(out)), "\n") {
		f := strings.Fields(l)
		if len(f) < 2 || (f[0] != "github.com/tcpka/tcpka" && !strings.HasPrefix(f[0], "github.com/tcpka/tcpka/")) {
			continue
		}
		for _, name := range f[2:] {
			pkgs[f[0]] = append(pkgs[f[0]], filepath.Join(f[1], name))
		}
	}
	if len(pkgs) < 10 {
		t.Fatalf("go list found %d of tcpka's packages: %v", len(pkgs), pkgs)
	}
	return pkgs
}

// TestNoCostlyPackageInit: no package-level variable of tcpka's own
// packages (nor an init function) is initialized by a call into regexp,
// a template, or a decoder; such a value belongs in a lazy.Regexp, a
// sync.Once or a function. Function literals are not looked into: their bodies run when
// called.
func TestNoCostlyPackageInit(t *testing.T) {
	fset := token.NewFileSet()
	for pkg, files := range modulePackages(t) {
		for _, file := range files {
			f, err := parser.ParseFile(fset, file, nil, parser.SkipObjectResolution)
			if err != nil {
				t.Fatal(err)
			}
			imports := map[string]string{} // local name -> import path
			for _, im := range f.Imports {
				p, _ := strconv.Unquote(im.Path.Value)
				name := p[strings.LastIndex(p, "/")+1:]
				if p == "gopkg.in/yaml.v3" {
					name = "yaml"
				}
				if im.Name != nil {
					name = im.Name.Name
				}
				imports[name] = p
			}
			check := func(n ast.Node, what string) {
				ast.Inspect(n, func(n ast.Node) bool {
					switch n := n.(type) {
					case *ast.FuncLit:
						return false
					case *ast.CallExpr:
						sel, ok := n.Fun.(*ast.SelectorExpr)
						if !ok {
							return true
						}
						if id, ok := sel.X.(*ast.Ident); ok && initCostlyPkgs[imports[id.Name]] {
							t.Errorf("%s: %s calls %s.%s at every start (package %s): build it on first use (lazy.Regexp, sync.Once)",
								fset.Position(n.Pos()), what, imports[id.Name], sel.Sel.Name, pkg)
						}
					}
					return true
				})
			}
			for _, d := range f.Decls {
				switch d := d.(type) {
				case *ast.GenDecl:
					if d.Tok != token.VAR {
						continue
					}
					for _, s := range d.Specs {
						vs := s.(*ast.ValueSpec)
						for _, v := range vs.Values {
							check(v, "package-level var "+vs.Names[0].Name)
						}
					}
				case *ast.FuncDecl:
					if d.Recv == nil && d.Name.Name == "init" {
						check(d.Body, "func init")
					}
				}
			}
		}
	}
}

// initBudget is what one of tcpka's packages may allocate at init
// (GODEBUG=inittrace=1): a few small values. A regexp compiled at init
// allocates 2 KB in 28 allocations for `^a$` alone.
var initBudget = struct{ bytes, allocs int }{512, 8}

// initBudgetOf are the packages allowed more, and why.
var initBudgetOf = map[string]struct{ bytes, allocs int }{
	// The key table: each key registers itself (one Key and the table's
	// slices), room for a sixth.
	"github.com/tcpka/tcpka/internal/keepalive": {2048, 24},
}

// TestInitAllocations runs this test binary (which links every package the
// tcpka binary does) with GODEBUG=inittrace=1 and holds each of tcpka's
// own packages that the binary links to its budget of init allocations.
// Allocations, not time: the count is the same on every run and machine.
func TestInitAllocations(t *testing.T) {
	linked := modulePackages(t)
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), "GODEBUG=inittrace=1")
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	if err := cmd.Run(); err != nil {
		t.Fatalf("%v: %v\n%s", cmd, err, stderr.Bytes())
	}
	line := regexp.MustCompile(`(?m)^init (\S+) @\S+ \S+, \S+ ms clock, (\d+) bytes, (\d+) allocs$`)
	seen := map[string]bool{}
	for _, m := range line.FindAllStringSubmatch(stderr.String(), -1) {
		pkg := m[1]
		seen[pkg] = true
		if _, ok := linked[pkg]; !ok || pkg == "github.com/tcpka/tcpka/cmd/tcpka" {
			continue // not in the binary; main here is the test's own
		}
		bytes, _ := strconv.Atoi(m[2])
		allocs, _ := strconv.Atoi(m[3])
		b, ok := initBudgetOf[pkg]
		if !ok {
			b = initBudget
		}
		if bytes > b.bytes || allocs > b.allocs {
			t.Errorf("%s allocates %d bytes in %d allocations at init, at every tcpka start (budget %d bytes, %d allocations): build it on first use",
				pkg, bytes, allocs, b.bytes, b.allocs)
		}
	}
	// The key table is built at init: if inittrace does not name it, its
	// format changed and nothing above was checked.
	if !seen["runtime"] || !seen["github.com/tcpka/tcpka/internal/keepalive"] {
		t.Fatalf("inittrace named neither runtime nor keepalive: its format changed?\n%s", stderr.Bytes())
	}
}
