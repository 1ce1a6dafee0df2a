package graph_test

import (
	"bytes"
	"fmt"
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"gorgonia.org/gorgonia"
	"gorgonia.org/tensor"

	"github.com/unroll-ml/unroll/graph"
	"github.com/unroll-ml/unroll/nodes"
	"github.com/unroll-ml/unroll/solvers"
)

// mlp is a two-layer perceptron used across the tests: Dense(4->8), tanh, Dense(8->3).
type mlp struct{ fc1, fc2 *nodes.Dense }

func newMLP(t testing.TB, ps *graph.Params) *mlp {
	t.Helper()
	fc1, err := nodes.NewDense(ps, "fc1", 4, 8)
	if err != nil {
		t.Fatal(err)
	}
	fc2, err := nodes.NewDense(ps, "fc2", 8, 3)
	if err != nil {
		t.Fatal(err)
	}
	return &mlp{fc1, fc2}
}

func (m *mlp) Forward(b *graph.Builder, x *gorgonia.Node) (*gorgonia.Node, error) {
	h, err := m.fc1.Forward(b, x)
	if err != nil {
		return nil, err
	}
	if h, err = gorgonia.Tanh(h); err != nil {
		return nil, err
	}
	return m.fc2.Forward(b, h)
}

// mseGraph builds the model with inputs x (B,4) and y (B,3) and a mean squared error.
func mseGraph(t testing.TB, b *graph.Builder, m *mlp, batch int) (loss, out *gorgonia.Node) {
	t.Helper()
	x, err := b.Input("x", batch, 4)
	if err != nil {
		t.Fatal(err)
	}
	y, err := b.Input("y", batch, 3)
	if err != nil {
		t.Fatal(err)
	}
	out, err = m.Forward(b, x)
	if err != nil {
		t.Fatal(err)
	}
	diff := gorgonia.Must(gorgonia.Sub(out, y))
	loss = gorgonia.Must(gorgonia.Mean(gorgonia.Must(gorgonia.Square(diff))))
	return loss, out
}

func randTensor(r *rand.Rand, dt tensor.Dtype, shape ...int) *tensor.Dense {
	n := 1
	for _, d := range shape {
		n *= d
	}
	v := make([]float64, n)
	for i := range v {
		v[i] = r.NormFloat64()
	}
	return graph.NewTensor(dt, shape, v)
}

func batchFeeds(r *rand.Rand, dt tensor.Dtype, batch int) graph.Feeds {
	return graph.Feeds{"x": randTensor(r, dt, batch, 4), "y": randTensor(r, dt, batch, 3)}
}

func TestFeedErrorsNameTheInput(t *testing.T) {
	ps := graph.NewParams(graph.Seed(1))
	m := newMLP(t, ps)
	b := graph.NewBuilder(ps, graph.Eval)
	_, out := mseGraph(t, b, m, 5)
	prog, err := graph.Compile(b, map[string]*gorgonia.Node{"out": out})
	if err != nil {
		t.Fatal(err)
	}
	r := rand.New(rand.NewPCG(1, 2))
	good := batchFeeds(r, tensor.Float32, 5)
	cases := []struct {
		name  string
		feeds graph.Feeds
		want  []string
	}{
		{"wrong shape", graph.Feeds{"x": randTensor(r, tensor.Float32, 4, 4), "y": good["y"]}, []string{`"x"`, "(4, 4)", "(5, 4)"}},
		{"wrong dtype", graph.Feeds{"x": randTensor(r, tensor.Float64, 5, 4), "y": good["y"]}, []string{`"x"`, "float64", "float32"}},
		{"missing", graph.Feeds{"x": good["x"]}, []string{`"y"`, "not fed"}},
		{"unknown", graph.Feeds{"x": good["x"], "y": good["y"], "z": good["y"]}, []string{`"z"`, "x, y"}},
		{"nil", graph.Feeds{"x": nil, "y": good["y"]}, []string{`"x"`, "nil"}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			_, err := prog.Run(c.feeds)
			if err == nil {
				t.Fatal("no error")
			}
			for _, w := range c.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q does not mention %s", err, w)
				}
			}
		})
	}
	if _, err := prog.Run(good); err != nil {
		t.Fatalf("good feeds after bad ones: %v", err)
	}
}

