package nodes_test

import (
	"fmt"
	"math"
	"math/rand/v2"
	"testing"

	"gorgonia.org/gorgonia"
	"gorgonia.org/tensor"

	"github.com/unroll-ml/unroll/graph"
	"github.com/unroll-ml/unroll/internal/compute"
	"github.com/unroll-ml/unroll/nodes"
)

// cellSize is the size of the cell steps of cellGradientBits.
type cellSize struct{ batch, in, hidden, steps int }

// cellSmall has 13 units: AVX2 does 12 columns, Go the rest; AVX-512 masks the last 5.
var cellSmall = cellSize{3, 5, 13, 3}

// cellGradientBits trains nothing: it returns the loss and every gradient of a few float32
// steps of an LSTM or GRU cell, as bits, computed with the kernels of instruction set isa.
func cellGradientBits(t *testing.T, lstm bool, isa compute.ISA, size cellSize) []uint32 {
	prev, err := compute.SetISA(isa)
	if err != nil {
		t.Fatal(err)
	}
	defer compute.SetISA(prev)
	batch, in, hidden, steps := size.batch, size.in, size.hidden, size.steps
	ps := graph.NewParams(graph.Seed(3))
	var cell nodes.Cell
	if lstm {
		cell, err = nodes.NewLSTMCell(ps, "cell", in, hidden)
	} else {
		cell, err = nodes.NewGRUCell(ps, "cell", in, hidden)
	}
	if err != nil {
		t.Fatal(err)
	}
	b := graph.NewBuilder(ps, graph.Train)
	r := rand.New(rand.NewPCG(5, 6))
	feeds := graph.Feeds{}
	rnd := func(name string, shape ...int) *gorgonia.Node {
		n, err := b.Input(name, shape...)
		if err != nil {
			t.Fatal(err)
		}
		v := make([]float64, shape[0]*shape[1])
		for i := range v {
			v[i] = 4*r.Float64() - 2
		}
		feeds[name] = graph.NewTensor(tensor.Float32, shape, v)
		return n
	}
	s := nodes.State{H: rnd("h0", batch, hidden)}
	if cell.HasCell() {
		s.C = rnd("c0", batch, hidden)
	}
	var outs []*gorgonia.Node
	for i := 0; i < steps; i++ {
		if s, err = cell.Step(b, rnd(fmt.Sprintf("x%d", i), batch, in), s); err != nil {
			t.Fatal(err)
		}
		outs = append(outs, s.H)
	}
	y, err := nodes.ConcatRows(b, "y", outs)
	if err != nil {
		t.Fatal(err)
	}
	proj := rnd("proj", batch*steps, hidden)
	tr := projTrainer(t, b, y, proj, 0.1)
	l, grads, err := tr.Gradients(feeds)
	if err != nil {
		t.Fatal(err)
	}
	bits := []uint32{math.Float32bits(float32(l))}
	for _, name := range ps.Trainable() {
		for _, v := range grads[name].Data().([]float32) {
			bits = append(bits, math.Float32bits(v))
		}
	}
	return bits
}

// sameBits compares two results of cellGradientBits: bit for bit when exact, else within a
// relative 1e-4 of the largest value (the portable matrix multiply rounds each product, the
// vector ones fuse multiply and add, so generic may differ from them in the last bits).
func sameBits(t *testing.T, what string, got, ref []uint32, exact bool) {
	t.Helper()
	scale := 0.0
	for _, b := range ref {
		scale = math.Max(scale, math.Abs(float64(math.Float32frombits(b))))
	}
	for i := range ref {
		g, r := math.Float32frombits(got[i]), math.Float32frombits(ref[i])
		if exact && got[i] != ref[i] || !exact && math.Abs(float64(g-r)) > 1e-4*scale {
			t.Fatalf("%s: value %d: %v, reference %v", what, i, g, r)
		}
	}
}

// The vector kernels of the LSTM and GRU steps (the nonlinearities forward, the gradient loops
// backward, and the matrix multiplies) give the same bits on every vector instruction set the
// machine has, and agree with the portable Go path to float32 rounding. (The bit-for-bit checks
// of each kernel against its Go loop are in nodes/internal/ops.)
func TestCellKernelsMatchGo(t *testing.T) {
	isas := compute.Each()
	if len(isas) == 1 {
		t.Skip("the machine runs the portable kernels only")
	}
	for _, lstm := range []bool{true, false} {
		generic := cellGradientBits(t, lstm, compute.Generic, cellSmall)
		ref := cellGradientBits(t, lstm, isas[1], cellSmall)
		sameBits(t, fmt.Sprintf("lstm %v, %v against generic", lstm, isas[1]), ref, generic, false)
		for _, isa := range isas[2:] {
			got := cellGradientBits(t, lstm, isa, cellSmall)
			sameBits(t, fmt.Sprintf("lstm %v, %v against %v", lstm, isa, isas[1]), got, ref, true)
		}
	}
}

// The LSTM and GRU steps give the same bits on one thread and on two, on every instruction
// set the machine has, at a size where the rows of a step are shared among the threads (batch
// 32, 256 units); every vector path gives the same bits as the first.
func TestCellKernelsSameOnAnyThreadCount(t *testing.T) {
	if testing.Short() {
		t.Skip("a few steps of a 256-unit cell")
	}
	size := cellSize{32, 24, 256, 2}
	for _, lstm := range []bool{true, false} {
		prev := compute.SetThreads(1)
		var vecRef []uint32
		for _, isa := range compute.Each() {
			compute.SetThreads(1)
			ref := cellGradientBits(t, lstm, isa, size)
			if isa != compute.Generic {
				if vecRef == nil {
					vecRef = ref
				}
				sameBits(t, fmt.Sprintf("lstm %v, %v against the first vector path", lstm, isa), ref, vecRef, true)
			}
			compute.SetThreads(2)
			got := cellGradientBits(t, lstm, isa, size)
			sameBits(t, fmt.Sprintf("lstm %v, %v, 2 threads against 1", lstm, isa), got, ref, true)
		}
		compute.SetThreads(prev)
	}
}
