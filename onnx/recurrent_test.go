package onnx_test

import (
	"fmt"
	"math/rand/v2"
	"testing"

	"gorgonia.org/gorgonia"
	"gorgonia.org/tensor"

	"github.com/unroll-ml/unroll/graph"
	"github.com/unroll-ml/unroll/models/rnn"
	"github.com/unroll-ml/unroll/nodes"
	"github.com/unroll-ml/unroll/onnx"
)

// cellRows arranges a Recurrent's cells as ExportRecurrentONNX takes them: one row per layer.
func cellRows(rec *rnn.Recurrent) [][]nodes.Cell {
	flat, d := rec.Cells(), rec.Directions()
	var rows [][]nodes.Cell
	for l := 0; l < rec.Layers(); l++ {
		rows = append(rows, flat[l*d:(l+1)*d])
	}
	return rows
}

// TestRecurrentAgainstONNXRuntime exports stacks of recurrent layers (models/rnn's Recurrent,
// uni- and bidirectional, one and two layers, given or zero initial state) and compares ONNX
// Runtime's outputs and final states with unroll's unrolled forward pass for batch sizes 1
// and 3 from one file.
func TestRecurrentAgainstONNXRuntime(t *testing.T) {
	requireRuntime(t)
	cases := []struct {
		name string
		kind rnn.Kind
		opts []rnn.Option
		init bool // initial state as graph inputs; zero state otherwise
	}{
		{"lstm", rnn.LSTM, nil, true},
		{"lstm_bidirectional_2layers", rnn.LSTM, []rnn.Option{rnn.Layers(2), rnn.Bidirectional()}, true},
		{"lstm_2layers_zero_state", rnn.LSTM, []rnn.Option{rnn.Layers(2), rnn.ForgetBias(1)}, false},
		{"gru", rnn.GRU, nil, false},
		{"gru_bidirectional", rnn.GRU, []rnn.Option{rnn.Bidirectional()}, true},
		{"gru_bidirectional_2layers", rnn.GRU, []rnn.Option{rnn.Layers(2), rnn.Bidirectional()}, true},
		{"gru_2layers", rnn.GRU, []rnn.Option{rnn.Layers(2)}, true},
		{"rnn_tanh_bidirectional", rnn.RNN, []rnn.Option{rnn.Bidirectional()}, true},
		{"rnn_relu_2layers", rnn.RNN, []rnn.Option{rnn.Layers(2), rnn.ReLU()}, true},
	}
	const in, hidden, steps = 3, 4, 5
	for i, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			ps := graph.NewParams(graph.Seed(uint64(10 + i)))
			rec, err := rnn.NewRecurrent(ps, "rnn", c.kind, in, hidden, c.opts...)
			if err != nil {
				t.Fatal(err)
			}
			path := exportRecurrent(t, ps, rec, c.name, steps, c.init)
			r := rand.New(rand.NewPCG(uint64(i), 7))
			var runs []feeds
			var wants []graph.Outputs
			for _, batch := range []int{1, 3} {
				fs := feeds{"x": randomTensor(r, batch, steps, in)}
				if c.init {
					states := rec.Layers() * rec.Directions()
					fs["h0"] = randomTensor(r, states, batch, hidden)
					if c.kind == rnn.LSTM {
						fs["c0"] = randomTensor(r, states, batch, hidden)
					}
				}
				runs, wants = append(runs, fs), append(wants, unrollRecurrent(t, ps, rec, fs))
			}
			got := runORT(t, path, runs)
			for j, batch := range []int{1, 3} {
				for name, want := range wants[j] {
					assertClose(t, fmt.Sprintf("%s batch %d", name, batch), got[j][name], want)
				}
			}
		})
	}
}

