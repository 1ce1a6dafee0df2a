package graph_test

import (
	"fmt"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"gorgonia.org/gorgonia"
	"gorgonia.org/tensor"

	"github.com/unroll-ml/unroll/dist"
	"github.com/unroll-ml/unroll/dist/disttest"
	"github.com/unroll-ml/unroll/graph"
	"github.com/unroll-ml/unroll/solvers"
)

// dpLearner trains the test MLP on its rank's share of every batch of feeds (float64).
type dpLearner struct {
	ps   *graph.Params
	m    *mlp
	tr   *graph.Trainer
	rows []int // rows trained on, per batch
}

func newDPLearner(t testing.TB) *dpLearner {
	ps := graph.NewParams(graph.Seed(1), graph.Dtype(tensor.Float64))
	return &dpLearner{ps: ps, m: newMLP(t, ps)}
}

func (l *dpLearner) Params() *graph.Params { return l.ps }

func (l *dpLearner) TrainBatch(f graph.Feeds, cfg *graph.FitConfig) (graph.BatchStats, error) {
	n := f["x"].Shape()[0]
	lo, hi, err := cfg.Shard(n)
	if err != nil {
		return graph.BatchStats{}, err
	}
	if l.tr == nil {
		b := graph.NewBuilder(l.ps, graph.Train)
		x, _ := b.Input("x", hi-lo, 4)
		y, _ := b.Input("y", hi-lo, 3)
		out, err := l.m.Forward(b, x)
		if err != nil {
			return graph.BatchStats{}, err
		}
		loss, err := mseOf(out, y)
		if err != nil {
			return graph.BatchStats{}, err
		}
		if l.tr, err = graph.NewTrainer(b, loss, nil); err != nil {
			return graph.BatchStats{}, err
		}
	}
	l.tr.SetSolver(cfg.Solver)
	l.tr.SetGroup(cfg.Group)
	l.rows = append(l.rows, hi-lo)
	shard := graph.Feeds{"x": rowsOf(f["x"], lo, hi), "y": rowsOf(f["y"], lo, hi)}
	r, err := l.tr.Step(shard)
	if err != nil {
		return graph.BatchStats{}, err
	}
	return graph.BatchStats{Loss: r.Loss, Examples: n, Correct: -1}, nil
}

func (l *dpLearner) Validate(any) (graph.Metrics, error) { return graph.Metrics{}, nil }

func rowsOf(t *tensor.Dense, lo, hi int) *tensor.Dense {
	w := t.Shape()[1]
	v := graph.Float64s(t)[lo*w : hi*w]
	return graph.NewTensor(tensor.Float64, []int{hi - lo, w}, v)
}

func dpBatches(t testing.TB) []graph.Feeds {
	var out []graph.Feeds
	for _, f := range testBatches(4) {
		out = append(out, graph.Feeds{"x": graph.Convert(f["x"], tensor.Float64), "y": graph.Convert(f["y"], tensor.Float64)})
	}
	return out
}

// runRanks runs f on n in-process ranks (disttest.RunLocal) and returns each rank's learner.
func runRanks(t *testing.T, n int, f func(g dist.Group, l *dpLearner) error) []*dpLearner {
	ls := make([]*dpLearner, n)
	var mu sync.Mutex
	err := disttest.RunLocal(n, func(g dist.Group) error {
		l := newDPLearner(t)
		mu.Lock()
		ls[g.Rank()] = l
		mu.Unlock()
		return f(g, l)
	})
	if err != nil {
		t.Fatal(err)
	}
	return ls
}

// Two ranks training on halves of every batch of 4 train the model that one process trains on
// the whole batches, to 1e-12 in float64; each rank's forward passes saw 2 rows, and one
// all-reduce ran per step (the model's gradients and the loss fit in one bucket).
func TestDataParallelMatchesOneProcess(t *testing.T) {
	one := newDPLearner(t)
	var run graph.Run
	fit(t, one, &run, &feedData{batches: dpBatches(t)}, graph.Epochs(5), graph.Solver(solvers.NewAdam(0.01)))
	var counters [2]*disttest.Counter
	ranks := runRanks(t, 2, func(g dist.Group, l *dpLearner) error {
		c := disttest.NewCounter(g)
		counters[g.Rank()] = c
		var run graph.Run
		cfg, err := graph.NewFitConfig(graph.Epochs(5), graph.Solver(solvers.NewAdam(0.01)), graph.DataParallel(c))
		if err != nil {
			return err
		}
		_, err = graph.Fit[graph.Feeds](l, &run, &feedData{batches: dpBatches(t)}, cfg)
		return err
	})
	for r, l := range ranks {
		if diff, where, err := disttest.MaxDiff(one.ps, l.ps); err != nil || diff > 1e-12 {
			t.Fatalf("rank %d: differs from one process by %g at %s (%v)", r, diff, where, err)
		}
		for _, n := range l.rows {
			if n != 2 {
				t.Fatalf("rank %d trained on %v rows per batch, want 2", r, l.rows)
			}
		}
		// One all-reduce per step, plus one when the ranks agree on the parameters.
		if got := counters[r].Calls(disttest.AllReduceSum64); got != 20+1 {
			t.Errorf("rank %d: %d all-reduces for 20 steps", r, got)
		}
	}
}