func TestTwoGraphsOfDifferentBatchSizesAgree(t *testing.T) {
	ps := graph.NewParams(graph.Seed(7))
	m := newMLP(t, ps)
	build := func(batch int) *graph.Program {
		b := graph.NewBuilder(ps, graph.Eval)
		_, out := mseGraph(t, b, m, batch)
		p, err := graph.Compile(b, map[string]*gorgonia.Node{"out": out})
		if err != nil {
			t.Fatal(err)
		}
		return p
	}
	big, small := build(6), build(2)
	r := rand.New(rand.NewPCG(3, 4))
	feeds := batchFeeds(r, tensor.Float32, 6)
	outBig, err := big.Run(feeds)
	if err != nil {
		t.Fatal(err)
	}
	xs := feeds["x"].Data().([]float32)
	ys := feeds["y"].Data().([]float32)
	for start := 0; start < 6; start += 2 {
		f := graph.Feeds{
			"x": graph.NewTensor(tensor.Float32, []int{2, 4}, graph.Float64s(tensor.New(tensor.WithShape(8), tensor.WithBacking(xs[start*4:start*4+8])))),
			"y": graph.NewTensor(tensor.Float32, []int{2, 3}, graph.Float64s(tensor.New(tensor.WithShape(6), tensor.WithBacking(ys[start*3:start*3+6])))),
		}
		outSmall, err := small.Run(f)
		if err != nil {
			t.Fatal(err)
		}
		got := outSmall["out"].Data().([]float32)
		want := outBig["out"].Data().([]float32)[start*3 : start*3+6]
		for i := range got {
			if math.Abs(float64(got[i]-want[i])) > 1e-6 {
				t.Fatalf("rows %d-%d: batch-2 graph gives %v, batch-6 graph %v", start, start+1, got, want)
			}
		}
	}
}

func TestTrainingReducesLossAndSharesParams(t *testing.T) {
	ps := graph.NewParams(graph.Seed(2))
	m := newMLP(t, ps)
	b := graph.NewBuilder(ps, graph.Train)
	loss, _ := mseGraph(t, b, m, 8)
	tr, err := graph.NewTrainer(b, loss, solvers.NewAdam(0.05))
	if err != nil {
		t.Fatal(err)
	}
	r := rand.New(rand.NewPCG(5, 6))
	feeds := batchFeeds(r, tensor.Float32, 8)
	first, err := tr.Step(feeds)
	if err != nil {
		t.Fatal(err)
	}
	var last *graph.StepResult
	for i := 0; i < 100; i++ {
		if last, err = tr.Step(feeds); err != nil {
			t.Fatal(err)
		}
	}
	if !(last.Loss < first.Loss/4) {
		t.Fatalf("loss went from %g to %g in 100 steps", first.Loss, last.Loss)
	}
	if last.Step != 101 {
		t.Fatalf("step count %d, want 101", last.Step)
	}
	// An evaluation graph built afterwards sees the trained parameters.
	be := graph.NewBuilder(ps, graph.Eval)
	lossE, _ := mseGraph(t, be, m, 8)
	prog, err := graph.Compile(be, map[string]*gorgonia.Node{"loss": lossE})
	if err != nil {
		t.Fatal(err)
	}
	out, err := prog.Run(feeds)
	if err != nil {
		t.Fatal(err)
	}
	if got, _ := graph.Scalar(out["loss"]); math.Abs(got-last.Loss) > last.Loss*0.5 {
		t.Fatalf("eval loss %g far from last training loss %g", got, last.Loss)
	}
}

func TestNaNStepLeavesEverythingUnchanged(t *testing.T) {
	ps := graph.NewParams(graph.Seed(3))
	m := newMLP(t, ps)
	b := graph.NewBuilder(ps, graph.Train)
	loss, _ := mseGraph(t, b, m, 4)
	adam := solvers.NewAdam(0.01)
	tr, err := graph.NewTrainer(b, loss, adam)
	if err != nil {
		t.Fatal(err)
	}
	if err := tr.SetClip(1); err != nil {
		t.Fatal(err)
	}
	r := rand.New(rand.NewPCG(7, 8))
	if _, err := tr.Step(batchFeeds(r, tensor.Float32, 4)); err != nil {
		t.Fatal(err)
	}
	before := ps.Clone(tensor.Float32)
	solverBefore := adam.State()
	bad := batchFeeds(r, tensor.Float32, 4)
	bad["x"].Data().([]float32)[5] = float32(math.NaN())
	_, err = tr.Step(bad)
	if err == nil || !strings.Contains(err.Error(), "step 2") || !strings.Contains(err.Error(), "NaN") {
		t.Fatalf("want an error naming step 2 and NaN, got %v", err)
	}
	for _, e := range ps.Entries() {
		if !bytes.Equal(bits(e.Value), bits(before.Value(e.Name))) {
			t.Errorf("%s changed by a refused step", e.Name)
		}
	}
	if adam.Steps() != 1 {
		t.Errorf("solver step count %d after a refused step, want 1", adam.Steps())
	}
	for k, v := range adam.State() {
		if !bytes.Equal(bits(v), bits(solverBefore[k])) {
			t.Errorf("solver state %s changed by a refused step", k)
		}
	}
	inf := batchFeeds(r, tensor.Float32, 4)
	inf["y"].Data().([]float32)[0] = float32(math.Inf(1))
	if _, err := tr.Step(inf); err == nil || !strings.Contains(err.Error(), "step 2") {
		t.Fatalf("want an error naming step 2 for an infinite loss, got %v", err)
	}
	if _, err := tr.Step(batchFeeds(r, tensor.Float32, 4)); err != nil {
		t.Fatalf("a good step after refused ones: %v", err)
	}
}

