package compute

import (
	"math"
	"testing"
)

// TestFirstNonFinite places NaN, +Inf and -Inf (and the largest finite values, which must not
// count) at every place of interest in slices of many lengths, on every instruction set and
// thread count, against a plain search.
func TestFirstNonFinite(t *testing.T) {
	plain := func(x []float32) int {
		for i, v := range x {
			if math.IsNaN(float64(v)) || math.IsInf(float64(v), 0) {
				return i
			}
		}
		return -1
	}
	bads := []float32{float32(math.NaN()), float32(math.Inf(1)), float32(math.Inf(-1))}
	for _, isa := range Each() {
		prev, err := SetISA(isa)
		if err != nil {
			t.Fatal(err)
		}
		for _, threads := range []int{1, 2, 3} {
			pt := SetThreads(threads)
			for _, n := range []int{0, 1, 15, 63, 64, 65, 200, 1<<13 - 1, 1 << 13, 1<<13 + 70, 50000} {
				x := make([]float32, n)
				for i := range x {
					x[i] = float32(i%7) - 3
				}
				if n > 0 {
					x[n/2] = math.MaxFloat32 // finite
				}
				if got := FirstNonFinite(x); got != -1 {
					t.Fatalf("%v, %d threads, n %d, all finite: got %d", isa, threads, n, got)
				}
				for _, at := range []int{0, 1, 63, 64, n / 3, n - 1, 1 << 13, 1<<13 + 1} {
					if at < 0 || at >= n {
						continue
					}
					for _, bad := range bads {
						y := append([]float32(nil), x...)
						y[at] = bad
						if at+5 < n {
							y[n-1] = bads[0] // a later one must not win
						}
						if got, want := FirstNonFinite(y), plain(y); got != want {
							t.Fatalf("%v, %d threads, n %d, %v at %d: got %d, want %d", isa, threads, n, bad, at, got, want)
						}
						z := make([]float64, n)
						for i, v := range y {
							z[i] = float64(v)
						}
						if got, want := FirstNonFinite(z), plain(y); got != want {
							t.Fatalf("float64, %v, %d threads, n %d, %v at %d: got %d, want %d", isa, threads, n, bad, at, got, want)
						}
					}
				}
			}
			SetThreads(pt)
		}
		SetISA(prev)
	}
}