// A checkpoint written under 2 ranks resumes exactly under 2 ranks, and is refused under 1.
func TestDataParallelCheckpoint(t *testing.T) {
	path := filepath.Join(t.TempDir(), "dp.safetensors")
	fitRanks := func(resume bool, opts ...graph.FitOption) []*dpLearner {
		return runRanks(t, 2, func(g dist.Group, l *dpLearner) error {
			var run graph.Run
			if resume {
				if _, err := graph.LoadCheckpoint(path, l.ps, &run); err != nil {
					return err
				}
			}
			cfg, err := graph.NewFitConfig(append([]graph.FitOption{graph.Solver(solvers.NewAdam(0.01)), graph.DataParallel(g)}, opts...)...)
			if err != nil {
				return err
			}
			_, err = graph.Fit[graph.Feeds](l, &run, &feedData{batches: dpBatches(t)}, cfg)
			return err
		})
	}
	straight := fitRanks(false, graph.Steps(10))
	fitRanks(false, graph.Steps(6), graph.Checkpoints(path, 0))
	resumed := fitRanks(true, graph.Steps(4))
	for _, e := range straight[0].ps.Entries() {
		if a, b := graph.Float64s(e.Value), graph.Float64s(resumed[0].ps.Value(e.Name)); !equalFloats(a, b) {
			t.Fatalf("%s differs between the straight and the resumed run", e.Name)
		}
	}
	single := newDPLearner(t)
	var run graph.Run
	if _, err := graph.LoadCheckpoint(path, single.ps, &run); err != nil {
		t.Fatal(err)
	}
	cfg, _ := graph.NewFitConfig(graph.Steps(1), graph.Solver(solvers.NewAdam(0.01)))
	if _, err := graph.Fit[graph.Feeds](single, &run, &feedData{batches: dpBatches(t)}, cfg); err == nil ||
		!strings.Contains(err.Error(), "written by 2 ranks, this run has 1") {
		t.Errorf("a 2-rank checkpoint resumed by 1 process: %v", err)
	}

	// A checkpoint of one process, resumed under 2 ranks, is refused on every rank.
	cfg, _ = graph.NewFitConfig(graph.Steps(1), graph.Solver(solvers.NewAdam(0.01)), graph.Checkpoints(path, 0))
	if _, err := graph.Fit[graph.Feeds](newDPLearner(t), &graph.Run{}, &feedData{batches: dpBatches(t)}, cfg); err != nil {
		t.Fatal(err)
	}
	err := disttest.RunLocal(2, func(g dist.Group) error {
		l := newDPLearner(t)
		var run graph.Run
		if _, err := graph.LoadCheckpoint(path, l.ps, &run); err != nil {
			return err
		}
		cfg, _ := graph.NewFitConfig(graph.Steps(1), graph.Solver(solvers.NewAdam(0.01)), graph.DataParallel(g))
		_, err := graph.Fit[graph.Feeds](l, &run, &feedData{batches: dpBatches(t)}, cfg)
		return err
	})
	for r := range 2 {
		if want := fmt.Sprintf("rank %d: fit: checkpoint %s was written by one process, this run has 2 ranks: resume it in one process", r, path); err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("a checkpoint of one process resumed by 2 ranks: %v, want %q", err, want)
		}
	}
}

// mseOf is the mean squared error of out against y.
func mseOf(out, y *gorgonia.Node) (*gorgonia.Node, error) {
	d, err := gorgonia.Sub(out, y)
	if err != nil {
		return nil, err
	}
	sq, err := gorgonia.Square(d)
	if err != nil {
		return nil, err
	}
	return gorgonia.Mean(sq)
}
