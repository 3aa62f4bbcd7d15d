package main

// What every command shares: JSON output, aligned key columns, the change
// list of apply and revert.

import (
	"github.com/tcpka/tcpka/internal/human"
	"github.com/tcpka/tcpka/internal/nsreport"
)

// printable is s for a terminal (human.Safe).
func printable(s string) string { return human.Safe(s) }

// out is where a report of the command goes.
func out(env *Env, asJSON bool) nsreport.Out {
	return nsreport.Out{W: env.Stdout, Err: env.Stderr, JSON: asJSON}
}

// exitFor turns what a report found into the exit table: the report
// printed its own explanation.
func exitFor(o nsreport.Outcome, err error) error {
	switch {
	case err != nil:
		return err
	case o == nsreport.Failed:
		return exitCode(exitFailure)
	case o == nsreport.Unknown:
		return exitCode(exitUnknown)
	}
	return nil
}
