package onnx_test

import (
	"math/rand/v2"
	"testing"

	"gorgonia.org/gorgonia"
	"gorgonia.org/tensor"

	"github.com/unroll-ml/unroll/graph"
	"github.com/unroll-ml/unroll/nodes"
	"github.com/unroll-ml/unroll/onnx"
)

// layerCase is one layer exported alone: made in ps, fed inputs of shape (B, shape...).
type layerCase struct {
	name  string
	make  func(ps *graph.Params) (nodes.Layer, error)
	shape []int
	ids   int // > 0: the input holds ids in [0, ids), int64 in the file
	// floatIDs: the file's ids are float32, as unroll's graphs hold them
	floatIDs bool
}

func layerCases() []layerCase {
	conv2 := func(in, out, k int, opts ...nodes.ConvOption) func(*graph.Params) (nodes.Layer, error) {
		return func(ps *graph.Params) (nodes.Layer, error) { return nodes.NewConv2D(ps, "conv", in, out, k, opts...) }
	}
	noParams := func(l nodes.Layer, err error) func(*graph.Params) (nodes.Layer, error) {
		return func(*graph.Params) (nodes.Layer, error) { return l, err }
	}
	return []layerCase{
		{"dense", func(ps *graph.Params) (nodes.Layer, error) { return nodes.NewDense(ps, "fc", 5, 4) }, []int{5}, 0, false},
		{"dense_nobias", func(ps *graph.Params) (nodes.Layer, error) { return nodes.NewDense(ps, "fc", 5, 4, nodes.NoBias()) }, []int{5}, 0, false},
		{"conv2d", conv2(2, 3, 3), []int{2, 7, 6}, 0, false},
		{"conv2d_pads_stride_dilation", conv2(2, 3, 3, nodes.Padding(1, 0, 2, 1), nodes.Stride(2, 1), nodes.Dilation(1, 2)), []int{2, 9, 8}, 0, false},
		{"conv2d_same_stride2_rect", conv2(3, 2, 3, nodes.SamePadding(), nodes.Stride(2), nodes.KernelSize(3, 2)), []int{3, 8, 7}, 0, false},
		{"conv2d_fused_relu_nobias", conv2(1, 4, 3, nodes.Padding(1), nodes.FusedReLU(), nodes.NoBias()), []int{1, 6, 6}, 0, false},
		{"conv1d", func(ps *graph.Params) (nodes.Layer, error) {
			return nodes.NewConv1D(ps, "conv", 3, 2, 3, nodes.Padding(2, 1), nodes.Stride(2), nodes.Dilation(2))
		}, []int{3, 11}, 0, false},
		{"maxpool2d", noParams(nodes.NewMaxPool2D("pool", 2)), []int{3, 6, 7}, 0, false},
		{"maxpool2d_pads_stride_dilation", noParams(nodes.NewMaxPool2D("pool", 3, nodes.Padding(1, 0, 1, 1), nodes.Stride(2, 1), nodes.Dilation(1, 2))), []int{2, 8, 9}, 0, false},
		{"maxpool2d_same", noParams(nodes.NewMaxPool2D("pool", 3, nodes.SamePadding(), nodes.Stride(2))), []int{2, 7, 6}, 0, false},
		{"maxpool1d", noParams(nodes.NewMaxPool1D("pool", 3, nodes.Padding(1), nodes.Stride(2))), []int{2, 9}, 0, false},
		{"avgpool2d", noParams(nodes.NewAvgPool2D("pool", 2)), []int{3, 6, 6}, 0, false},
		{"avgpool2d_pads_include", noParams(nodes.NewAvgPool2D("pool", 3, nodes.Padding(1), nodes.Stride(2))), []int{2, 7, 8}, 0, false},
		{"avgpool2d_pads_exclude", noParams(nodes.NewAvgPool2D("pool", 3, nodes.Padding(1, 0), nodes.Stride(1, 2), nodes.ExcludePadding())), []int{2, 7, 8}, 0, false},
		{"avgpool1d", noParams(nodes.NewAvgPool1D("pool", 2, nodes.Padding(1), nodes.ExcludePadding())), []int{2, 9}, 0, false},
		{"globalavgpool2d", noParams(nodes.NewGlobalAvgPool2D("gap"), nil), []int{3, 5, 4}, 0, false},
		{"relu", noParams(nodes.ReLU{}, nil), []int{3, 4}, 0, false},
		{"leakyrelu", noParams(nodes.LeakyReLU{Slope: 0.2}, nil), []int{2, 3, 4}, 0, false},
		{"tanh", noParams(nodes.Tanh{}, nil), []int{7}, 0, false},
		{"sigmoid", noParams(nodes.Sigmoid{}, nil), []int{2, 5}, 0, false},
		{"softmax", noParams(nodes.Softmax{}, nil), []int{6}, 0, false},
		{"logsoftmax", noParams(nodes.LogSoftmax{}, nil), []int{2, 6}, 0, false},
		{"flatten", noParams(nodes.Flatten{}, nil), []int{2, 3, 4}, 0, false},
		{"reshape", noParams(nodes.Reshape(-1, 2, 2, 3), nil), []int{12}, 0, false},
		{"batchnorm2d", func(ps *graph.Params) (nodes.Layer, error) { return nodes.NewBatchNorm2D(ps, "bn", 3) }, []int{3, 4, 5}, 0, false},
		{"batchnorm1d", func(ps *graph.Params) (nodes.Layer, error) {
			return nodes.NewBatchNorm1D(ps, "bn", 4, nodes.Epsilon(1e-3))
		}, []int{4}, 0, false},
		{"batchnorm1d_seq", func(ps *graph.Params) (nodes.Layer, error) { return nodes.NewBatchNorm1D(ps, "bn", 2) }, []int{2, 5}, 0, false},
		{"dropout", noParams(nodes.NewDropout("drop", 0.5)), []int{3, 4}, 0, false},
		{"embedding", func(ps *graph.Params) (nodes.Layer, error) { return nodes.NewEmbedding(ps, "embed", 7, 3) }, []int{5}, 7, false},
		{"embedding_float_ids", func(ps *graph.Params) (nodes.Layer, error) { return nodes.NewEmbedding(ps, "embed", 6, 2) }, []int{2, 3}, 6, true},
	}
}

