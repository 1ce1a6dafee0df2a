package graph

import "github.com/unroll-ml/unroll/internal/compute"

// SetThreads sets how many threads unroll's kernels (matrix products, convolutions,
// elementwise loops, solver updates) may use at once and returns the previous value of
// Threads. n <= 0 restores the default, runtime.GOMAXPROCS(0); n above the number of cores is
// clamped. No result depends on it: every parallel loop splits its work so that each output is
// computed by the same code in the same order whatever the number of threads.
func SetThreads(n int) int { return compute.SetThreads(n) }

// Threads returns the number of threads unroll's kernels may use.
func Threads() int { return compute.Threads() }