// exportRecurrent writes rec reading x (B, steps, In), with h0 (and c0) as inputs when init,
// to a checked file with outputs y, h_n and, for LSTM, c_n.
func exportRecurrent(t *testing.T, ps *graph.Params, rec *rnn.Recurrent, name string, steps int, init bool) string {
	t.Helper()
	m := onnx.NewModel(ps, name)
	x, err := m.Input("x", tensor.Float32, nodes.ONNXBatch, steps, rec.InputSize())
	if err != nil {
		t.Fatal(err)
	}
	var h0, c0 nodes.ONNXValue
	states := rec.Layers() * rec.Directions()
	if init {
		if h0, err = m.Input("h0", tensor.Float32, states, nodes.ONNXBatch, rec.HiddenSize()); err != nil {
			t.Fatal(err)
		}
		if rec.Kind() == rnn.LSTM {
			if c0, err = m.Input("c0", tensor.Float32, states, nodes.ONNXBatch, rec.HiddenSize()); err != nil {
				t.Fatal(err)
			}
		}
	}
	out, err := nodes.ExportRecurrentONNX(m, cellRows(rec), x, h0, c0)
	if err != nil {
		t.Fatal(err)
	}
	for _, o := range []struct {
		name string
		v    nodes.ONNXValue
	}{{"y", out.Y}, {"h_n", out.H}, {"c_n", out.C}} {
		if o.v.Name == "" {
			continue
		}
		if err := m.Output(o.name, o.v); err != nil {
			t.Fatal(err)
		}
	}
	return save(t, m, name)
}

// unrollRecurrent runs unroll's Recurrent on the file's inputs: x (B, T, In) cut into one
// (B, In) node per step, h0 and c0 (L·D, B, H) cut into one state per layer and direction. It
// returns y (B, T, D·H), h_n and c_n (L·D, B, H) laid out as the file's outputs.
func unrollRecurrent(t *testing.T, ps *graph.Params, rec *rnn.Recurrent, fs feeds) graph.Outputs {
	t.Helper()
	xs := graph.Float64s(fs["x"])
	s := fs["x"].Shape()
	batch, steps, in := s[0], s[1], s[2]
	states, hidden := rec.Layers()*rec.Directions(), rec.HiddenSize()
	ins := feeds{}
	for step := 0; step < steps; step++ {
		v := make([]float64, 0, batch*in)
		for b := 0; b < batch; b++ {
			v = append(v, xs[(b*steps+step)*in:(b*steps+step+1)*in]...)
		}
		ins[fmt.Sprintf("x%d", step)] = graph.NewTensor(tensor.Float32, []int{batch, in}, v)
	}
	for _, part := range []string{"h0", "c0"} {
		if fs[part] == nil {
			continue
		}
		v := graph.Float64s(fs[part])
		for k := 0; k < states; k++ {
			ins[fmt.Sprintf("%s_%d", part, k)] = graph.NewTensor(tensor.Float32, []int{batch, hidden}, v[k*batch*hidden:(k+1)*batch*hidden])
		}
	}
	res := forward(t, ps, ins, func(b *graph.Builder, nd map[string]*gorgonia.Node) (map[string]*gorgonia.Node, error) {
		xs := make([]*gorgonia.Node, steps)
		for step := range xs {
			xs[step] = nd[fmt.Sprintf("x%d", step)]
		}
		var init []nodes.State
		if fs["h0"] != nil {
			for k := 0; k < states; k++ {
				init = append(init, nodes.State{H: nd[fmt.Sprintf("h0_%d", k)], C: nd[fmt.Sprintf("c0_%d", k)]})
			}
		}
		u, err := rec.Forward(b, xs, init, nil)
		if err != nil {
			return nil, err
		}
		outs := map[string]*gorgonia.Node{}
		for step, y := range u.Outputs {
			outs[fmt.Sprintf("y%d", step)] = y
		}
		for k, f := range u.Final {
			outs[fmt.Sprintf("h%d", k)] = f.H
			if f.C != nil {
				outs[fmt.Sprintf("c%d", k)] = f.C
			}
		}
		return outs, nil
	})
	width := rec.OutputSize()
	y := make([]float64, batch*steps*width)
	for step := 0; step < steps; step++ {
		v := graph.Float64s(res[fmt.Sprintf("y%d", step)]) // (B, D·H)
		for b := 0; b < batch; b++ {
			copy(y[(b*steps+step)*width:], v[b*width:(b+1)*width])
		}
	}
	want := graph.Outputs{"y": graph.NewTensor(tensor.Float32, []int{batch, steps, width}, y)}
	for _, part := range []string{"h", "c"} {
		if res[part+"0"] == nil {
			continue
		}
		var v []float64
		for k := 0; k < states; k++ {
			v = append(v, graph.Float64s(res[fmt.Sprintf("%s%d", part, k)])...)
		}
		want[part+"_n"] = graph.NewTensor(tensor.Float32, []int{states, batch, hidden}, v)
	}
	return want
}