// scrambleParams gives every parameter and buffer random values (variances positive), so that
// BatchNorm's running statistics and scales are not the identity.
func scrambleParams(ps *graph.Params, r *rand.Rand) {
	for _, e := range ps.Entries() {
		v := graph.Float64s(e.Value)
		for i := range v {
			v[i] = 2*r.Float64() - 1
			if !e.Trainable { // running_var must be positive
				v[i] = 0.5 + r.Float64()
			}
		}
		_ = graph.CopyInto(e.Value, graph.NewTensor(e.Value.Dtype(), e.Value.Shape(), v))
	}
}

// TestLayersAgainstONNXRuntime exports each layer alone to one file and compares ONNX
// Runtime's output with unroll's for batch sizes 1 and 3.
func TestLayersAgainstONNXRuntime(t *testing.T) {
	requireRuntime(t)
	for _, c := range layerCases() {
		t.Run(c.name, func(t *testing.T) {
			r := rand.New(rand.NewPCG(3, uint64(len(c.name))))
			ps := graph.NewParams(graph.Seed(5))
			l, err := c.make(ps)
			if err != nil {
				t.Fatal(err)
			}
			scrambleParams(ps, r)
			m := onnx.NewModel(ps, c.name)
			dt := tensor.Float32
			if c.ids > 0 && !c.floatIDs {
				dt = tensor.Int64
			}
			x, err := m.Input("x", dt, append([]int{nodes.ONNXBatch}, c.shape...)...)
			if err != nil {
				t.Fatal(err)
			}
			y, err := m.Layer(l, x)
			if err != nil {
				t.Fatal(err)
			}
			if err := m.Output("y", y); err != nil {
				t.Fatal(err)
			}
			path := save(t, m, c.name)
			compareLayer(t, path, ps, l, c, r)
		})
	}
}

// compareLayer runs the file and unroll's layer on the same inputs, batch sizes 1 and 3.
func compareLayer(t *testing.T, path string, ps *graph.Params, l nodes.Layer, c layerCase, r *rand.Rand) {
	var runs []feeds
	var wants []*tensor.Dense
	for _, batch := range []int{1, 3} {
		shape := append([]int{batch}, c.shape...)
		in, fileIn := randomTensor(r, shape...), (*tensor.Dense)(nil)
		if c.ids > 0 {
			ids := make([]int64, in.Shape().TotalSize())
			v := make([]float64, len(ids))
			for i := range ids {
				ids[i] = int64(r.IntN(c.ids))
				v[i] = float64(ids[i])
			}
			in, fileIn = graph.NewTensor(tensor.Float32, shape, v), tensor.New(tensor.WithShape(shape...), tensor.WithBacking(ids))
			if c.floatIDs {
				fileIn = in
			}
		} else {
			fileIn = in
		}
		out := forward(t, ps, feeds{"x": in}, func(b *graph.Builder, xs map[string]*gorgonia.Node) (map[string]*gorgonia.Node, error) {
			y, err := l.Forward(b, xs["x"])
			return map[string]*gorgonia.Node{"y": y}, err
		})
		runs, wants = append(runs, feeds{"x": fileIn}), append(wants, out["y"])
	}
	got := runORT(t, path, runs)
	for i, batch := range []int{1, 3} {
		assertClose(t, c.name+" batch "+string(rune('0'+batch)), got[i]["y"], wants[i])
	}
}
