// Package jsonout holds the JSON every read command shares: the one shape
// of a set of keepalive values and their detection times (Settings, made
// from the key table, so a new key shows up in every command's --json),
// and the encoder that writes it in place inside a command's own object.
//
// Field names follow one rule: one quantity, one name, in every command
// (docs/json.md lists them; a test holds the two together).
package jsonout
