// Package graph is where unroll's models meet Gorgonia: the graph builder, named parameters,
// compiled programs and the machines that run them, the training step, gradient checks and
// checkpoints. It is the only package that runs a virtual machine over Gorgonia's graphs.
//
// Look first at Builder and Params (builder.go, params.go), then Compile and NewTrainer
// (program.go, train.go).
//
// # The core contracts
//
// Params is the ordered set of a model's named values, kept outside any graph: trainable
// parameters and non-trainable buffers (BatchNorm's running statistics), all of one dtype
// (float32 by default, float64 for gradient checks), plus the model's one random source, a
// seeded math/rand/v2 PCG whose state checkpoints save. Layers (package nodes) create their
// parameters in a Params when they are constructed, under PyTorch's names ("conv1.weight").
//
// A Builder holds one Gorgonia expression graph over one Params, in one Mode (Train or Eval).
// It names nodes uniquely (Gorgonia merges nodes that share a name), binds parameters into the
// graph by name (Builder.Param; the node shares the parameter's tensor) and declares inputs:
// fed inputs (Builder.Input), noise drawn from the model's random source before each run
// (Builder.Noise, for dropout masks) and carried state (Builder.State and Builder.Carry, for
// the recurrent state of truncated backpropagation through time). Because parameters live
// outside graphs, one Params builds any number of graphs: a training graph, an evaluation graph
// of another batch size, a gradient-check graph.
//
// Layers have one method, Forward(b, x) (*gorgonia.Node, error); recurrent cells have
// Step(b, x, state) (state, error) (see package nodes). Images are NCHW; sequences are
// batch-major, (B, T) ids or (B, T, D) values, and an unrolled graph takes one (B, D) node per
// time step.
//
// # Running graphs
//
// Compile turns a builder into a Program with named outputs, run many times with Feeds (inputs
// by name; a feed of the wrong shape or dtype is an error naming the input and both shapes).
// A program runs on unroll's executor by default: it runs only the nodes its outputs need and
// lets unroll's ops write into buffers it keeps from run to run; Gorgonia's sum of two tensors
// of one shape (where gorgonia.Grad meets the gradients of a value that feeds several nodes)
// it runs with its own vector loop (exec_add.go), same bits. Gorgonia's TapeMachine is the
// checked alternative (WithVM; the tests run under both, go test -tags tapevm).
//
// Differentiation is Gorgonia's: gorgonia.Grad calls every op's SymDiff. After it, ops that
// share inputs among many nodes (the steps of an unrolled recurrent cell share their weights)
// may compute the gradient of those inputs for all their nodes at once (JointGradOp, joint.go).
// NewTrainer compiles a builder with the symbolic gradient of a scalar loss and runs training
// steps: feed, forward, backward, optional global-norm clipping, the solver's update. A step
// whose loss or gradient is NaN or infinite is an error naming the step, and it changes nothing.
//
// GradCheck compares any graph's symbolic gradients with central finite differences in
// float64, like torch.autograd.gradcheck. Params.Summary lists a model's parameters and
// Builder.Dot draws a graph in Graphviz's dot language, with DotGradient the backward pass
// NewTrainer added to it, in red, with DotHide without the nodes a reader need not see, and
// with DotRow the time steps of an unrolled network side by side. SaveCheckpoint and LoadCheckpoint write
// and read safetensors files holding everything a bit-identical resume needs.
package graph
