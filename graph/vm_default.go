//go:build !tapevm

package graph

// defaultVM is the machine a program runs on unless WithVM chooses.
const defaultVM = Executor
