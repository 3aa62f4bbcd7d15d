// Package nsreport prints what show, apply, check and revert found and did
// in network namespaces, one or all of them, as text for people and as
// --json: the key columns, the change list, the per-namespace rows and
// their closing counts. The commands decide nothing here: the handle
// (netscope) reads and writes, the model (detect) gives the times; this
// package lays them out, and says for the exit status whether anything
// failed, drifted or could not be read.
package nsreport
