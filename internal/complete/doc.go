// Package complete writes shell completion scripts (bash, zsh, fish) from a
// model of a command line: the commands, each one's flags with the kind of
// value they take, and the positional arguments read from the usage line.
// tcpka builds the model from its command table, so no script keeps a list
// of its own.
package complete
