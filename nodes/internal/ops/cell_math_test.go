package ops

import (
	"math"
	"testing"
)

// The single-precision nonlinearities stay within a few float32 units of the float64 ones
// over the range the cells use, including the far tails and the small arguments where tanh
// must keep its relative precision.
func TestCellMath32(t *testing.T) {
	var worstExp, worstSig, worstTanh, worstTanhRel float64
	for i := -200000; i <= 200000; i++ {
		x := float64(i) * 1e-4 // [-20, 20]
		x32 := float32(x)
		xd := float64(x32)
		if e, want := float64(exp32(x32)), math.Exp(xd); want > 1e-30 {
			worstExp = math.Max(worstExp, math.Abs(e-want)/want)
		}
		worstSig = math.Max(worstSig, math.Abs(float64(sigmoid32(x32))-sigmoid(xd)))
		th, want := float64(tanh32(x32)), math.Tanh(xd)
		worstTanh = math.Max(worstTanh, math.Abs(th-want))
		if want != 0 {
			worstTanhRel = math.Max(worstTanhRel, math.Abs(th-want)/math.Abs(want))
		}
	}
	const ulp = 1.0 / (1 << 23) // float32 epsilon, about 1.2e-7
	if worstExp > 4*ulp || worstSig > 2*ulp || worstTanh > 2*ulp || worstTanhRel > 4*ulp {
		t.Errorf("exp relative %.3g, sigmoid absolute %.3g, tanh absolute %.3g and relative %.3g (float32 epsilon %.3g)",
			worstExp, worstSig, worstTanh, worstTanhRel, ulp)
	}
	for _, x := range []float32{-1e4, -90, 90, 1e4} {
		s := sigmoid32(x)
		if math.IsNaN(float64(s)) || s < 0 || s > 1 || math.Abs(float64(tanh32(x))) != 1 {
			t.Errorf("x = %v: sigmoid %v, tanh %v", x, s, tanh32(x))
		}
	}
	if exp32(-100) != 0 || !math.IsInf(float64(exp32(100)), 1) {
		t.Errorf("exp32 tails: %v %v", exp32(-100), exp32(100))
	}
}

func BenchmarkCellMath32(b *testing.B) {
	s := make([]float32, 4096)
	for i := range s {
		s[i] = float32(i-2048) / 256
	}
	for i := 0; i < b.N; i++ {
		cellSigmoids(s)
		cellTanhs(s)
	}
	b.ReportMetric(float64(b.N*2*len(s))/b.Elapsed().Seconds()/1e6, "Melem/s")
}

// The slice versions (eight values at a time in assembly where the processor allows) give the
// same bits as the scalar functions, for every kind of value: both tails, the branch points of
// tanh, zeros, infinities and NaN, and lengths that leave a partial block.
func TestCellMath32Slices(t *testing.T) {
	xs := []float32{0, float32(math.Copysign(0, -1)), 0.625, -0.625, 0.62499994, 9, -9, 8.999999,
		88.37626, 88.37627, -87.33654, -87.33655, 1e-30, -1e-30, 1e30, -1e30,
		float32(math.Inf(1)), float32(math.Inf(-1)), float32(math.NaN())}
	for i := -300000; i <= 300000; i++ {
		xs = append(xs, float32(i)*3.1e-4) // [-93, 93]
	}
	for _, n := range []int{len(xs), 7, 13} {
		in := xs[:n]
		for _, f := range []struct {
			name   string
			slice  func([]float32)
			scalar func(float32) float32
		}{{"sigmoid", cellSigmoids[float32], sigmoid32}, {"tanh", cellTanhs[float32], tanh32}} {
			got := append([]float32(nil), in...)
			f.slice(got)
			for i, x := range in {
				if want := f.scalar(x); math.Float32bits(got[i]) != math.Float32bits(want) {
					t.Fatalf("%s(%v): slice version %v, scalar %v", f.name, x, got[i], want)
				}
			}
		}
	}
}
