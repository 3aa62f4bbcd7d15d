// Package human prints quantities for people: whole seconds with their
// unit, durations in words ("2h11m15s"), measured times with two
// decimals. It decides nothing; every figure it prints comes from
// elsewhere (the model in internal/detect).
package human
