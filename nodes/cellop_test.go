package nodes_test

import (
	"math/rand/v2"
	"testing"

	"gorgonia.org/gorgonia"
	"gorgonia.org/tensor"

	"github.com/unroll-ml/unroll/graph"
	"github.com/unroll-ml/unroll/nodes"
)

// MaskState keeps the previous state on masked rows, MaskRows zeroes them, and both pass the
// finite-difference check with respect to the values (the mask is data).
func TestMask(t *testing.T) {
	const batch, width = 4, 3
	r := rand.New(rand.NewPCG(9, 9))
	mask := []float64{1, 0, 1, 0.25}
	for _, shape := range [][]int{{batch}, {batch, 1}} {
		feeds := graph.Feeds{
			"h": cellRand(r, tensor.Float64, 1, batch, width), "hp": cellRand(r, tensor.Float64, 1, batch, width),
			"c": cellRand(r, tensor.Float64, 1, batch, width), "cp": cellRand(r, tensor.Float64, 1, batch, width),
			"m": graph.NewTensor(tensor.Float64, shape, mask),
		}
		build := func(b *graph.Builder) (*gorgonia.Node, error) {
			in := map[string]*gorgonia.Node{}
			for _, n := range []string{"h", "hp", "c", "cp"} {
				in[n], _ = b.Input(n, batch, width)
			}
			m, _ := b.Input("m", shape...)
			// GradCheck needs a parameter: an offset added to h.
			off, err := b.Param("off")
			if err != nil {
				return nil, err
			}
			hOff, err := gorgonia.Add(in["h"], off)
			if err != nil {
				return nil, err
			}
			s, err := nodes.MaskState(b, "l0", nodes.State{H: hOff, C: in["c"]}, nodes.State{H: in["hp"], C: in["cp"]}, m)
			if err != nil {
				return nil, err
			}
			o, err := nodes.MaskRows(b, "out", s.H, m)
			if err != nil {
				return nil, err
			}
			return gorgonia.Concat(1, s.H, s.C, o)
		}
		ps := graph.NewParams(graph.Dtype(tensor.Float64))
		if _, err := ps.Add("off", []int{batch, width}, graph.Uniform(-1, 1)); err != nil {
			t.Fatal(err)
		}
		b := graph.NewBuilder(ps, graph.Eval)
		y, err := build(b)
		if err != nil {
			t.Fatal(err)
		}
		got := runOutput(t, b, y, feeds)
		h, hp := graph.Float64s(feeds["h"]), graph.Float64s(feeds["hp"])
		for i, v := range graph.Float64s(ps.Value("off")) {
			h[i] += v
		}
		c, cp := graph.Float64s(feeds["c"]), graph.Float64s(feeds["cp"])
		for i := 0; i < batch; i++ {
			m := mask[i]
			for j := 0; j < width; j++ {
				k := i*width + j
				wantH := m*h[k] + (1-m)*hp[k]
				want := []float64{wantH, m*c[k] + (1-m)*cp[k], m * wantH}
				for part, w := range want {
					if g := got[i*3*width+part*width+j]; g-w > 1e-15 || w-g > 1e-15 {
						t.Fatalf("mask %v row %d part %d: got %v, want %v", shape, i, part, g, w)
					}
				}
			}
		}
		if _, err := graph.GradCheck(ps, build, feeds, graph.WithRespectTo("h", "hp", "c", "cp"), graph.MaxPerTensor(0)); err != nil {
			t.Fatal(err)
		}
	}
}

func TestMaskErrors(t *testing.T) {
	b := graph.NewBuilder(graph.NewParams(), graph.Eval)
	h, _ := b.Input("h", 4, 3)
	h5, _ := b.Input("h5", 5, 3)
	m, _ := b.Input("m", 4)
	m2, _ := b.Input("m2", 4, 2)
	for _, tc := range []struct {
		err  error
		want string
	}{
		{func() error { _, err := nodes.MaskRows(b, "out", h, m2); return err }(), "out: mask must be (4) or (4, 1) for a batch of 4, has shape (4, 2)"},
		{func() error { _, err := nodes.MaskState(b, "l1", nodes.State{H: h}, nodes.State{H: h5}, m); return err }(), "l1.h: mask: previous value has shape (5, 3), new value (4, 3)"},
		{func() error {
			_, err := nodes.MaskState(b, "l1", nodes.State{H: h, C: h}, nodes.State{H: h}, m)
			return err
		}(), "l1: mask state: one state has a memory cell C and the other not"},
	} {
		if tc.err == nil || tc.err.Error() != tc.want {
			t.Errorf("got %v, want %q", tc.err, tc.want)
		}
	}
}
