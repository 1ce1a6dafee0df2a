//go:build amd64 && !purego

package nodes

import (
	"fmt"
	"math"
	"math/rand/v2"
	"testing"

	"gorgonia.org/gorgonia"
	"gorgonia.org/tensor"

	"github.com/unroll-ml/unroll/graph"
	"github.com/unroll-ml/unroll/solvers"
)

// cellGradientBits trains nothing: it returns the loss and every gradient of a few float32
// steps of cell kind, as bits, computed with or without the assembly loops.
func cellGradientBits(t *testing.T, kind cellKind, asm bool) []uint32 {
	defer func(v bool) { cellAVX2 = v }(cellAVX2)
	cellAVX2 = asm
	const batch, in, hidden, steps = 3, 5, 13, 3 // 13: the assembly does 12 columns (or 8), Go the rest
	ps := graph.NewParams(graph.Seed(3))
	var cell Cell
	var err error
	switch kind {
	case cellLSTM:
		cell, err = NewLSTMCell(ps, "cell", in, hidden)
	default:
		cell, err = NewGRUCell(ps, "cell", in, hidden)
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
	s := State{H: rnd("h0", batch, hidden)}
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
	y, err := ConcatRows(b, "y", outs)
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

// The assembly loops of the LSTM and GRU steps (the nonlinearities forward, the gradient
// loops backward) give the same bits as the Go loops.
func TestCellAssemblyMatchesGo(t *testing.T) {
	if !cellAVX2 {
		t.Skip("the processor has no AVX2")
	}
	for _, kind := range []cellKind{cellLSTM, cellGRU} {
		a, g := cellGradientBits(t, kind, true), cellGradientBits(t, kind, false)
		for i := range a {
			if a[i] != g[i] {
				t.Fatalf("%v: value %d: assembly %v, Go %v", kind, i, math.Float32frombits(a[i]), math.Float32frombits(g[i]))
			}
		}
	}
}