func bits(t *tensor.Dense) []byte {
	var buf bytes.Buffer
	for _, v := range graph.Float64s(t) {
		fmt.Fprintf(&buf, "%x,", math.Float64bits(v))
	}
	return buf.Bytes()
}

// TestResumeIsBitIdentical trains 10 steps straight, and 5 steps, a checkpoint, a fresh model
// loaded from it and 5 more steps: parameters, solver state and random source must agree bit
// for bit. Dropout-like noise drawn from the model's random source makes the RNG state matter.
func TestResumeIsBitIdentical(t *testing.T) {
	type run struct {
		ps *graph.Params
		tr *graph.Trainer
		s  solvers.Solver
	}
	newRun := func() run {
		ps := graph.NewParams(graph.Seed(11))
		m := newMLP(t, ps)
		b := graph.NewBuilder(ps, graph.Train)
		x, _ := b.Input("x", 4, 4)
		y, _ := b.Input("y", 4, 3)
		mask, err := b.Noise("mask", []int{4, 4}, func(r *rand.Rand, dst []float64) {
			for i := range dst {
				if r.Float64() < 0.8 {
					dst[i] = 1 / 0.8
				}
			}
		})
		if err != nil {
			t.Fatal(err)
		}
		out, err := m.Forward(b, gorgonia.Must(gorgonia.HadamardProd(x, mask)))
		if err != nil {
			t.Fatal(err)
		}
		loss := gorgonia.Must(gorgonia.Mean(gorgonia.Must(gorgonia.Square(gorgonia.Must(gorgonia.Sub(out, y))))))
		s := solvers.NewAdam(0.01, solvers.WithSchedule(solvers.Cosine(10, 0)))
		tr, err := graph.NewTrainer(b, loss, s)
		if err != nil {
			t.Fatal(err)
		}
		if err := tr.SetClip(0.5); err != nil {
			t.Fatal(err)
		}
		return run{ps, tr, s}
	}
	data := make([]graph.Feeds, 10)
	r := rand.New(rand.NewPCG(9, 9))
	for i := range data {
		data[i] = batchFeeds(r, tensor.Float32, 4)
	}
	straight := newRun()
	for i := 0; i < 10; i++ {
		if _, err := straight.tr.Step(data[i]); err != nil {
			t.Fatal(err)
		}
	}
	first := newRun()
	for i := 0; i < 5; i++ {
		if _, err := first.tr.Step(data[i]); err != nil {
			t.Fatal(err)
		}
	}
	path := filepath.Join(t.TempDir(), "ck.safetensors")
	if err := graph.SaveCheckpoint(path, first.ps, runOf(t, first.s), &graph.Extra{Meta: map[string]string{"epoch": "0"}}); err != nil {
		t.Fatal(err)
	}
	second := newRun()
	extra, err := loadInto(path, second.ps, second.s)
	if err != nil {
		t.Fatal(err)
	}
	if extra.Meta["epoch"] != "0" {
		t.Fatalf("extra meta %v", extra.Meta)
	}
	for i := 5; i < 10; i++ {
		if _, err := second.tr.Step(data[i]); err != nil {
			t.Fatal(err)
		}
	}
	for _, e := range straight.ps.Entries() {
		if !bytes.Equal(bits(e.Value), bits(second.ps.Value(e.Name))) {
			t.Errorf("%s differs after resume", e.Name)
		}
	}
	a, _ := straight.ps.RandState()
	b, _ := second.ps.RandState()
	if !bytes.Equal(a, b) {
		t.Error("random source state differs after resume")
	}
	if straight.s.Steps() != second.s.Steps() || straight.s.LR() != second.s.LR() {
		t.Errorf("solver at step %d lr %g, resumed at step %d lr %g", straight.s.Steps(), straight.s.LR(), second.s.Steps(), second.s.LR())
	}
}

