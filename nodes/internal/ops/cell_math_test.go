package ops

import (
	"math"
	"math/rand/v2"
	"testing"

	"github.com/unroll-ml/unroll/internal/compute"
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

// eachISA runs f as a sub-benchmark named after each instruction set the machine has, with
// that instruction set forced.
func eachISA(b *testing.B, f func(b *testing.B)) {
	for _, isa := range compute.Each() {
		b.Run("isa="+isa.String(), func(b *testing.B) {
			prev, err := compute.SetISA(isa)
			if err != nil {
				b.Fatal(err)
			}
			defer compute.SetISA(prev)
			f(b)
		})
	}
}

// BenchmarkCellMath32 times sigmoid and tanh on 4,096 values (those of an LSTM step of batch 4
// and 256 units), in millions of values per second.
func BenchmarkCellMath32(b *testing.B) {
	s := make([]float32, 4096)
	for i := range s {
		s[i] = float32(i-2048) / 256
	}
	eachISA(b, func(b *testing.B) {
		for b.Loop() {
			cellSigmoids(s) // the vector versions take as long whatever the values
			cellTanhs(s)
		}
		b.ReportMetric(float64(b.N*2*len(s))/b.Elapsed().Seconds()/1e6, "Melem/s")
	})
}

// BenchmarkCellBackward times the elementwise part of the LSTM and GRU backward steps
// (lstmBackRows, gruBackRows) for batch 32 and 256 units, as in workloads W2 and W3, on one
// thread.
func BenchmarkCellBackward(b *testing.B) {
	const B, H = 32, 256
	r := rand.New(rand.NewPCG(1, 2))
	fill := func(n int) []float32 {
		v := make([]float32, n)
		for i := range v {
			v[i] = r.Float32()
		}
		return v
	}
	gates, c, gout, hp := fill(5*B*H), fill(B*H), fill(2*B*H), fill(B*H)
	dgi, dgh, dc := make([]float32, 4*B*H), make([]float32, 3*B*H), make([]float32, B*H)
	b.Run("lstm", func(b *testing.B) {
		eachISA(b, func(b *testing.B) {
			for b.Loop() {
				lstmBackRows(H, B, gates, c, gout, dgi, dc, 0, B)
			}
		})
	})
	b.Run("gru", func(b *testing.B) {
		eachISA(b, func(b *testing.B) {
			for b.Loop() {
				gruBackRows(H, gates, hp, gout, dgi, dgh, dc, 0, B)
			}
		})
	})
}

// The slice versions (eight or sixteen values at a time in assembly where the processor allows)
// give the same bits as the scalar functions, on every instruction set the machine has, for
// every kind of value: both tails, the branch points of tanh, zeros, subnormals, infinities and
// NaN of either sign, and lengths that leave a partial block.
func TestCellMath32Slices(t *testing.T) {
	xs := []float32{0, float32(math.Copysign(0, -1)), 0.625, -0.625, 0.62499994, 9, -9, 8.999999,
		88.37626, 88.37627, -87.33654, -87.33655, 1e-30, -1e-30, 1e30, -1e30,
		float32(math.Inf(1)), float32(math.Inf(-1)), float32(math.NaN()),
		math.Float32frombits(0xffc00001), math.Float32frombits(1), math.Float32frombits(0x80000001)}
	for i := -300000; i <= 300000; i++ {
		xs = append(xs, float32(i)*3.1e-4) // [-93, 93]
	}
	for _, isa := range compute.Each() {
		prev, err := compute.SetISA(isa)
		if err != nil {
			t.Fatal(err)
		}
		for _, n := range []int{len(xs), 7, 13, 16, 33} {
			cellSlicesMatch(t, isa, xs[:n])
		}
		compute.SetISA(prev)
	}
}

// cellSlicesMatch checks the slice versions of sigmoid and tanh against the scalar ones on in.
func cellSlicesMatch(t *testing.T, isa compute.ISA, in []float32) {
	t.Helper()
	for _, f := range []struct {
		name   string
		slice  func([]float32)
		scalar func(float32) float32
	}{{"sigmoid", cellSigmoids[float32], sigmoid32}, {"tanh", cellTanhs[float32], tanh32}} {
		got := append([]float32(nil), in...)
		f.slice(got)
		for i, x := range in {
			if want := f.scalar(x); math.Float32bits(got[i]) != math.Float32bits(want) {
				t.Fatalf("%v, %s(%v) of %d values: slice version %v, scalar %v", isa, f.name, x, len(in), got[i], want)
			}
		}
	}
}

// BenchmarkCellRows times the elementwise loops around the LSTM step's products at the sizes
// of workload W2 (batch 32, 256 units, one-hot input of 96, segments of 64 steps), on one
// thread: the sums of the biases and the input rows of one step (biasRow), the gate maths of
// one LSTM and one GRU step (lstmRows, gruRows, nonlinearities included), and the scatter of a
// segment's gate gradients into dW_ih by input id (cellScatterIDs) and their column sums, the
// bias gradient (cellColSums).
func BenchmarkCellRows(b *testing.B) {
	const B, H, I, T = 32, 256, 96, 64
	G := 4 * H
	r := rand.New(rand.NewPCG(1, 2))
	fill := func(n int) []float32 {
		v := make([]float32, n)
		for i := range v {
			v[i] = r.Float32()
		}
		return v
	}
	res, bih, bhh, wT := make([]float32, B*G), fill(G), fill(G), fill(I*G)
	ids := make([]int32, T*B)
	for i := range ids {
		ids[i] = int32(r.IntN(I))
	}
	dgi, dwih, dwT := fill(T*B*G), make([]float32, G*I), make([]float32, I*G)
	b.Run("bias", func(b *testing.B) {
		eachISA(b, func(b *testing.B) {
			for b.Loop() {
				for row := 0; row < B; row++ {
					id := int(ids[row])
					biasRow(res[row*G:(row+1)*G], bih, bhh, wT[id*G:(id+1)*G])
				}
			}
		})
	})
	pre, c, out := fill(B*G), fill(B*H), make([]float32, 2*B*H)
	reserve := make([]float32, B*G+B*H)
	b.Run("lstm", func(b *testing.B) {
		eachISA(b, func(b *testing.B) {
			for b.Loop() {
				copy(reserve, pre) // the pre-activations, which the step overwrites
				lstmRows(H, reserve, c, out, 0, B, B)
			}
		})
	})
	b.Run("gru", func(b *testing.B) {
		eachISA(b, func(b *testing.B) {
			for b.Loop() {
				copy(res, pre)
				gruRows(H, res, c, out, 0, B)
			}
		})
	})
	b.Run("colsums", func(b *testing.B) {
		prev := compute.SetThreads(1)
		defer compute.SetThreads(prev)
		eachISA(b, func(b *testing.B) {
			for b.Loop() {
				cellColSums(res[:G], dgi, T*B, G)
			}
		})
	})
	b.Run("scatter", func(b *testing.B) {
		prev := compute.SetThreads(1)
		defer compute.SetThreads(prev)
		eachISA(b, func(b *testing.B) {
			for b.Loop() {
				cellScatterIDs(ids, dgi, dwih, dwT, I, G)
			}
		})
	})
}

// transposeInto moves every element once, to its transposed place, for sizes that are and are
// not multiples of its block.
func TestTransposeInto(t *testing.T) {
	for _, sz := range [][2]int{{1, 1}, {1, 37}, {37, 1}, {16, 16}, {1024, 96}, {33, 17}, {5, 100}} {
		rows, cols := sz[0], sz[1]
		src := make([]float32, rows*cols)
		for i := range src {
			src[i] = float32(i + 1)
		}
		dst := make([]float32, rows*cols)
		transposeInto(dst, src, rows, cols)
		for r := 0; r < rows; r++ {
			for c := 0; c < cols; c++ {
				if got, want := dst[c*rows+r], src[r*cols+c]; got != want {
					t.Fatalf("%dx%d: dst[%d][%d] = %v, want %v", rows, cols, c, r, got, want)
				}
			}
		}
	}
}
