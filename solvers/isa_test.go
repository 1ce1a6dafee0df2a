package solvers

import (
	"maps"
	"math"
	"math/rand/v2"
	"slices"
	"testing"

	"gorgonia.org/tensor"

	"github.com/unroll-ml/unroll/internal/compute"
)

// adamRun returns the bits of the parameters and of the solver's state after
// three float32 updates of solver s (made anew) on n parameters, computed with instruction
// set isa. Every seventh gradient is a value the loops may treat apart (zeros of either sign,
// a subnormal, the largest float32, an infinity, NaN).
func adamRun(t *testing.T, isa compute.ISA, s func() Solver, n int) []uint32 {
	prev, err := compute.SetISA(isa)
	if err != nil {
		t.Fatal(err)
	}
	defer compute.SetISA(prev)
	r := rand.New(rand.NewPCG(uint64(n), 9))
	special := []float32{0, float32(math.Copysign(0, -1)), math.Float32frombits(1), math.MaxFloat32,
		float32(math.Inf(-1)), float32(math.NaN())}
	value, grad := make([]float32, n), make([]float32, n)
	p := Param{Name: "w",
		Value: tensor.New(tensor.WithShape(n), tensor.WithBacking(value)),
		Grad:  tensor.New(tensor.WithShape(n), tensor.WithBacking(grad))}
	for i := range value {
		value[i] = 2*r.Float32() - 1
	}
	solver := s()
	for step := 0; step < 3; step++ {
		for i := range grad {
			grad[i] = 4*r.Float32() - 2
			if i%7 == 6 {
				grad[i] = special[r.IntN(len(special))]
			}
		}
		if err := solver.Step([]Param{p}); err != nil {
			t.Fatal(err)
		}
	}
	var bits []uint32
	for _, x := range value {
		bits = append(bits, math.Float32bits(x))
	}
	state := solver.State()
	for _, key := range slices.Sorted(maps.Keys(state)) {
		if st := state[key]; st.Dtype() == tensor.Float32 {
			for _, x := range st.Float32s() {
				bits = append(bits, math.Float32bits(x))
			}
		}
	}
	return bits
}

// The float32 Adam and AdamW updates give the same bits on every instruction set the machine
// has as the portable Go loop, in each of their three forms (no weight decay, weight decay in
// the gradient, decoupled), for lengths that leave partial vectors and one long enough for
// the threads to share. The one exception allowed is which NaN a NaN is: when both operands
// of an addition are NaN the processor returns the first, and which operand comes first in
// the Go loop's machine code is the compiler's choice.
func TestAdamMatchesGo(t *testing.T) {
	solvers := map[string]func() Solver{
		"adam":              func() Solver { return NewAdam(0.01) },
		"adam_weight_decay": func() Solver { return NewAdam(0.01, Betas(0.8, 0.99), Eps(1e-6), WeightDecay(0.1)) },
		"adamw":             func() Solver { return NewAdamW(0.01) },
	}
	lengths := []int{1, 7, 8, 15, 16, 17, 31, 33, 100, 1 << 17}
	for name, s := range solvers {
		for _, n := range lengths {
			ref := adamRun(t, compute.Generic, s, n)
			for _, isa := range compute.Each()[1:] {
				got := adamRun(t, isa, s, n)
				for i := range ref {
					if got[i] != ref[i] && !(isNaN32(got[i]) && isNaN32(ref[i])) {
						t.Fatalf("%s, %v, %d parameters: value %d is %v (%#x), Go gives %v (%#x)", name, isa, n, i,
							math.Float32frombits(got[i]), got[i], math.Float32frombits(ref[i]), ref[i])
					}
				}
			}
		}
	}
}

func isNaN32(bits uint32) bool { return bits&0x7fffffff > 0x7f800000 }
