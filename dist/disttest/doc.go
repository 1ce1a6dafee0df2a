// Package disttest holds what tests of data-parallel code need from package dist: Local, a
// job of several ranks inside one process (one goroutine each, RunLocal runs a function on
// every rank), which also checks that the ranks keep the contract of dist.Group; and Counter,
// a dist.Group that records each operation's calls and lengths, so that a test can assert,
// say, one all-reduce per gradient bucket. Neither needs MPI. Look first at RunLocal and
// NewCounter.
package disttest
