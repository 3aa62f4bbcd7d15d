// Package termsafe makes text that tcpka echoes safe for a terminal:
// anything a user, a process or a file chooses (a path, a process or
// session name, a cgroup) may hold control characters that move the
// cursor, recolour the screen or forge a line of output. One function,
// used by the commands and by the packages whose messages echo names.
package termsafe
