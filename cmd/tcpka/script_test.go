package main

import (
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"testing"

	"github.com/rogpeppe/go-internal/testscript"
	"github.com/tcpka/tcpka/internal/enforce/enforcetest"
	"github.com/tcpka/tcpka/internal/keepalive"
)

// TestMain lets testscript run this test binary as the tcpka command.
// It also removes the binary that tcpkaBinary built, if any.
func TestMain(m *testing.M) {
	if os.Getenv(enforcetest.HelperEnv) != "" { // enforce tests' child processes
		enforcetest.RunHelper()
		os.Exit(0)
	}
	testscript.Main(removeBuiltBin{m}, map[string]func(){
		"tcpka": func() { os.Exit(main1()) },
		// tcpka with a sixth key in the table, for sixth_key.txtar: a key
		// registered here, and nowhere else, reaches profiles, the
		// sysctls, show and apply, JSON, the drop-in and metrics.
		"tcpka-sixth-key": func() {
			keepalive.Register(keepalive.Key{
				Profile: "syn_retries", Sysctl: "tcp_syn_retries", Optional: true,
				Unit: keepalive.Count, Min: 1, Max: 127, JSON: "syn_retries",
				Metric: "tcpka_tcp_syn_retries", MetricHelp: "net.ipv4.tcp_syn_retries: SYN retransmissions before connect gives up.",
				Meaning: "SYN retransmissions before connect gives up",
			})
			os.Exit(main1())
		},
	})
}

// removeBuiltBin runs the tests, then removes the binary tcpkaBinary built:
// testscript.Main ends the process with os.Exit, so the removal must happen
// inside Run.
type removeBuiltBin struct{ *testing.M }

func (m removeBuiltBin) Run() int {
	code := m.M.Run()
	if builtBin != "" {
		os.RemoveAll(filepath.Dir(builtBin))
	}
	return code
}

// TestScript runs testdata/script/*.txtar: one file per command, each with
// its bad inputs. Conditions: [root] is true when running as uid 0.
func TestScript(t *testing.T) {
	testscript.Run(t, testscript.Params{
		Dir:                 "testdata/script",
		RequireExplicitExec: false,
		Setup: func(env *testscript.Env) error {
			// Fixtures shared with the package tests, among them UTF-16
			// files a txtar archive cannot hold readably.
			dir, err := filepath.Abs("../../internal/sshcfg/testdata/putty")
			env.Setenv("PUTTY_FIXTURES", dir)
			return err
		},
		Cmds: map[string]func(ts *testscript.TestScript, neg bool, args []string){
			// exits N PROGRAM [ARGS...] runs PROGRAM as exec does and
			// wants exit status N exactly: '!' says only "not 0", and
			// tcpka's exit statuses are a table (main.go).
			"exits": func(ts *testscript.TestScript, neg bool, args []string) {
				if neg || len(args) < 2 {
					ts.Fatalf("usage: exits N PROGRAM [ARGS...]")
				}
				want, err := strconv.Atoi(args[0])
				if err != nil {
					ts.Fatalf("exits: %q is not an exit status", args[0])
				}
				got := 0
				var ee *exec.ExitError
				switch err := ts.Exec(args[1], args[2:]...); {
				case errors.As(err, &ee):
					got = ee.ExitCode()
				case err != nil:
					ts.Fatalf("exits: %v", err)
				}
				if got != want {
					ts.Fatalf("%s: exit status %d, want %d", args[1], got, want)
				}
			},
			// private runs a command in new mount and pid namespaces with
			// a tmpfs on /run, so scratch network namespaces a measurement
			// names there are never visible on the host.
			"private": func(ts *testscript.TestScript, neg bool, args []string) {
				if len(args) == 0 {
					ts.Fatalf("usage: private COMMAND [ARGS...]")
				}
				err := ts.Exec("unshare", append([]string{"-m", "-p", "--fork", "--kill-child", "--mount-proc", "--propagation", "private",
					"sh", "-c", `mount -t tmpfs tcpka-test /run && exec "$@"`, "sh"}, args...)...)
				if (err != nil) != neg {
					ts.Fatalf("private %v: %v (negated %v)", args, err, neg)
				}
			},
		},
		Condition: func(cond string) (bool, error) {
			switch cond {
			case "root":
				return os.Geteuid() == 0, nil
			}
			return false, nil
		},
	})
}
