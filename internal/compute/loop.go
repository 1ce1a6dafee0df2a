package compute

import (
	"sync"
	"sync/atomic"
)

// MinParallelWork is the amount of work (roughly, elements touched) below which a loop runs on
// the calling goroutine: waking another goroutine costs a few microseconds.
const MinParallelWork = 1 << 15

// For calls body(lo, hi) on blocks of [0, n) that together cover it, on up to Threads()
// goroutines (the caller is one of them). work is the total amount of work of the loop, in
// elements; loops with less than MinParallelWork run on the calling goroutine. The goroutines
// claim the blocks one after another, a few per goroutine, so that one whose thread the
// system has paused does not hold the others up; which goroutine computes a block must change
// nothing in it (see the package doc).
func For(n, work int, body func(lo, hi int)) {
	threads := min(Threads(), n)
	if threads <= 1 || work < MinParallelWork {
		if n > 0 {
			body(0, n)
		}
		return
	}
	blocks := min(n, 8*threads, max(threads, work/MinParallelWork))
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

// Elems calls body(lo, hi) on parts of [0, n) for an elementwise loop, each part starting at a
// multiple of 16 elements (so that no two goroutines write the same cache line of a float32
// slice that starts on one).
func Elems(n int, body func(lo, hi int)) {
	const grain = 16
	blocks := (n + grain - 1) / grain
	For(blocks, n, func(lo, hi int) {
		body(lo*grain, min(hi*grain, n))
	})
}

// Parts runs part(0), ..., part(n-1), n independent pieces of one computation that are each
// large enough to be worth a goroutine, on up to Threads() goroutines (the caller runs part 0
// and whatever else falls to it).
func Parts(n int, part func(p int)) {
	For(n, n*MinParallelWork, func(lo, hi int) {
		for p := lo; p < hi; p++ {
			part(p)
		}
	})
}

// Copy copies src into dst (of the same length), its elements shared among the threads.
func Copy[T Float](dst, src []T) {
	Elems(len(src), func(lo, hi int) { copy(dst[lo:hi], src[lo:hi]) })
}
