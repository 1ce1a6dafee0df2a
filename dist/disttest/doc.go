// Package disttest holds what tests of data-parallel code need from package dist: Local, a
// job of several ranks inside one process (one goroutine each, RunLocal runs a function on
// every rank), which also checks that the ranks keep the contract of dist.Group; and Counter,
// a dist.Group that records each operation's calls and lengths, so that a test can assert,
// say, one all-reduce per gradient bucket. Neither needs MPI. Look first at RunLocal and
// NewCounter.
//
// For tests that run under mpirun (a test binary built with go test -c -tags mpi and started
// as mpirun -np 2 pkg.test), Main in TestMain opens the job's group and ends every rank when a
// test fails on one; World returns the group, RequireWorld skips a test outside a job of two
// or more ranks, and SharedTempDir gives every rank the same temporary directory. MaxDiff
// compares two parameter sets (a data-parallel run against one process).
package disttest
