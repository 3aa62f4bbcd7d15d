package main

import (
	"go/ast"
	"go/parser"
	"go/token"
	"io/fs"
	"path/filepath"
	"sort"
	"strings"
	"testing"
)

// TestEverySentinelHasAnExitCode parses internal/ for the exported Err*
// variables of every package and main.go for the three lists of the exit
// table: each sentinel is in exactly one, so a new one cannot silently
// exit 1 because nobody listed it.
func TestEverySentinelHasAnExitCode(t *testing.T) {
	fset := token.NewFileSet()
	sentinels := map[string]bool{} // "pkg.ErrX"
	err := filepath.WalkDir("../../internal", func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() || !strings.HasSuffix(p, ".go") || strings.HasSuffix(p, "_test.go") {
			return err
		}
		f, err := parser.ParseFile(fset, p, nil, 0)
		if err != nil {
			return err
		}
		for _, decl := range f.Decls {
			g, ok := decl.(*ast.GenDecl)
			if !ok || g.Tok != token.VAR {
				continue
			}
			for _, spec := range g.Specs {
				vs := spec.(*ast.ValueSpec)
				for i, n := range vs.Names {
					// Another package's sentinel under a local name is
					// that one: errors.Is cannot tell them apart.
					if i < len(vs.Values) {
						if _, alias := vs.Values[i].(*ast.SelectorExpr); alias {
							continue
						}
					}
					if strings.HasPrefix(n.Name, "Err") && n.IsExported() {
						sentinels[f.Name.Name+"."+n.Name] = true
					}
				}
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	f, err := parser.ParseFile(fset, "main.go", nil, 0)
	if err != nil {
		t.Fatal(err)
	}
	listed := map[string][]string{}
	ast.Inspect(f, func(n ast.Node) bool {
		vs, ok := n.(*ast.ValueSpec)
		if !ok || len(vs.Names) != 1 || len(vs.Values) != 1 {
			return true
		}
		list := vs.Names[0].Name
		if list != "invalidInput" && list != "undetermined" && list != "failed" {
			return true
		}
		for _, e := range vs.Values[0].(*ast.CompositeLit).Elts {
			sel := e.(*ast.SelectorExpr)
			name := sel.X.(*ast.Ident).Name + "." + sel.Sel.Name
			listed[name] = append(listed[name], list)
		}
		return true
	})
	var missing, twice []string
	for s := range sentinels {
		switch n := len(listed[s]); {
		case n == 0:
			missing = append(missing, s)
		case n > 1:
			twice = append(twice, s+" in "+strings.Join(listed[s], " and "))
		}
	}
	sort.Strings(missing)
	sort.Strings(twice)
	if len(missing) > 0 {
		t.Errorf("sentinels with no exit code (add each to invalidInput, undetermined or failed in main.go): %s", strings.Join(missing, ", "))
	}
	if len(twice) > 0 {
		t.Errorf("sentinels listed twice: %s", strings.Join(twice, "; "))
	}
	if len(sentinels) < 50 {
		t.Errorf("found only %d sentinels: the parse missed some", len(sentinels))
	}
}
