package ops

import (
	"math"
	"math/rand/v2"
	"testing"

	"gorgonia.org/tensor"

	"github.com/unroll-ml/unroll/internal/compute"
)

// rowsOfLogits returns rows of logits of many lengths (every length up to 70, the 96 classes
// of W2 and W3, and 300), spread over [-40, 40), and a few rows holding the values a loop may
// treat apart: infinities, NaN, zeros of either sign, the largest float32.
func rowsOfLogits(r *rand.Rand) [][]float32 {
	var rows [][]float32
	for _, n := range append([]int{96, 300}, func() []int {
		l := make([]int, 70)
		for i := range l {
			l[i] = i + 1
		}
		return l
	}()...) {
		row := make([]float32, n)
		for i := range row {
			row[i] = 80*r.Float32() - 40
		}
		rows = append(rows, row)
	}
	special := []float32{float32(math.Inf(1)), float32(math.Inf(-1)), float32(math.NaN()), 0,
		float32(math.Copysign(0, -1)), math.MaxFloat32, -math.MaxFloat32}
	for _, v := range special {
		for _, at := range []int{0, 17, 40} {
			row := make([]float32, 41+7*(at%2)) // 41 or, for 17, 48 (whole blocks)
			for i := range row {
				row[i] = 8*r.Float32() - 4
			}
			row[at] = v
			rows = append(rows, row)
		}
	}
	return rows
}

// The softmax of a float32 row (its maximum, the sum of its exponentials and its
// probabilities) has the same bits on every instruction set the machine has as in portable
// Go, and stays within a stated bound of the float64 softmax.
func TestSoftmaxRow32(t *testing.T) {
	rows := rowsOfLogits(rand.New(rand.NewPCG(5, 6)))
	type result struct {
		m, s float32
		p    []float32
	}
	run := func(isa compute.ISA) []result {
		prev, err := compute.SetISA(isa)
		if err != nil {
			t.Fatal(err)
		}
		defer compute.SetISA(prev)
		var out []result
		for _, z := range rows {
			p := make([]float32, len(z))
			m, s := softmaxRow32(z, p)
			out = append(out, result{m, s, p})
		}
		return out
	}
	ref := run(compute.Generic)
	for _, isa := range compute.Each()[1:] {
		for i, got := range run(isa) {
			want := ref[i]
			same := sameBits(got.m, want.m) && sameBits(got.s, want.s)
			for j := range want.p {
				same = same && sameBits(got.p[j], want.p[j])
			}
			if !same {
				t.Fatalf("%v, row %d (%d values): m %v, s %v, p %v; Go gives m %v, s %v, p %v",
					isa, i, len(rows[i]), got.m, got.s, got.p, want.m, want.s, want.p)
			}
		}
	}
	// Against float64, on the finite rows: each exponential is within 4 float32 units of
	// e^(z_j - m) (TestCellMath32; z_j - m is rounded to float32 in both), each of the
	// len(z)-1 additions of the sum rounds by at most half a unit of a partial sum no larger
	// than s, and the division by half a unit: a probability is within (5 + len(z)) units,
	// relative to itself, plus an absolute 1e-38 for those that underflow.
	for i, z := range rows {
		if i >= 72 {
			break // the special rows
		}
		r := ref[i]
		var s64 float64
		e := make([]float64, len(z))
		for j, v := range z {
			e[j] = math.Exp(float64(v - r.m))
			s64 += e[j]
		}
		bound := float64(5+len(z)) / (1 << 23)
		for j := range z {
			want := e[j] / s64
			if d := math.Abs(float64(r.p[j]) - want); d > bound*want+1e-38 {
				t.Fatalf("row %d (%d values), p[%d] = %v, float64 gives %v: off by %.3g relative, bound %.3g",
					i, len(z), j, r.p[j], want, d/want, bound)
			}
		}
	}
}

func sameBits(a, b float32) bool { return math.Float32bits(a) == math.Float32bits(b) }

// BenchmarkCrossEntropy times the softmax cross-entropy of workload W2 (32 x 64 rows of 96
// classes, float32), forward and backward, on each instruction set the machine has.
func BenchmarkCrossEntropy(b *testing.B) {
	const rows, classes = 32 * 64, 96
	r := rand.New(rand.NewPCG(1, 2))
	logits := randDense32(r, rows, classes)
	labels := newDense[float32](rows)
	for i := range labels.Float32s() {
		labels.Float32s()[i] = float32(r.IntN(classes))
	}
	op := crossEntropyOp{probs: new(ceProbs)}
	grad := crossEntropyGradOp{fwd: op}
	dz := newDense[float32](rows, classes)
	eachISA(b, func(b *testing.B) {
		for b.Loop() {
			loss, err := op.Do(logits, labels)
			if err != nil {
				b.Fatal(err)
			}
			if _, err := grad.DoInto(dz, logits, labels, scalarValue(tensor.Float32, 1), loss); err != nil {
				b.Fatal(err)
			}
		}
	})
}
