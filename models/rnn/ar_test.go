package rnn

import (
	"encoding/json"
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"gorgonia.org/gorgonia"
	"gorgonia.org/tensor"

	"github.com/unroll-ml/unroll/data"
	"github.com/unroll-ml/unroll/data/builtin"
	"github.com/unroll-ml/unroll/graph"
	"github.com/unroll-ml/unroll/solvers"
)

// The MLP of AR passes the finite-difference check: weights, biases and the input window.
func TestARGradCheck(t *testing.T) {
	ps := graph.NewParams(graph.Seed(3), graph.Dtype(tensor.Float64))
	m, err := NewAR(ps, "ar", 5, []int{7, 4})
	if err != nil {
		t.Fatal(err)
	}
	r := rand.New(rand.NewPCG(1, 2))
	x := make([]float64, 6*5)
	for i := range x {
		x[i] = 2*r.Float64() - 1
	}
	build := func(b *graph.Builder) (*gorgonia.Node, error) {
		in, err := b.Input("x", 6, 5)
		if err != nil {
			return nil, err
		}
		return m.Forward(b, in)
	}
	rep, err := graph.GradCheck(ps, build, graph.Feeds{"x": graph.NewTensor(tensor.Float64, []int{6, 5}, x)}, graph.WithRespectTo("x"))
	if err != nil {
		t.Fatal(err)
	}
	if rep.Checked < 5*7+7+7*4+4+4+1+30 {
		t.Fatalf("checked only %d elements", rep.Checked)
	}
}

// The regression loss graph (AR's prediction and the mean squared error) has the right
// gradient too.
func TestARLossGradCheck(t *testing.T) {
	ps := graph.NewParams(graph.Seed(4), graph.Dtype(tensor.Float64))
	m, err := NewAR(ps, "ar", 3, []int{10})
	if err != nil {
		t.Fatal(err)
	}
	r := rand.New(rand.NewPCG(5, 6))
	x, y := make([]float64, 8*3), make([]float64, 8)
	for i := range x {
		x[i] = r.NormFloat64()
	}
	for i := range y {
		y[i] = r.NormFloat64()
	}
	feeds, _ := m.feeds(tensor.Float64, x, y, 8)
	build := func(b *graph.Builder) (*gorgonia.Node, error) {
		_, loss, err := m.build(b, 8)
		return loss, err
	}
	if _, err := graph.GradCheck(ps, build, feeds); err != nil {
		t.Fatal(err)
	}
}

// Trained on the first 80% of the sunspots, AR(4) beats persistence on the last 20% by a wide
// margin (1-step RMSE), and its k-step forecasts get worse as k grows.
func TestARLearnsSunspots(t *testing.T) {
	ref := readSunspotsReference(t)
	s, err := builtin.Sunspots()
	if err != nil {
		t.Fatal(err)
	}
	train, test, _ := data.SplitSeries(s.Values, 0.8)
	sc, err := data.FitScaler(train)
	if err != nil {
		t.Fatal(err)
	}
	scaled := sc.Transform(train)
	ps := graph.NewParams(graph.Seed(1))
	m, err := NewAR(ps, "ar", 4, []int{32})
	if err != nil {
		t.Fatal(err)
	}
	h, err := m.Fit(scaled, graph.Epochs(60), graph.Batch(32), graph.Solver(solvers.NewAdam(0.01)))
	if err != nil {
		t.Fatal(err)
	}
	if first, last := h.Epochs[0].TrainLoss, h.Last().TrainLoss; !(last < 0.5*first) {
		t.Errorf("training loss went from %.4f to %.4f", first, last)
	}
	windows := len(scaled) - 4
	if want := 60 * ((windows + 31) / 32); m.Run().Steps() != want || m.Run().Solver().Steps() != want {
		t.Errorf("%d steps, %d solver steps, want %d", m.Run().Steps(), m.Run().Solver().Steps(), want)
	}
	ev, err := m.Evaluate(scaled)
	if err != nil || !(ev.Loss < first(h)) || ev.N != windows {
		t.Errorf("training series scored %+v (%v); the first epoch's loss was %.4f", ev, err, first(h))
	}
	p := Scaled{P: m, Scaler: sc}
	var rmse []float64
	for _, k := range []int{1, 4} {
		pred, err := KStep(p, s.Values, len(train), k)
		if err != nil {
			t.Fatal(err)
		}
		r, _ := RMSE(pred, test)
		rmse = append(rmse, r)
	}
	t.Logf("MLP AR(4): 1-step RMSE %.2f, 4-step %.2f; persistence %.2f", rmse[0], rmse[1], ref.Persistence)
	if !(rmse[0] < 0.75*ref.Persistence) {
		t.Errorf("1-step RMSE %.2f does not beat persistence %.2f by a quarter", rmse[0], ref.Persistence)
	}
	if !(rmse[1] > rmse[0]) {
		t.Errorf("4-step RMSE %.2f is not above the 1-step %.2f", rmse[1], rmse[0])
	}
}

