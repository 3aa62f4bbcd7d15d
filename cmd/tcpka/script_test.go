package main

import (
	"os"
	"testing"

	"github.com/rogpeppe/go-internal/testscript"
	"github.com/tcpka/tcpka/internal/enforce/enforcetest"
)

// TestMain lets testscript run this test binary as the tcpka command.
func TestMain(m *testing.M) {
	if os.Getenv(enforcetest.HelperEnv) != "" { // enforce tests' child processes
		enforcetest.RunHelper()
		os.Exit(0)
	}
	testscript.Main(m, map[string]func(){
		"tcpka": func() { os.Exit(main1()) },
	})
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
