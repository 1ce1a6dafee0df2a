package compute

import "sync"

// Float is the element type of the kernels' values.
type Float interface{ float32 | float64 }

// scratch is a free list of buffers of one element type, shared by the kernels: a kernel takes
// the memory it needs during one call and gives it back, so a training step allocates nothing
// once the first step has run, and the memory held is what one call needs at a time. Unlike a
// sync.Pool the list survives garbage collections.
type scratch[T Float] struct {
	mu   sync.Mutex
	free [][]T
}

var (
	scratch32 scratch[float32]
	scratch64 scratch[float64]
)

// maxFreeScratch is how many idle buffers each list keeps.
const maxFreeScratch = 16

// maxScratchKept is the largest buffer, in elements, that the free lists keep (64 MiB of
// float32): a larger one, which only huge images need, goes back to the garbage collector.
const maxScratchKept = 1 << 24

// Scratch returns a buffer of n elements (not zeroed) from the free list of its element type.
// Give it back with Release when the call is done with it.
func Scratch[T Float](n int) []T {
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

// Release gives b, a buffer from Scratch, back to the free list.
func Release[T Float](b []T) {
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

func scratchOf[T Float]() *scratch[T] {
	var z T
	if _, ok := any(z).(float64); ok {
		return any(&scratch64).(*scratch[T])
	}
	return any(&scratch32).(*scratch[T])
}
