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
	"github.com/unroll-ml/unroll/solvers"
)

// cellGradientBits trains nothing: it returns the loss and every gradient of a few float32
// steps of an LSTM or GRU cell, as bits, computed with the kernels of instruction set isa.
func cellGradientBits(t *testing.T, lstm bool, isa compute.ISA) []uint32 {
	prev, err := compute.SetISA(isa)
	if err != nil {
		t.Fatal(err)
	}
	defer compute.SetISA(prev)
	const batch, in, hidden, steps = 3, 5, 13, 3 // 13: the assembly does 12 columns (or 8), Go the rest
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
	prod, err := gorgonia.HadamardProd(y, proj)
	if err != nil {
		t.Fatal(err)
	}
	loss, err := gorgonia.Sum(prod)
	if err != nil {
		t.Fatal(err)
	}
	tr, err := graph.NewTrainer(b, loss, solvers.NewSGD(0.1))
	if err != nil {
		t.Fatal(err)
	}
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

// The vector kernels of the LSTM and GRU steps (the nonlinearities forward, the gradient loops
// backward) give the same bits as the portable Go loops, on every instruction set the machine
// has.
func TestCellKernelsMatchGo(t *testing.T) {
	isas := compute.Each()
	if len(isas) == 1 {
		t.Skip("the machine runs the portable kernels only")
	}
	for _, lstm := range []bool{true, false} {
		ref := cellGradientBits(t, lstm, compute.Generic)
		for _, isa := range isas[1:] {
			got := cellGradientBits(t, lstm, isa)
			for i := range ref {
				if got[i] != ref[i] {
					t.Fatalf("lstm %v, %v: value %d: %v, generic %v", lstm, isa, i, math.Float32frombits(got[i]), math.Float32frombits(ref[i]))
				}
			}
		}
	}
}
