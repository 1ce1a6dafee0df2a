package rnn

import (
	"math"
	"math/rand/v2"
	"strings"
	"testing"

	"gorgonia.org/gorgonia"
	"gorgonia.org/tensor"

	"github.com/unroll-ml/unroll/data"
	"github.com/unroll-ml/unroll/data/builtin"
	"github.com/unroll-ml/unroll/graph"
	"github.com/unroll-ml/unroll/solvers"
)

// The latent AR model's regression graph (unrolled cell, head on the last state, mean squared
// error) passes the finite-difference check for every cell kind.
func TestLatentARGradCheck(t *testing.T) {
	for _, kind := range Kinds() {
		t.Run(kind.String(), func(t *testing.T) {
			ps := graph.NewParams(graph.Seed(2), graph.Dtype(tensor.Float64))
			m, err := NewLatentAR(ps, "lat", kind, 3, 5)
			if err != nil {
				t.Fatal(err)
			}
			r := rand.New(rand.NewPCG(3, 4))
			x, y := make([]float64, 4*5), make([]float64, 4)
			for i := range x {
				x[i] = r.NormFloat64()
			}
			for i := range y {
				y[i] = r.NormFloat64()
			}
			feeds, err := m.feeds(tensor.Float64, x, y, 4)
			if err != nil {
				t.Fatal(err)
			}
			build := func(b *graph.Builder) (*gorgonia.Node, error) {
				_, loss, err := m.build(b, 4)
				return loss, err
			}
			if _, err := graph.GradCheck(ps, build, feeds); err != nil {
				t.Fatal(err)
			}
		})
	}
}

// The prediction graph computes the same function as the training graph: the prediction of
// a window does not depend on the batch it is predicted in.
func TestLatentARPredictBatches(t *testing.T) {
	ps := graph.NewParams(graph.Seed(5))
	m, err := NewLatentAR(ps, "lat", GRU, 4, 3)
	if err != nil {
		t.Fatal(err)
	}
	w := []float64{0.1, -0.2, 0.3, 1, 2, 3, -1, 0, 1}
	all, err := m.Predict(w)
	if err != nil {
		t.Fatal(err)
	}
	for i := 0; i < 3; i++ {
		one, err := m.Predict(w[i*3 : (i+1)*3])
		if err != nil {
			t.Fatal(err)
		}
		if math.Abs(one[0]-all[i]) > 1e-6 {
			t.Errorf("window %d: %v alone, %v in a batch of 3", i, one[0], all[i])
		}
	}
}

// An LSTM latent AR model learns the sunspots: its training loss falls and its 1-step test
// RMSE beats persistence by a wide margin.
func TestLatentARLearnsSunspots(t *testing.T) {
	if testing.Short() {
		t.Skip("trains an LSTM for a few seconds")
	}
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
	const window = 16
	ps := graph.NewParams(graph.Seed(1))
	m, err := NewLatentAR(ps, "lat", LSTM, 16, window)
	if err != nil {
		t.Fatal(err)
	}
	h, err := m.Fit(sc.Transform(train), graph.Epochs(25), graph.Batch(32), graph.Solver(solvers.NewAdam(0.01)))
	if err != nil {
		t.Fatal(err)
	}
	if first, last := h.Epochs[0].TrainLoss, h.Last().TrainLoss; !(last < 0.5*first) {
		t.Errorf("training loss went from %.4f to %.4f", first, last)
	}
	pred, err := OneStep(Scaled{P: m, Scaler: sc}, s.Values, len(train))
	if err != nil {
		t.Fatal(err)
	}
	r, _ := RMSE(pred, test)
	t.Logf("latent AR (LSTM 16, window %d): 1-step RMSE %.2f; persistence %.2f", window, r, ref.Persistence)
	if !(r < 0.75*ref.Persistence) {
		t.Errorf("1-step RMSE %.2f does not beat persistence %.2f by a quarter", r, ref.Persistence)
	}
}

func TestLatentARErrors(t *testing.T) {
	cases := []struct {
		name string
		run  func() error
		want string
	}{
		{"window zero", func() error { _, err := NewLatentAR(graph.NewParams(), "lat", LSTM, 4, 0); return err }, "window of 0 values"},
		{"hidden zero", func() error { _, err := NewLatentAR(graph.NewParams(), "lat", LSTM, 0, 4); return err }, "hidden"},
		{"embed", func() error { _, err := NewLatentAR(graph.NewParams(), "lat", LSTM, 4, 4, Embed(3)); return err }, "Embed and Masked do not apply"},
		{"masked", func() error { _, err := NewLatentAR(graph.NewParams(), "lat", GRU, 4, 4, Masked()); return err }, "Embed and Masked do not apply"},
		{"bad kind", func() error { _, err := NewLatentAR(graph.NewParams(), "lat", Kind(9), 4, 4); return err }, "unknown cell kind"},
		{"too few values", func() error {
			m, err := NewLatentAR(graph.NewParams(), "lat", RNN, 2, 8)
			if err != nil {
				return err
			}
			_, err = KStep(m, []float64{1, 2, 3, 4, 5}, 3, 1)
			return err
		}, "need 8 earlier values"},
	}
	for _, c := range cases {
		err := c.run()
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s: error %v, want one containing %q", c.name, err, c.want)
		}
	}
}
