package graph

import (
	"math"
	"testing"

	"gorgonia.org/tensor"
)

// TestFirstNonFinite checks firstNonFinite on tensors of both dtypes with a NaN or an infinity
// at positions around the vector and block boundaries of its scan, and on finite ones holding
// the largest finite values.
func TestFirstNonFinite(t *testing.T) {
	bad := []float64{math.NaN(), math.Inf(1), math.Inf(-1)}
	for _, n := range []int{1, 63, 64, 1023, 1024, 1025, 3000, 1<<13 + 100} {
		for _, dt := range []tensor.Dtype{tensor.Float32, tensor.Float64} {
			vals := make([]float64, n)
			for i := range vals {
				vals[i] = float64(i%7) - 3
			}
			vals[n/2] = math.MaxFloat32
			clean := NewTensor(dt, []int{n}, vals)
			if got := firstNonFinite(clean); got != -1 {
				t.Errorf("%v n=%d finite: %d", dt, n, got)
			}
			for _, at := range []int{0, n / 2, 63, 1023, 1024, 1 << 13, n - 1} {
				if at >= n {
					continue
				}
				for _, b := range bad {
					v := append([]float64(nil), vals...)
					v[at] = b
					if at+1 < n {
						v[n-1] = math.NaN() // a later one too
					}
					x := NewTensor(dt, []int{n}, v)
					if got := firstNonFinite(x); got != at {
						t.Errorf("%v n=%d %v at %d: firstNonFinite %d", dt, n, b, at, got)
					}
				}
			}
		}
	}
}
