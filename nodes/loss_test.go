package nodes_test

import (
	"math"
	"math/rand/v2"
	"testing"

	"gorgonia.org/gorgonia"
	"gorgonia.org/tensor"

	"github.com/unroll-ml/unroll/graph"
	"github.com/unroll-ml/unroll/nodes"
	"github.com/unroll-ml/unroll/solvers"
)

func TestCrossEntropyAgainstPyTorch(t *testing.T) {
	for _, c := range loadReferences(t, "cross_entropy") {
		for _, dt := range []tensor.Dtype{tensor.Float64, tensor.Float32} {
			tol := 1e-12
			if dt == tensor.Float32 {
				tol = 2e-5
			}
			logits := c.Inputs["logits"]
			// The logits are a parameter, so that the trainer reports their gradient.
			ps := graph.NewParams(graph.Dtype(dt))
			if _, err := ps.Add("logits", logits.Shape, nil); err != nil {
				t.Fatal(err)
			}
			_ = graph.CopyInto(ps.Value("logits"), logits.dense(tensor.Float64))
			b := graph.NewBuilder(ps, graph.Train)
			z, _ := b.Param("logits")
			y, _ := b.Input("y", logits.Shape[0])
			feeds := graph.Feeds{"y": c.Inputs["labels"].dense(dt)}
			var loss *gorgonia.Node
			var err error
			if w, ok := c.Inputs["weights"]; ok {
				wn, _ := b.Input("w", logits.Shape[0])
				feeds["w"] = w.dense(dt)
				loss, err = nodes.WeightedSoftmaxCrossEntropy(b, z, y, wn)
			} else {
				loss, err = nodes.SoftmaxCrossEntropy(b, z, y)
			}
			if err != nil {
				t.Fatal(err)
			}
			tr, err := graph.NewTrainer(b, loss, solvers.NewSGD(0.1))
			if err != nil {
				t.Fatal(err)
			}
			got, grads, err := tr.Gradients(feeds)
			if err != nil {
				t.Fatal(err)
			}
			if want := c.Output.Values[0]; math.Abs(got-want) > tol*math.Max(1, math.Abs(want)) {
				t.Errorf("%v %s: loss %v, PyTorch %v", dt, c.Name, got, want)
			}
			g := graph.Float64s(grads["logits"])
			if i := closeTo(g, c.Extra["grad_logits"].Values, tol); i >= 0 {
				t.Errorf("%v %s: dlogits[%d] = %v, PyTorch %v", dt, c.Name, i, g[i], c.Extra["grad_logits"].Values[i])
			}
		}
	}
}

func TestMSEAgainstPyTorch(t *testing.T) {
	for _, c := range loadReferences(t, "mse") {
		p, q := c.Inputs["pred"], c.Inputs["target"]
		b := graph.NewBuilder(graph.NewParams(graph.Dtype(tensor.Float64)), graph.Eval)
		pn, _ := b.Input("p", p.Shape...)
		qn, _ := b.Input("q", q.Shape...)
		loss, err := nodes.MSE(b, pn, qn)
		if err != nil {
			t.Fatal(err)
		}
		got := run(t, b, map[string]*gorgonia.Node{"loss": loss}, graph.Feeds{"p": p.dense(tensor.Float64), "q": q.dense(tensor.Float64)})
		if v := graph.Float64s(got["loss"])[0]; math.Abs(v-c.Output.Values[0]) > 1e-12 {
			t.Errorf("%s: %v, PyTorch %v", c.Name, v, c.Output.Values[0])
		}
	}
}

func TestLossGradients(t *testing.T) {
	r := rand.New(rand.NewPCG(5, 5))
	labels := graph.NewTensor(tensor.Float64, []int{4}, []float64{2, 0, 2, 1})
	weights := graph.NewTensor(tensor.Float64, []int{4}, []float64{1, 0, 0.5, 2})
	for _, weighted := range []bool{false, true} {
		ps, z := paramInput(t, graph.Uniform(-3, 3), 4, 3)
		build := func(b *graph.Builder) (*gorgonia.Node, error) {
			zn, err := z(b)
			if err != nil {
				return nil, err
			}
			y, err := b.Input("y", 4)
			if err != nil {
				return nil, err
			}
			if !weighted {
				return nodes.SoftmaxCrossEntropy(b, zn, y)
			}
			w, err := b.Input("w", 4)
			if err != nil {
				return nil, err
			}
			return nodes.WeightedSoftmaxCrossEntropy(b, zn, y, w)
		}
		feeds := graph.Feeds{"y": labels}
		if weighted {
			feeds["w"] = weights
		}
		checkGrad(t, "cross-entropy", ps, build, feeds, graph.MaxPerTensor(0))
	}
	ps, p := paramInput(t, graph.Uniform(-1, 1), 3, 2, 2)
	build := func(b *graph.Builder) (*gorgonia.Node, error) {
		pn, err := p(b)
		if err != nil {
			return nil, err
		}
		q, err := b.Input("q", 3, 2, 2)
		if err != nil {
			return nil, err
		}
		// Tanh on the target side gives the target a gradient path too.
		qt, err := nodes.Tanh{}.Forward(b, q)
		if err != nil {
			return nil, err
		}
		return nodes.MSE(b, pn, qt)
	}
	checkGrad(t, "mse", ps, build, graph.Feeds{"q": randTensor(r, tensor.Float64, 3, 2, 2)}, graph.WithRespectTo("q"), graph.MaxPerTensor(0))
}

