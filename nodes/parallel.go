package nodes

import (
	"sync"
	"sync/atomic"

	"github.com/unroll-ml/unroll/nodes/gemm"
)

// This file holds the parallel loops of the ops and the scratch memory they share.
//
// Determinism: a parallel loop runs over independent outputs (images, channels, planes, rows,
// elements), cut into blocks that the threads share, and every output is computed by the same
// code whatever block it falls in and whichever thread runs it. No reduction is ever split
// among threads: a sum over a batch or a channel is computed by one thread in a fixed order,
// or from partial sums over a fixed pattern that depends on the shapes only. So results are
// bit-identical for any number of threads (gemm.SetThreads), as the project's
// reproducibility rule requires.

// minParallelWork is the amount of work (roughly, elements touched) below which a loop runs on
// the calling goroutine: waking another goroutine costs a few microseconds.
const minParallelWork = 1 << 15

// parallelFor calls body(lo, hi) on blocks of [0, n) that together cover it, on up to
// gemm.Threads() goroutines (the caller is one of them). work is the total amount of work of
// the loop, in elements; small loops run on the calling goroutine. The goroutines claim the
// blocks one after another, a few per goroutine, so that one whose thread the system has
// paused does not hold the others up; which goroutine computes a block changes nothing in it.
func parallelFor(n, work int, body func(lo, hi int)) {
	threads := min(gemm.Threads(), n)
	if threads <= 1 || work < minParallelWork {
		if n > 0 {
			body(0, n)
		}
		return
	}
	blocks := min(n, 8*threads, max(threads, work/minParallelWork))
	var next atomic.Int64
	claim := func() {
		for {
			b := int(next.Add(1)) - 1
			if b >= blocks {
				return
			}
			body(b*n/blocks, (b+1)*n/blocks)
		}
	}
	var wg sync.WaitGroup
	wg.Add(threads - 1)
	for p := 1; p < threads; p++ {
		go func() {
			defer wg.Done()
			claim()
		}()
	}
	claim()
	wg.Wait()
}

// parallelElems calls body(lo, hi) on parts of [0, n) for an elementwise loop, each part
// starting at a multiple of 16 elements (so that no two goroutines write the same cache line
// of a float32 slice that starts on one).
func parallelElems(n int, body func(lo, hi int)) {
	const grain = 16
	blocks := (n + grain - 1) / grain
	parallelFor(blocks, n, func(lo, hi int) {
		body(lo*grain, min(hi*grain, n))
	})
}

// parallelCopy copies src into dst (of the same length), its elements shared among the threads.
func parallelCopy[T float](dst, src []T) {
	parallelElems(len(src), func(lo, hi int) { copy(dst[lo:hi], src[lo:hi]) })
}

// scratch is a free list of buffers of one element type, shared by the ops: an op takes the
// memory it needs during one call and gives it back, so a training step allocates nothing
// once the first step has run, and the memory held is what one op needs at a time. Unlike a
// sync.Pool the list survives garbage collections.
type scratch[T float] struct {
	mu   sync.Mutex
	free [][]T
}

var (
	scratch32 scratch[float32]
	scratch64 scratch[float64]
)

// maxFreeScratch is how many idle buffers each list keeps.
const maxFreeScratch = 8

// getScratch returns a buffer of n elements (not zeroed).
func getScratch[T float](n int) []T {
	s := scratchOf[T]()
	s.mu.Lock()
	defer s.mu.Unlock()
	best := -1
	for i, b := range s.free { // the smallest buffer that is large enough
		if cap(b) >= n && (best < 0 || cap(b) < cap(s.free[best])) {
			best = i
		}
	}
	if best < 0 {
		return make([]T, n)
	}
	b := s.free[best]
	s.free[best] = s.free[len(s.free)-1]
	s.free[len(s.free)-1] = nil
	s.free = s.free[:len(s.free)-1]
	return b[:n]
}

// maxScratchKept is the largest buffer, in elements, that the free lists keep (64 MiB of
// float32): a larger one, which only huge images need, goes back to the garbage collector.
const maxScratchKept = 1 << 24

// putScratch gives b back to the free list.
func putScratch[T float](b []T) {
	if cap(b) == 0 || cap(b) > maxScratchKept {
		return
	}
	s := scratchOf[T]()
	s.mu.Lock()
	defer s.mu.Unlock()
	if len(s.free) < maxFreeScratch {
		s.free = append(s.free, b[:0])
		return
	}
	small := 0 // replace the smallest idle buffer if b is larger
	for i, f := range s.free {
		if cap(f) < cap(s.free[small]) {
			small = i
		}
	}
	if cap(b) > cap(s.free[small]) {
		s.free[small] = b[:0]
	}
}

func scratchOf[T float]() *scratch[T] {
	var z T
	if _, ok := any(z).(float64); ok {
		return any(&scratch64).(*scratch[T])
	}
	return any(&scratch32).(*scratch[T])
}
