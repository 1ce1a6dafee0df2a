// Package compute holds what unroll's kernels share and users never call: the number of
// threads the kernels may use, the partitioned parallel loops that use them, scratch buffers
// that survive garbage collections, and the choice of instruction set (ISA) for the kernels
// that have several.
//
// Look first at For, the loop every parallel kernel runs through, and at its rule of
// determinism: a loop runs over independent outputs, cut into blocks that the threads
// share, and every output is computed by the same code whatever block it falls in and
// whichever thread runs it. No reduction is split among threads in a way that depends on
// their number, so results are bit-identical for any thread count.
//
// The thread count is set by users through graph.SetThreads, the one public knob; tests and
// benchmarks force an instruction set with SetISA.
package compute
