package solvers

import (
	"runtime"
	"sync"
)

// minParallel is the number of elements below which an update runs on the calling goroutine.
const minParallel = 1 << 15

// parallelFor calls body(lo, hi) on contiguous parts of [0, n), on up to GOMAXPROCS
// goroutines (the caller runs the first part). Only elementwise updates use it: every element
// is computed by the same code whatever part it falls in, so the result does not depend on
// the number of goroutines.
func parallelFor(n int, body func(lo, hi int)) {
	threads := min(runtime.GOMAXPROCS(0), runtime.NumCPU(), n/(minParallel/2))
	if threads <= 1 {
		body(0, n)
		return
	}
	var wg sync.WaitGroup
	wg.Add(threads - 1)
	for p := 1; p < threads; p++ {
		// Parts start on multiples of 16 elements, so no two goroutines share a cache line.
		lo, hi := p*n/threads&^15, min((p+1)*n/threads&^15, n)
		if p == threads-1 {
			hi = n
		}
		go func() {
			defer wg.Done()
			body(lo, hi)
		}()
	}
	body(0, n/threads&^15)
	wg.Wait()
}
