// Package testio holds I/O helpers the tests of several packages share.
package testio
