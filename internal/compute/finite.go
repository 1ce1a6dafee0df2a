package compute

import (
	"math"
	"sync/atomic"
)

// FirstNonFinite returns the index of the first NaN or infinite value of x, or -1. Blocks of x
// are read on all the threads (with AVX-512 where the machine has it); the answer is the same
// for any number of threads.
func FirstNonFinite[T Float](x []T) int {
	const block = 1 << 13
	blocks := (len(x) + block - 1) / block
	var first atomic.Int64
	first.Store(math.MaxInt64)
	For(blocks, len(x), func(lo, hi int) {
		for b := lo; b < hi; b++ {
			at := int64(b * block)
			if at > first.Load() {
				return // a block before this one holds an earlier one
			}
			i := firstNonFiniteIn(x[b*block : min((b+1)*block, len(x))])
			if i < 0 {
				continue
			}
			for at += int64(i); ; {
				old := first.Load()
				if at >= old || first.CompareAndSwap(old, at) {
					return
				}
			}
		}
	})
	if i := first.Load(); i != math.MaxInt64 {
		return int(i)
	}
	return -1
}

// firstNonFiniteIn is FirstNonFinite on one block, on the calling goroutine: a test of all its
// values without a branch per value (one vector instruction per 16 float32 values with
// AVX-512), then a search only when the test fires.
func firstNonFiniteIn[T Float](x []T) int {
	switch v := any(x).(type) {
	case []float32:
		n := 0 // values known to be finite
		if Current() >= AVX512 && len(v) >= 64 {
			n = len(v) &^ 63
			if anyNonFinite32(&v[0], n) {
				n = 0
			}
			v = v[n:]
		}
		var bad uint32
		for _, e := range v {
			bad |= math.Float32bits(e)&0x7f800000 + 0x00800000 // bit 31 set when the exponent is all ones
		}
		if bad&0x80000000 == 0 {
			return -1
		}
		for i, e := range v {
			if math.Float32bits(e)&0x7f800000 == 0x7f800000 {
				return n + i
			}
		}
	case []float64:
		var bad uint64
		for _, e := range v {
			bad |= math.Float64bits(e)&0x7ff0000000000000 + 0x0010000000000000
		}
		if bad&(1<<63) == 0 {
			return -1
		}
		for i, e := range v {
			if math.Float64bits(e)&0x7ff0000000000000 == 0x7ff0000000000000 {
				return i
			}
		}
	}
	return -1
}
