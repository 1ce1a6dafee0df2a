package nodes_test

import (
	"math"
	"strings"
	"testing"

	"gorgonia.org/gorgonia"
	"gorgonia.org/tensor"

	"github.com/unroll-ml/unroll/graph"
	"github.com/unroll-ml/unroll/nodes"
)

func TestDropoutErrors(t *testing.T) {
	for _, p := range []float64{-0.1, 1, 1.5, math.NaN()} {
		_, err := nodes.NewDropout("drop1", p)
		wantErr(t, "p", err, "drop1: dropout probability must be in [0, 1), got")
	}
	d, err := nodes.NewDropout("drop1", 0.5)
	if err != nil {
		t.Fatal(err)
	}
	_, err = d.Forward(graph.NewBuilder(graph.NewParams(), graph.Train), nil)
	wantErr(t, "nil", err, "drop1: nil input")
}

// dropoutRuns runs a training graph x ↦ dropout(x) twice on ones and returns both outputs.
func dropoutRuns(t *testing.T, seed uint64, p float64, n int) [2][]float64 {
	t.Helper()
	ps := graph.NewParams(graph.Seed(seed))
	d, err := nodes.NewDropout("drop", p)
	if err != nil {
		t.Fatal(err)
	}
	b := graph.NewBuilder(ps, graph.Train)
	x, _ := b.Input("x", 1, n)
	y, err := d.Forward(b, x)
	if err != nil {
		t.Fatal(err)
	}
	prog, err := graph.Compile(b, map[string]*gorgonia.Node{"y": y})
	if err != nil {
		t.Fatal(err)
	}
	ones := make([]float64, n)
	for i := range ones {
		ones[i] = 1
	}
	var out [2][]float64
	for i := range out {
		o, err := prog.Run(graph.Feeds{"x": graph.NewTensor(tensor.Float32, []int{1, n}, ones)})
		if err != nil {
			t.Fatal(err)
		}
		out[i] = graph.Float64s(o["y"])
	}
	return out
}

func TestDropoutMask(t *testing.T) {
	const p, n = 0.3, 20000
	runs := dropoutRuns(t, 7, p, n)
	for r, vals := range runs {
		var dropped int
		var sum float64
		for _, v := range vals {
			switch {
			case v == 0:
				dropped++
			case math.Abs(v-1/(1-p)) > 1e-6:
				t.Fatalf("run %d: a kept element is %v, want 1/(1-p) = %v", r, v, 1/(1-p))
			}
			sum += v
		}
		// 20,000 draws: the dropped fraction is within 0.02 of p with overwhelming odds, and the
		// mean stays near 1 (inverted dropout keeps the expectation).
		if f := float64(dropped) / n; math.Abs(f-p) > 0.02 {
			t.Errorf("run %d: dropped %.3f of the elements, want about %v", r, f, p)
		}
		if m := sum / n; math.Abs(m-1) > 0.03 {
			t.Errorf("run %d: mean %.3f, want about 1", r, m)
		}
	}
	same := 0
	for i := range runs[0] {
		if runs[0][i] == runs[1][i] {
			same++
		}
	}
	if same == n {
		t.Error("two runs drew the same mask")
	}
	again := dropoutRuns(t, 7, p, n)
	for r := range runs {
		for i := range runs[r] {
			if runs[r][i] != again[r][i] {
				t.Fatalf("the same seed gave a different mask in run %d at %d", r, i)
			}
		}
	}
}

func TestDropoutEvalAndZeroAreIdentity(t *testing.T) {
	d, _ := nodes.NewDropout("drop", 0.5)
	b := graph.NewBuilder(graph.NewParams(), graph.Eval)
	x, _ := b.Input("x", 2, 3)
	if y, err := d.Forward(b, x); err != nil || y != x {
		t.Errorf("eval: got %v, %v; want the input node itself", y, err)
	}
	d0, _ := nodes.NewDropout("drop0", 0)
	bt := graph.NewBuilder(graph.NewParams(), graph.Train)
	xt, _ := bt.Input("x", 2, 3)
	if y, err := d0.Forward(bt, xt); err != nil || y != xt {
		t.Errorf("p = 0: got %v, %v; want the input node itself", y, err)
	}
}

func TestDropoutAppliedTwiceAndGradient(t *testing.T) {
	d, _ := nodes.NewDropout("drop", 0.4)
	ps, x := paramInput(t, graph.Uniform(-1, 1), 3, 4)
	var b1 *graph.Builder
	build := func(b *graph.Builder) (*gorgonia.Node, error) {
		b1 = b
		xn, err := x(b)
		if err != nil {
			return nil, err
		}
		y, err := d.Forward(b, xn)
		if err != nil {
			return nil, err
		}
		y, err = nodes.Tanh{}.Forward(b, y)
		if err != nil {
			return nil, err
		}
		return d.Forward(b, y) // a second mask, drop#2.mask
	}
	checkGrad(t, "dropout", ps, build, nil, graph.MaxPerTensor(0))
	s := b1.String()
	for _, name := range []string{"drop.mask", "drop#2.mask"} {
		if !strings.Contains(s, name) {
			t.Errorf("graph %q has no input %s", s, name)
		}
	}
}