func TestCheckpointErrors(t *testing.T) {
	dir := t.TempDir()
	ps := graph.NewParams(graph.Seed(1))
	newMLP(t, ps)
	path := filepath.Join(dir, "ok.safetensors")
	if err := graph.SaveCheckpoint(path, ps, runOf(t, solvers.NewSGD(0.1)), nil); err != nil {
		t.Fatal(err)
	}
	good, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	write := func(name string, b []byte) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, b, 0o644); err != nil {
			t.Fatal(err)
		}
		return p
	}
	corrupt := append([]byte(nil), good...)
	copy(corrupt[8:], "{{{{")
	other := graph.NewParams(graph.Seed(1))
	if _, err := nodes.NewDense(other, "fc1", 4, 16); err != nil {
		t.Fatal(err)
	}
	if _, err := nodes.NewDense(other, "fc3", 16, 3); err != nil {
		t.Fatal(err)
	}
	cases := []struct {
		name string
		path string
		ps   *graph.Params
		s    solvers.Solver
		want []string
	}{
		{"missing file", filepath.Join(dir, "nope"), ps, nil, []string{"nope"}},
		{"empty file", write("empty", nil), ps, nil, []string{"too short"}},
		{"truncated", write("trunc", good[:len(good)-7]), ps, nil, []string{"trunc", "truncated"}},
		{"truncated header", write("trunc2", good[:20]), ps, nil, []string{"header"}},
		{"corrupt header", write("corrupt", corrupt), ps, nil, []string{"JSON"}},
		{"trailing garbage", write("long", append(append([]byte(nil), good...), 1, 2, 3)), ps, nil, []string{"trailing"}},
		{"other model", path, other, nil, []string{"fc1.weight has shape (8, 4) in the file, (16, 4) in the model", "missing fc3.weight", "unexpected fc2.weight"}},
		{"other dtype", path, graph.NewParams(graph.Dtype(tensor.Float64)), nil, []string{"unexpected fc1.weight"}},
		{"other solver", path, ps, solvers.NewAdam(0.1), []string{"solver"}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			_, err := loadInto(c.path, c.ps, c.s)
			if err == nil {
				t.Fatal("no error")
			}
			for _, w := range c.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q does not mention %q", err, w)
				}
			}
		})
	}
	// A dtype mismatch is named.
	ps64 := graph.NewParams(graph.Dtype(tensor.Float64))
	newMLP(t, ps64)
	if _, err := loadInto(path, ps64, nil); err == nil || !strings.Contains(err.Error(), "float32 in the file, float64 in the model") {
		t.Errorf("dtype mismatch: %v", err)
	}
}

func TestCarriedStateAndBuffers(t *testing.T) {
	ps := graph.NewParams()
	if _, err := ps.AddBuffer("count", []int{1}, graph.Zeros()); err != nil {
		t.Fatal(err)
	}
	for _, mode := range []graph.Mode{graph.Train, graph.Eval} {
		b := graph.NewBuilder(ps, mode)
		x, _ := b.Input("x", 1, 2)
		h, err := b.State("h", 1, 2)
		if err != nil {
			t.Fatal(err)
		}
		next := gorgonia.Must(gorgonia.Add(h, x)) // a running sum of the inputs
		if err := b.Carry("h", next); err != nil {
			t.Fatal(err)
		}
		c, _ := b.Buffer("count")
		one := b.Graph().Constant(tensor.New(tensor.WithShape(1), tensor.WithBacking([]float32{1})))
		if err := b.UpdateBuffer("count", gorgonia.Must(gorgonia.Add(c, one))); err != nil {
			t.Fatal(err)
		}
		prog, err := graph.Compile(b, map[string]*gorgonia.Node{"sum": next})
		if err != nil {
			t.Fatal(err)
		}
		feed := graph.Feeds{"x": graph.NewTensor(tensor.Float32, []int{1, 2}, []float64{1, 2})}
		var out graph.Outputs
		for i := 0; i < 3; i++ {
			if out, err = prog.Run(feed); err != nil {
				t.Fatal(err)
			}
		}
		if got := graph.Float64s(out["sum"]); got[0] != 3 || got[1] != 6 {
			t.Errorf("%v: carried sum after 3 runs %v, want [3 6]", mode, got)
		}
		prog.ResetState()
		if out, _ = prog.Run(feed); graph.Float64s(out["sum"])[0] != 1 {
			t.Errorf("%v: after ResetState sum %v, want [1 2]", mode, graph.Float64s(out["sum"]))
		}
	}
	if got := graph.Float64s(ps.Value("count"))[0]; got != 4 {
		t.Errorf("buffer updated %v times, want 4 (training runs only)", got)
	}
}

