// Package ops holds the Gorgonia operations behind unroll's layers: what Gorgonia runs, as the
// layers of package nodes are what users call. Each file holds one family: elementwise
// activations and softmax, convolution (window geometry, the op, im2col), pooling, batch
// normalisation, the linear map, embedding, row and column concatenation, losses, and the
// fused recurrent cells (forward, backward, masks). base.go holds what every op shares; read it
// first.
//
// The contract every op here keeps:
//
//   - An op is a value whose fields are all of its attributes, and WriteHash writes every one of
//     them: Gorgonia merges two nodes whose ops hash alike and whose inputs are the same (that is
//     how its own Conv2d loses dilation).
//   - An op never changes its inputs, handles float32 and float64, and embeds base. Do returns a
//     fresh value; DoInto (graph.Preallocator) writes the same value into a buffer the executor
//     owns and reuses from run to run, so a training step allocates no tensors.
//   - A forward op's SymDiff builds its backward from other ops of this package (a backward op
//     computes one gradient with a hand-written loop, and embeds backward: it has no second
//     derivative). The backward ops of the activations, softmax and the losses are one generic
//     op, derivative (base.go), to which each forward op says what its gradient computes
//     (gradRule). SymDiff only adds nodes: no op is changed while a graph is differentiated,
//     so a graph can be differentiated more than once.
//   - What a forward op keeps for its backward within one run (the gates of a recurrent step,
//     the softmax of a cross-entropy) lives in a buffer of the forward op, which its backward op
//     reads; the backward op takes the forward node as an input, so the forward has always run
//     first in the same run.
//   - Loops over many elements run on all threads over independent outputs, deterministically
//     (internal/compute); every gradient is checked against finite differences in float64 by
//     the tests of package nodes.
//
// The float32 loops of the hot path have assembly versions for AVX2 and AVX-512, chosen at each
// call from compute.Current(): the cells' nonlinearities and backward rows (cell_math*.s), the
// elementwise loops (vec_amd64.s, with their Go versions in vec.go), the softmax of the
// cross-entropy (softmax_row.go) and the 2x2 max pooling (pool_amd64.s). Each computes the same
// operations in the same order as its Go version, so every path gives the same bits (which NaN
// a NaN is aside), and the tests check that on every instruction set the machine has. The
// direct convolution (conv_direct.go, float32 stride 1, AVX-512 only) is the exception: it
// sums in another order than the im2col path, so its tests hold it to a rounding bound. A loop
// has an AVX-512 version only where one measured faster than AVX2; the files say which.
package ops
