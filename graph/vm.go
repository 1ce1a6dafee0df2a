package graph

import "fmt"

// VM names the machine that runs a compiled graph.
type VM int

const (
	// Executor is unroll's own machine, the default: it runs, in topological order, only the
	// nodes that the outputs, the loss and the gradients need, and each of unroll's ops writes
	// into a buffer the executor keeps from run to run, so that a training step allocates
	// almost nothing.
	Executor VM = iota
	// TapeMachine is Gorgonia's: it runs every node of the graph and allocates every value
	// anew on each run. It is the checked alternative: the tests of graph, nodes and models
	// run under both (go test -tags tapevm makes it the default).
	TapeMachine
)

func (v VM) String() string {
	switch v {
	case Executor:
		return "executor"
	case TapeMachine:
		return "tapemachine"
	}
	return fmt.Sprintf("vm(%d)", int(v))
}

// CompileOption configures Compile; NewTrainer takes the same options.
type CompileOption interface {
	TrainOption
	applyCompile(*compileConfig)
}

type compileConfig struct {
	vm VM
}

func compileOptions(opts []CompileOption) compileConfig {
	cfg := compileConfig{vm: defaultVM}
	for _, o := range opts {
		if o != nil {
			o.applyCompile(&cfg)
		}
	}
	return cfg
}

// WithVM makes a program run on vm instead of unroll's executor.
func WithVM(vm VM) CompileOption { return vmOption(vm) }

type vmOption VM

func (o vmOption) applyCompile(c *compileConfig) { c.vm = VM(o) }
func (o vmOption) applyTrain(c *trainConfig)     { c.vm = VM(o) }
