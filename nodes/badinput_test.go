package nodes_test

import (
	"fmt"
	"math"
	"strings"
	"testing"

	"gorgonia.org/gorgonia"
	"gorgonia.org/tensor"

	"github.com/unroll-ml/unroll/graph"
	"github.com/unroll-ml/unroll/nodes"
)

// noPanic runs f and turns a panic into an error, so that a table test reports the case.
func noPanic(f func() error) (err error) {
	defer func() {
		if r := recover(); r != nil {
			err = fmt.Errorf("panic: %v", r)
		}
	}()
	return f()
}

// TestLayersRefuseBadInput gives every layer's constructor, Forward and Step wrong sizes,
// ranks, channel counts and values: each must return an error naming the layer and the
// numbers, and none may panic.
func TestLayersRefuseBadInput(t *testing.T) {
	// input declares an input of the given shape in a fresh graph over ps.
	input := func(ps *graph.Params, shape ...int) (*graph.Builder, *gorgonia.Node) {
		b := graph.NewBuilder(ps, graph.Train)
		x, err := b.Input("x", shape...)
		if err != nil {
			t.Fatal(err)
		}
		return b, x
	}
	cases := []struct {
		name string
		want string
		f    func(ps *graph.Params) error
	}{
		{"conv2d zero input channels", "conv1: channels must be positive, got in=0 out=8", func(ps *graph.Params) error {
			_, err := nodes.NewConv2D(ps, "conv1", 0, 8, 3)
			return err
		}},
		{"conv2d negative output channels", "conv1: channels must be positive, got in=1 out=-2", func(ps *graph.Params) error {
			_, err := nodes.NewConv2D(ps, "conv1", 1, -2, 3)
			return err
		}},
		{"conv2d zero kernel", "conv1: kernel size must be positive, got 0", func(ps *graph.Params) error {
			_, err := nodes.NewConv2D(ps, "conv1", 1, 8, 0)
			return err
		}},
		{"conv2d zero stride", "conv1: stride must be at least 1, got 0", func(ps *graph.Params) error {
			_, err := nodes.NewConv2D(ps, "conv1", 1, 8, 3, nodes.Stride(0))
			return err
		}},
		{"conv2d negative padding", "conv1: padding must not be negative, got -1", func(ps *graph.Params) error {
			_, err := nodes.NewConv2D(ps, "conv1", 1, 8, 3, nodes.Padding(-1))
			return err
		}},
		{"conv2d channel mismatch", "conv2: kernel expects 32 input channels, input has 16", func(ps *graph.Params) error {
			c, err := nodes.NewConv2D(ps, "conv2", 32, 64, 3)
			if err != nil {
				return err
			}
			b, x := input(ps, 2, 16, 8, 8)
			_, err = c.Forward(b, x)
			return err
		}},
		{"conv2d wrong rank", "conv1: input must be (batch, channels, height, width), has shape (2, 784)", func(ps *graph.Params) error {
			c, err := nodes.NewConv2D(ps, "conv1", 1, 8, 3)
			if err != nil {
				return err
			}
			b, x := input(ps, 2, 784)
			_, err = c.Forward(b, x)
			return err
		}},
		{"conv2d kernel larger than input", "conv1: kernel 5x5 is larger than the padded input 4x4", func(ps *graph.Params) error {
			c, err := nodes.NewConv2D(ps, "conv1", 1, 8, 5)
			if err != nil {
				return err
			}
			b, x := input(ps, 1, 1, 4, 4)
			_, err = c.Forward(b, x)
			return err
		}},
		{"conv1d wrong rank", "conv: input must be (batch, channels, length)", func(ps *graph.Params) error {
			c, err := nodes.NewConv1D(ps, "conv", 1, 1, 3)
			if err != nil {
				return err
			}
			b, x := input(ps, 1, 1, 5, 5)
			_, err = c.Forward(b, x)
			return err
		}},
		{"dense zero outputs", "fc: dense sizes must be positive, got in=10 out=0", func(ps *graph.Params) error {
			_, err := nodes.NewDense(ps, "fc", 10, 0)
			return err
		}},
		{"dense feature mismatch", "fc1: expects 3136 input features, input has 3000", func(ps *graph.Params) error {
			d, err := nodes.NewDense(ps, "fc1", 3136, 128)
			if err != nil {
				return err
			}
			b, x := input(ps, 4, 3000)
			_, err = d.Forward(b, x)
			return err
		}},
		{"dense image input", "fc: input must be (batch, 784), has shape (4, 1, 28, 28)", func(ps *graph.Params) error {
			d, err := nodes.NewDense(ps, "fc", 784, 10)
			if err != nil {
				return err
			}
			b, x := input(ps, 4, 1, 28, 28)
			_, err = d.Forward(b, x)
			return err
		}},
		{"dense nil input", "fc: nil input", func(ps *graph.Params) error {
			d, err := nodes.NewDense(ps, "fc", 3, 2)
			if err != nil {
				return err
			}
			_, err = d.Forward(graph.NewBuilder(ps, graph.Train), nil)
			return err
		}},
		{"duplicate parameter name", `"fc.weight" already exists`, func(ps *graph.Params) error {
			if _, err := nodes.NewDense(ps, "fc", 3, 2); err != nil {
				return err
			}
			_, err := nodes.NewDense(ps, "fc", 3, 2)
			return err
		}},
		{"dropout probability 1", "drop: dropout probability must be in [0, 1), got 1", func(*graph.Params) error {
			_, err := nodes.NewDropout("drop", 1)
			return err
		}},
		{"dropout NaN", "drop: dropout probability must be in [0, 1), got NaN", func(*graph.Params) error {
			_, err := nodes.NewDropout("drop", math.NaN())
			return err
		}},
		{"max pool zero kernel", "pool1: kernel size must be positive, got 0", func(*graph.Params) error {
			_, err := nodes.NewMaxPool2D("pool1", 0)
			return err
		}},
		{"max pool larger than input", "pool1: kernel 4x4 is larger than the padded input 3x3", func(ps *graph.Params) error {
			p, err := nodes.NewMaxPool2D("pool1", 4)
			if err != nil {
				return err
			}
			b, x := input(ps, 1, 2, 3, 3)
			_, err = p.Forward(b, x)
			return err
		}},
		{"avg pool wrong rank", "pool: input must be (batch, channels, height, width), has shape (4, 10)", func(ps *graph.Params) error {
			p, err := nodes.NewAvgPool2D("pool", 2)
			if err != nil {
				return err
			}
			b, x := input(ps, 4, 10)
			_, err = p.Forward(b, x)
			return err
		}},
		{"batch norm channel mismatch", "bn1: expects 32 channels, input has 16", func(ps *graph.Params) error {
			bn, err := nodes.NewBatchNorm2D(ps, "bn1", 32)
			if err != nil {
				return err
			}
			b, x := input(ps, 2, 16, 4, 4)
			_, err = bn.Forward(b, x)
			return err
		}},
		{"batch norm negative momentum", "bn1: momentum must be in [0, 1], got -0.1", func(ps *graph.Params) error {
			_, err := nodes.NewBatchNorm2D(ps, "bn1", 4, nodes.Momentum(-0.1))
			return err
		}},
		{"batch norm zero channels", "bn1: channels must be positive, got 0", func(ps *graph.Params) error {
			_, err := nodes.NewBatchNorm1D(ps, "bn1", 0)
			return err
		}},
		{"embedding zero vocabulary", "embed: embedding sizes must be positive, got vocabulary 0, dimension 8", func(ps *graph.Params) error {
			_, err := nodes.NewEmbedding(ps, "embed", 0, 8)
			return err
		}},
		{"leaky relu infinite slope", "slope must be finite, got +Inf", func(ps *graph.Params) error {
			b, x := input(ps, 2, 3)
			_, err := nodes.LeakyReLU{Slope: math.Inf(1)}.Forward(b, x)
			return err
		}},
		{"softmax cross-entropy label count", "labels must be (4), one class id per example, have shape (3)", func(ps *graph.Params) error {
			b := graph.NewBuilder(ps, graph.Train)
			logits, _ := b.Input("logits", 4, 10)
			y, _ := b.Input("y", 3)
			_, err := nodes.SoftmaxCrossEntropy(b, logits, y)
			return err
		}},
		{"mse shapes", "mse: prediction (4, 1) and target (4, 2) must have the same shape", func(ps *graph.Params) error {
			b := graph.NewBuilder(ps, graph.Train)
			pred, _ := b.Input("pred", 4, 1)
			y, _ := b.Input("y", 4, 2)
			_, err := nodes.MSE(b, pred, y)
			return err
		}},
		{"reshape to a wrong size", "cannot view input (2, 12) (24 values) as (5, -1)", func(ps *graph.Params) error {
			b, x := input(ps, 2, 12)
			_, err := nodes.Reshape(5, -1).Forward(b, x)
			return err
		}},
		{"lstm zero hidden", "lstm: lstm cell sizes must be positive, got input 10, hidden 0", func(ps *graph.Params) error {
			_, err := nodes.NewLSTMCell(ps, "lstm", 10, 0)
			return err
		}},
		{"gru negative input", "gru: gru cell sizes must be positive, got input -1, hidden 8", func(ps *graph.Params) error {
			_, err := nodes.NewGRUCell(ps, "gru", -1, 8)
			return err
		}},
		{"rnn cell input width", "rnn: expects 10 input features, input has 12", func(ps *graph.Params) error {
			c, err := nodes.NewRNNCell(ps, "rnn", 10, 8)
			if err != nil {
				return err
			}
			b, x := input(ps, 4, 12)
			s, err := nodes.ZeroState(b, "rnn", c, 4)
			if err != nil {
				return err
			}
			_, err = c.Step(b, x, s)
			return err
		}},
		{"lstm state without memory cell", "lstm: an LSTM state needs a memory cell C", func(ps *graph.Params) error {
			c, err := nodes.NewLSTMCell(ps, "lstm", 3, 5)
			if err != nil {
				return err
			}
			b, x := input(ps, 2, 3)
			h, _ := b.Input("h", 2, 5)
			_, err = c.Step(b, x, nodes.State{H: h})
			return err
		}},
		{"gru state of another batch", "gru: hidden state must be (2, 5) (batch, hidden), has shape (4, 5)", func(ps *graph.Params) error {
			c, err := nodes.NewGRUCell(ps, "gru", 3, 5)
			if err != nil {
				return err
			}
			b, x := input(ps, 2, 3)
			h, _ := b.Input("h", 4, 5)
			_, err = c.Step(b, x, nodes.State{H: h})
			return err
		}},
		{"zero state batch", "lstm: zero state batch size 0 must be positive", func(ps *graph.Params) error {
			c, err := nodes.NewLSTMCell(ps, "lstm", 3, 5)
			if err != nil {
				return err
			}
			_, err = nodes.ZeroState(graph.NewBuilder(ps, graph.Train), "lstm", c, 0)
			return err
		}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			err := noPanic(func() error { return c.f(graph.NewParams()) })
			if err == nil || !strings.Contains(err.Error(), c.want) || strings.HasPrefix(err.Error(), "panic") {
				t.Errorf("got %v, want an error naming %q", err, c.want)
			}
		})
	}
}