func TestBuilderErrors(t *testing.T) {
	ps := graph.NewParams()
	newMLP(t, ps)
	b := graph.NewBuilder(ps, graph.Train)
	if _, err := b.Input("x", 2, 0); err == nil {
		t.Error("zero size accepted")
	}
	if _, err := b.Input("fc1.weight", 2); err == nil {
		t.Error("input named like a parameter accepted")
	}
	if _, err := b.Input("x", 2); err != nil {
		t.Fatal(err)
	}
	if _, err := b.Input("x", 2); err == nil {
		t.Error("duplicate input accepted")
	}
	if _, err := b.Param("nope"); err == nil || !strings.Contains(err.Error(), `"nope"`) {
		t.Errorf("unknown parameter: %v", err)
	}
	if _, err := b.State("h", 2); err != nil {
		t.Fatal(err)
	}
	if _, err := graph.Compile(b, nil); err == nil || !strings.Contains(err.Error(), "Carry") {
		t.Errorf("state without carry: %v", err)
	}
	if _, err := ps.Add("fc1.weight", []int{1}, nil); err == nil {
		t.Error("duplicate parameter accepted")
	}
	if _, err := ps.Add("w", []int{2, -1}, nil); err == nil {
		t.Error("negative size accepted")
	}
	if b.Name("conv") != "conv" || b.Name("conv") != "conv#2" {
		t.Error("Name does not make names unique")
	}
}

func TestSummaryAndDot(t *testing.T) {
	ps := graph.NewParams()
	m := newMLP(t, ps)
	if _, err := ps.AddBuffer("bn.running_mean", []int{8}, nil); err != nil {
		t.Fatal(err)
	}
	s := ps.Summary()
	for _, w := range []string{"fc1.weight", "(8, 4)", "buffer", "total: 4 parameters (67 values), 1 buffers (8 values)"} {
		if !strings.Contains(s, w) {
			t.Errorf("summary lacks %q:\n%s", w, s)
		}
	}
	b := graph.NewBuilder(ps, graph.Eval)
	mseGraph(t, b, m, 2)
	d := b.Dot()
	for _, w := range []string{"digraph", "fc2.bias", "->"} {
		if !strings.Contains(d, w) {
			t.Errorf("dot lacks %q", w)
		}
	}
}

func TestInitialisers(t *testing.T) {
	in, out := graph.Fans([]int{32, 16, 3, 3})
	if in != 144 || out != 288 {
		t.Fatalf("fans %d %d", in, out)
	}
	ps := graph.NewParams(graph.Seed(4), graph.Dtype(tensor.Float64))
	w, _ := ps.Add("w", []int{64, 144}, graph.TorchWeight())
	bound := 1 / math.Sqrt(144)
	var mean float64
	for _, v := range graph.Float64s(w) {
		if math.Abs(v) > bound {
			t.Fatalf("value %g outside ±%g", v, bound)
		}
		mean += v
	}
	if mean /= float64(64 * 144); math.Abs(mean) > 0.01 {
		t.Errorf("mean %g", mean)
	}
	// Same seed, same numbers, in either dtype.
	a := graph.NewParams(graph.Seed(4))
	wa, _ := a.Add("w", []int{64, 144}, graph.TorchWeight())
	if float32(graph.Float64s(w)[17]) != float32(graph.Float64s(wa)[17]) {
		t.Error("float32 and float64 models of one seed start differently")
	}
}

// runOf is a training run whose solver is s, to save a checkpoint with s's state; nil for nil.
func runOf(t testing.TB, s solvers.Solver) *graph.Run {
	if s == nil {
		return nil
	}
	var r graph.Run
	if err := r.UseSolver(s); err != nil {
		t.Fatal(err)
	}
	return &r
}

// loadInto loads a checkpoint into ps and, when s is not nil, its solver state into s.
func loadInto(path string, ps *graph.Params, s solvers.Solver) (*graph.Extra, error) {
	if s == nil {
		return graph.LoadCheckpoint(path, ps, nil)
	}
	var r graph.Run
	extra, err := graph.LoadCheckpoint(path, ps, &r)
	if err != nil {
		return nil, err
	}
	return extra, r.UseSolver(s)
}
