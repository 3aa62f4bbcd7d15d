package main

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/rogpeppe/go-internal/testscript"
	"github.com/tcpka/tcpka/internal/enforce/enforcetest"
)

// TestMain lets testscript run this test binary as the tcpka command.
// It also removes the binary that tcpkaBinary built, if any.
func TestMain(m *testing.M) {
	if os.Getenv(enforcetest.HelperEnv) != "" { // enforce tests' child processes
		enforcetest.RunHelper()
		os.Exit(0)
	}
	code := testscript.RunMain(m, map[string]func() int{"tcpka": main1})
	if builtBin != "" {
		os.RemoveAll(filepath.Dir(builtBin))
	}
	os.Exit(code)
}

// TestScript runs testdata/script/*.txtar: one file per command, each with
// its bad inputs. Conditions: [root] is true when running as uid 0.
func TestScript(t *testing.T) {
	testscript.Run(t, testscript.Params{
		Dir:                 "testdata/script",
		RequireExplicitExec: false,
		Condition: func(cond string) (bool, error) {
			switch cond {
			case "root":
				return os.Geteuid() == 0, nil
			}
			return false, nil
		},
	})
}