// The same seed gives the same model, and a different seed another one.
func TestARFitDeterministic(t *testing.T) {
	fit := func(seed uint64) []float64 {
		ps := graph.NewParams(graph.Seed(seed))
		m, err := NewAR(ps, "ar", 2, []int{10})
		if err != nil {
			t.Fatal(err)
		}
		series := []float64{0, 1, 2, 3, 4, 5, 6, 7, 8}
		if _, err := m.Fit(series, graph.Epochs(3), graph.Batch(3)); err != nil {
			t.Fatal(err)
		}
		p, err := m.Predict([]float64{1, 2, 7, 8})
		if err != nil {
			t.Fatal(err)
		}
		return p
	}
	a, b, c := fit(7), fit(7), fit(8)
	for i := range a {
		if a[i] != b[i] {
			t.Fatalf("seed 7 twice: %v and %v", a, b)
		}
	}
	if a[0] == c[0] && a[1] == c[1] {
		t.Fatalf("seeds 7 and 8 give the same model: %v", a)
	}
}

func TestARErrors(t *testing.T) {
	ps := graph.NewParams()
	m, err := NewAR(ps, "ar", 3, []int{10})
	if err != nil {
		t.Fatal(err)
	}
	cases := []struct {
		name string
		run  func() error
		want string
	}{
		{"tau zero", func() error { _, err := NewAR(graph.NewParams(), "ar", 0, nil); return err }, "ar: order tau = 0"},
		{"hidden zero", func() error { _, err := NewAR(graph.NewParams(), "ar", 2, []int{4, 0}); return err }, "hidden layer 2 has width 0"},
		{"duplicate name", func() error { _, err := NewAR(ps, "ar", 3, nil); return err }, "already exists"},
		{"no windows", func() error { _, err := m.Fit(nil); return err }, "ar: fit: windows: 0 values are too few for windows of 3 and a target"},
		{"too short", func() error { _, err := m.Fit([]float64{1, 2, 3}); return err }, "3 values are too few"},
		{"nan value", func() error { _, err := m.Fit([]float64{1, 2, 3, math.NaN()}); return err }, "value 3 is NaN"},
		{"epochs", func() error { _, err := m.Fit([]float64{1, 2, 3, 4}, graph.Epochs(-1)); return err }, "-1 epochs"},
		{"batch", func() error { _, err := m.Fit([]float64{1, 2, 3, 4}, graph.Batch(-1)); return err }, "batch size -1"},
		{"validation", func() error { _, err := m.Fit([]float64{1, 2, 3, 4}, graph.Validation([]float64{1})); return err }, "ar: validation series: windows: 1 values are too few"},
		{"predict partial", func() error { _, err := m.Predict([]float64{1, 2}); return err }, "whole windows of 3"},
		{"predict empty", func() error { _, err := m.Predict(nil); return err }, "no windows"},
		{"diverging", func() error {
			_, err := m.Fit([]float64{1, 2, 3, 2, 3, 4}, graph.Solver(solvers.NewSGD(1e30)), graph.Epochs(5))
			return err
		}, "training diverged at step 1"},
	}
	for _, c := range cases {
		err := c.run()
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s: error %v, want one containing %q", c.name, err, c.want)
		}
	}
}

