package compute

import (
	"math"
	"testing"
)

// TestAdd checks Add on every instruction set against the sums in Go, bit for bit, for lengths
// around the vector and loop boundaries, in place (dst = a, as dst += b is used) and not, with
// a guard value after dst that must stay.
func TestAdd(t *testing.T) {
	for _, isa := range Each() {
		prev, err := SetISA(isa)
		if err != nil {
			t.Fatal(err)
		}
		for _, n := range []int{0, 1, 7, 8, 9, 15, 16, 17, 31, 33, 63, 64, 65, 100, 255, 1000} {
			a, b := make([]float32, n), make([]float32, n)
			for i := range a {
				a[i] = float32(math.Sin(float64(i))) * 1e3
				b[i] = float32(math.Cos(float64(3*i))) / 7
			}
			dst := make([]float32, n+1)
			dst[n] = 42
			Add(dst[:n], a, b)
			for i := range a {
				if want := a[i] + b[i]; math.Float32bits(dst[i]) != math.Float32bits(want) {
					t.Fatalf("%v, n %d: dst[%d] = %v, want %v", isa, n, i, dst[i], want)
				}
			}
			if dst[n] != 42 {
				t.Fatalf("%v, n %d: wrote past the end", isa, n)
			}
			in := append([]float32(nil), a...)
			Add(in, in, b)
			for i := range in {
				if in[i] != dst[i] {
					t.Fatalf("%v, n %d, in place: [%d] = %v, want %v", isa, n, i, in[i], dst[i])
				}
			}
		}
		d64 := make([]float64, 3)
		Add(d64, []float64{1, 2, 3}, []float64{0.5, 0.25, -3})
		if d64[0] != 1.5 || d64[1] != 2.25 || d64[2] != 0 {
			t.Fatalf("%v, float64: %v", isa, d64)
		}
		SetISA(prev)
	}
}