// TestRunRefusesBadValues feeds values no layer can use into compiled graphs: a class label
// outside the classes, a fractional label, an embedding id outside the vocabulary. The run
// must fail naming the example, not compute a wrong number.
func TestRunRefusesBadValues(t *testing.T) {
	ps := graph.NewParams()
	cases := []struct {
		name  string
		want  string
		build func(b *graph.Builder) (*gorgonia.Node, error)
		feeds graph.Feeds
	}{
		{"label outside the classes", "label 10 of example 1 is not a class id in [0, 10)", func(b *graph.Builder) (*gorgonia.Node, error) {
			logits, _ := b.Input("logits", 2, 10)
			y, _ := b.Input("y", 2)
			return nodes.SoftmaxCrossEntropy(b, logits, y)
		}, graph.Feeds{"logits": graph.NewTensor(tensor.Float32, []int{2, 10}, nil), "y": graph.NewTensor(tensor.Float32, []int{2}, []float64{3, 10})}},
		{"fractional label", "label 2.5 of example 0 is not a class id in [0, 4)", func(b *graph.Builder) (*gorgonia.Node, error) {
			logits, _ := b.Input("logits", 2, 4)
			y, _ := b.Input("y", 2)
			return nodes.SoftmaxCrossEntropy(b, logits, y)
		}, graph.Feeds{"logits": graph.NewTensor(tensor.Float32, []int{2, 4}, nil), "y": graph.NewTensor(tensor.Float32, []int{2}, []float64{2.5, 1})}},
		{"negative label", "label -1 of example 1 is not a class id in [0, 4)", func(b *graph.Builder) (*gorgonia.Node, error) {
			logits, _ := b.Input("logits", 2, 4)
			y, _ := b.Input("y", 2)
			return nodes.SoftmaxCrossEntropy(b, logits, y)
		}, graph.Feeds{"logits": graph.NewTensor(tensor.Float32, []int{2, 4}, nil), "y": graph.NewTensor(tensor.Float32, []int{2}, []float64{0, -1})}},
		{"embedding id outside the vocabulary", "embed: id 7 at position 1 is not a whole number in [0, 5)", func(b *graph.Builder) (*gorgonia.Node, error) {
			e, err := nodes.NewEmbedding(ps, "embed", 5, 3)
			if err != nil {
				return nil, err
			}
			ids, _ := b.Input("ids", 2)
			return e.Forward(b, ids)
		}, graph.Feeds{"ids": graph.NewTensor(tensor.Float32, []int{2}, []float64{1, 7})}},
		{"NaN input", `input "x" holds NaN at element 3`, func(b *graph.Builder) (*gorgonia.Node, error) {
			x, _ := b.Input("x", 2, 2)
			return nodes.ReLU{}.Forward(b, x)
		}, graph.Feeds{"x": graph.NewTensor(tensor.Float32, []int{2, 2}, []float64{0, 1, 2, math.NaN()})}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			err := noPanic(func() error {
				b := graph.NewBuilder(ps, graph.Eval)
				out, err := c.build(b)
				if err != nil {
					return fmt.Errorf("build: %w", err)
				}
				prog, err := graph.Compile(b, map[string]*gorgonia.Node{"out": out})
				if err != nil {
					return fmt.Errorf("compile: %w", err)
				}
				defer prog.Close()
				_, err = prog.Run(c.feeds)
				return err
			})
			if err == nil || !strings.Contains(err.Error(), c.want) || strings.HasPrefix(err.Error(), "panic") || strings.HasPrefix(err.Error(), "build") {
				t.Errorf("got %v, want a run error naming %q", err, c.want)
			}
		})
	}
}
