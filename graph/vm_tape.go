//go:build tapevm

package graph

// defaultVM is the machine a program runs on unless WithVM chooses: Gorgonia's TapeMachine in
// the tapevm build, which runs the tests of graph, nodes and models on the checked
// alternative.
const defaultVM = TapeMachine