// leastSquares agrees with the normal equations on a random full-rank problem.
func TestLeastSquares(t *testing.T) {
	r := rand.New(rand.NewPCG(9, 9))
	const m, p = 30, 4
	a := make([]float64, m*p)
	y := make([]float64, m)
	for i := range a {
		a[i] = r.NormFloat64()
	}
	for i := range y {
		y[i] = r.NormFloat64()
	}
	c, err := leastSquares(append([]float64(nil), a...), m, p, append([]float64(nil), y...))
	if err != nil {
		t.Fatal(err)
	}
	// At the minimum the residual is orthogonal to every column: Aᵀ (A c - y) = 0.
	for j := 0; j < p; j++ {
		var g float64
		for i := 0; i < m; i++ {
			var pred float64
			for k := 0; k < p; k++ {
				pred += a[i*p+k] * c[k]
			}
			g += a[i*p+j] * (pred - y[i])
		}
		if math.Abs(g) > 1e-10 {
			t.Fatalf("column %d: Aᵀ(Ac - y) = %g, want 0", j, g)
		}
	}
}

// sunspotsReference is what testdata/sunspots_reference.py computed with PyTorch.
type sunspotsReference struct {
	Values, Train int
	Persistence   float64   `json:"persistence_rmse"`
	LSTau         int       `json:"ls_tau"`
	LS            float64   `json:"ls_rmse"`
	LSWeights     []float64 `json:"ls_weights"`
	LSIntercept   float64   `json:"ls_intercept"`
}

func readSunspotsReference(t *testing.T) *sunspotsReference {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("testdata", "sunspots_reference.json"))
	if err != nil {
		t.Fatal(err)
	}
	var ref sunspotsReference
	if err := json.Unmarshal(b, &ref); err != nil {
		t.Fatal(err)
	}
	return &ref
}

// sunspots returns the built-in sunspot series split as the reference splits it.
func sunspots(t *testing.T) (values, train, test []float64) {
	t.Helper()
	s, err := builtin.Sunspots()
	if err != nil {
		t.Fatal(err)
	}
	train, test, err = data.SplitSeries(s.Values, 0.8)
	if err != nil {
		t.Fatal(err)
	}
	return s.Values, train, test
}

// On sunspots, the least-squares AR(9) fitted on the first 80% and scored on the last 20%
// matches PyTorch's torch.linalg.lstsq fit (testdata/sunspots_reference.py), coefficients and
// test RMSE, and so does persistence.
func TestLinearARSunspots(t *testing.T) {
	ref := readSunspotsReference(t)
	values, train, test := sunspots(t)
	if len(values) != ref.Values || len(train) != ref.Train {
		t.Fatalf("%d values, %d for training; the reference has %d and %d", len(values), len(train), ref.Values, ref.Train)
	}
	ar, err := FitLinearAR(train, ref.LSTau)
	if err != nil {
		t.Fatal(err)
	}
	for i, w := range ref.LSWeights {
		if math.Abs(ar.Weights[i]-w) > 1e-9 {
			t.Errorf("weight %d: %v, PyTorch %v", i, ar.Weights[i], w)
		}
	}
	if math.Abs(ar.Intercept-ref.LSIntercept) > 1e-8 {
		t.Errorf("intercept %v, PyTorch %v", ar.Intercept, ref.LSIntercept)
	}
	pred, err := OneStep(ar, values, len(train))
	if err != nil {
		t.Fatal(err)
	}
	got, _ := RMSE(pred, test)
	base, _ := OneStep(Persistence{}, values, len(train))
	pers, _ := RMSE(base, test)
	if math.Abs(got-ref.LS) > 1e-9 || math.Abs(pers-ref.Persistence) > 1e-9 {
		t.Fatalf("test RMSE: least-squares AR(%d) %.6f (PyTorch %.6f), persistence %.6f (%.6f)", ref.LSTau, got, ref.LS, pers, ref.Persistence)
	}
}

// first is the training loss of a history's first epoch.
func first(h *graph.History) float64 { return h.Epochs[0].TrainLoss }
