package nodes_test

import (
	"errors"
	"slices"
	"strings"
	"testing"

	"github.com/unroll-ml/unroll/graph"
	"github.com/unroll-ml/unroll/nodes"
)

func TestSequential(t *testing.T) {
	ps := graph.NewParams(graph.Seed(1))
	net := nodes.NewSequential(ps, "digits", 1, 8, 8).
		Add(nodes.NewConv2D(ps, "conv1", 1, 4, 3, nodes.Padding(1))).
		Add(nodes.ReLU{}).
		Add(nodes.NewMaxPool2D("pool1", 2)).
		Add(nodes.Flatten{}).
		Add(nodes.NewDense(ps, "fc", 4*4*4, 10))
	if err := net.Err(); err != nil {
		t.Fatal(err)
	}
	out, err := net.OutputShape()
	if err != nil || !slices.Equal(out, []int{10}) {
		t.Fatalf("output shape %v, %v; want (10)", out, err)
	}
	if len(net.Layers()) != 5 || net.Name() != "digits" || !slices.Equal(net.InputShape(), []int{1, 8, 8}) {
		t.Fatalf("layers %d, name %q, input %v", len(net.Layers()), net.Name(), net.InputShape())
	}
	b := graph.NewBuilder(ps, graph.Eval)
	x, _ := b.Input("x", 3, 1, 8, 8)
	outs, err := net.Outputs(b, x)
	if err != nil || len(outs) != 5 || !outs[4].Shape().Eq([]int{3, 10}) {
		t.Fatalf("outputs %v, %v", outs, err)
	}
	bad, _ := b.Input("bad", 3, 2, 8, 8)
	if _, err := net.Forward(b, bad); err == nil || !strings.Contains(err.Error(), "digits: input must be (batch, 1, 8, 8), has shape (3, 2, 8, 8)") {
		t.Fatalf("wrong input: %v", err)
	}
}

// The first error of a chain of Add is kept and reported, naming the layer's place.
func TestSequentialKeepsTheFirstError(t *testing.T) {
	ps := graph.NewParams()
	net := nodes.NewSequential(ps, "mlp", 4).
		Add(nodes.NewDense(ps, "fc1", 4, 8)).
		Add(nodes.NewDense(ps, "fc2", 0, 8)).
		Add(nil, errors.New("never seen"))
	if err := net.Err(); err == nil || !strings.Contains(err.Error(), "mlp: layer 1: fc2: dense sizes must be positive") {
		t.Fatalf("got %v", err)
	}
	b := graph.NewBuilder(ps, graph.Eval)
	x, _ := b.Input("x", 2, 4)
	if _, err := net.Forward(b, x); err == nil || !strings.Contains(err.Error(), "layer 1") {
		t.Fatalf("forward of a broken model: %v", err)
	}
	if err := nodes.NewSequential(ps, "empty", 4).Add(nil).Err(); err == nil || !strings.Contains(err.Error(), "layer 0 is nil") {
		t.Fatalf("nil layer: %v", err)
	}
	if err := nodes.NewSequential(ps, "shape").Err(); err == nil || !strings.Contains(err.Error(), "no input shape") {
		t.Fatalf("no input shape: %v", err)
	}
}