func TestCrossEntropyErrors(t *testing.T) {
	b := graph.NewBuilder(graph.NewParams(), graph.Eval)
	z := mustInput(t, b, "z", 4, 3)
	_, err := nodes.SoftmaxCrossEntropy(b, mustInput(t, b, "z3", 4, 3, 1), mustInput(t, b, "y0", 4))
	wantErr(t, "logits rank", err, "softmax cross-entropy: logits must be (batch, classes), have shape (4, 3, 1)")
	_, err = nodes.SoftmaxCrossEntropy(b, z, mustInput(t, b, "y5", 5))
	wantErr(t, "labels shape", err, "softmax cross-entropy: labels must be (4), one class id per example, have shape (5)")
	_, err = nodes.WeightedSoftmaxCrossEntropy(b, z, mustInput(t, b, "y4", 4), mustInput(t, b, "w", 4, 1))
	wantErr(t, "weights shape", err, "softmax cross-entropy: weights must be (4), one per example, have shape (4, 1)")
	_, err = nodes.MSE(b, z, mustInput(t, b, "q", 3, 4))
	wantErr(t, "mse shapes", err, "mse: prediction (4, 3) and target (3, 4) must have the same shape")

	// Bad labels and weights are only known when the graph runs.
	for _, c := range []struct {
		labels, weights []float64
		want            string
	}{
		{[]float64{0, 3, 1, 2}, []float64{1, 1, 1, 1}, "label 3 of example 1 is not a class id in [0, 3)"},
		{[]float64{0, 1.5, 1, 2}, []float64{1, 1, 1, 1}, "label 1.5 of example 1 is not a class id in [0, 3)"},
		{[]float64{0, 1, -1, 2}, []float64{1, 1, 1, 1}, "label -1 of example 2 is not a class id in [0, 3)"},
		{[]float64{0, 1, 1, 2}, []float64{1, -1, 1, 1}, "weight -1 of example 1 is not a finite number ≥ 0"},
	} {
		b := graph.NewBuilder(graph.NewParams(), graph.Eval)
		z, _ := b.Input("z", 4, 3)
		y, _ := b.Input("y", 4)
		w, _ := b.Input("w", 4)
		loss, err := nodes.WeightedSoftmaxCrossEntropy(b, z, y, w)
		if err != nil {
			t.Fatal(err)
		}
		prog, err := graph.Compile(b, map[string]*gorgonia.Node{"loss": loss})
		if err != nil {
			t.Fatal(err)
		}
		_, err = prog.Run(graph.Feeds{"z": graph.NewTensor(tensor.Float32, []int{4, 3}, nil),
			"y": graph.NewTensor(tensor.Float32, []int{4}, c.labels), "w": graph.NewTensor(tensor.Float32, []int{4}, c.weights)})
		wantErr(t, c.want, err, c.want)
	}
}

// Every example masked out: the loss and its gradient are 0, not NaN.
func TestCrossEntropyAllMasked(t *testing.T) {
	ps := graph.NewParams()
	if _, err := ps.Add("z", []int{2, 3}, graph.Uniform(-1, 1)); err != nil {
		t.Fatal(err)
	}
	b := graph.NewBuilder(ps, graph.Train)
	z, _ := b.Param("z")
	y, _ := b.Input("y", 2)
	w, _ := b.Input("w", 2)
	loss, err := nodes.WeightedSoftmaxCrossEntropy(b, z, y, w)
	if err != nil {
		t.Fatal(err)
	}
	tr, err := graph.NewTrainer(b, loss, solvers.NewSGD(0.1))
	if err != nil {
		t.Fatal(err)
	}
	l, grads, err := tr.Gradients(graph.Feeds{"y": graph.NewTensor(tensor.Float32, []int{2}, []float64{1, 2}), "w": graph.NewTensor(tensor.Float32, []int{2}, nil)})
	if err != nil {
		t.Fatal(err)
	}
	if l != 0 {
		t.Errorf("loss %v, want 0", l)
	}
	for i, g := range graph.Float64s(grads["z"]) {
		if g != 0 {
			t.Errorf("dz[%d] = %v, want 0", i, g)
		}
	}
}
