package graph_test

import (
	"encoding/binary"
	"errors"
	"fmt"
	"math/rand/v2"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"gorgonia.org/tensor"

	"github.com/unroll-ml/unroll/graph"
	"github.com/unroll-ml/unroll/solvers"
)

// feedData is a Data of fixed batches of feeds, in passes, with a position that checkpoints
// save: the epoch and the next batch.
type feedData struct {
	batches     []graph.Feeds
	epoch, next int
	taken       []int // the index of every batch handed out, in order
}

func (d *feedData) NumBatches() int { return len(d.batches) }

func (d *feedData) Pass() graph.Pass[graph.Feeds] {
	if d.next == len(d.batches) {
		d.epoch, d.next = d.epoch+1, 0
	}
	return &feedPass{d: d, epoch: d.epoch}
}

type feedPass struct {
	d     *feedData
	epoch int
}

func (p *feedPass) Next() (graph.Feeds, bool) {
	d := p.d
	if p.epoch != d.epoch || d.next == len(d.batches) {
		return nil, false
	}
	d.taken = append(d.taken, d.next)
	d.next++
	return d.batches[d.next-1], true
}

func (d *feedData) MarshalBinary() ([]byte, error) {
	return binary.AppendUvarint(binary.AppendUvarint(nil, uint64(d.epoch)), uint64(d.next)), nil
}

func (d *feedData) UnmarshalBinary(b []byte) error {
	e, n := binary.Uvarint(b)
	k, m := binary.Uvarint(b[max(n, 0):])
	if n <= 0 || m <= 0 || int(k) > len(d.batches) {
		return errors.New("bad position")
	}
	d.epoch, d.next = int(e), int(k)
	return nil
}

// mlpLearner trains the test MLP on feeds with the MSE loss.
type mlpLearner struct {
	ps        *graph.Params
	tr        *graph.Trainer
	validated int
}

func newMLPLearner(t testing.TB, seed uint64) *mlpLearner {
	ps := graph.NewParams(graph.Seed(seed))
	m := newMLP(t, ps)
	b := graph.NewBuilder(ps, graph.Train)
	loss, _ := mseGraph(t, b, m, 4)
	tr, err := graph.NewTrainer(b, loss, nil)
	if err != nil {
		t.Fatal(err)
	}
	return &mlpLearner{ps: ps, tr: tr}
}

func (l *mlpLearner) Params() *graph.Params { return l.ps }

func (l *mlpLearner) TrainBatch(f graph.Feeds, cfg *graph.FitConfig) (graph.BatchStats, error) {
	l.tr.SetSolver(cfg.Solver)
	if err := l.tr.SetClip(cfg.Clip); err != nil {
		return graph.BatchStats{}, err
	}
	r, err := l.tr.Step(f)
	if err != nil {
		return graph.BatchStats{}, err
	}
	return graph.BatchStats{Loss: r.Loss, Examples: 4, Correct: -1, GradNorm: r.GradNorm}, nil
}

func (l *mlpLearner) Validate(set any) (graph.Metrics, error) {
	loss, ok := set.(float64) // a stand-in: the "validation loss" is given
	if !ok {
		return graph.Metrics{}, fmt.Errorf("validation set %T", set)
	}
	l.validated++
	return graph.Metrics{Loss: loss, N: 1}, nil
}

func testBatches(n int) []graph.Feeds {
	r := rand.New(rand.NewPCG(21, 22))
	out := make([]graph.Feeds, n)
	for i := range out {
		out[i] = batchFeeds(r, tensor.Float32, 4)
	}
	return out
}

func fit(t testing.TB, l graph.Learner[graph.Feeds], run *graph.Run, d *feedData, opts ...graph.FitOption) *graph.History {
	cfg, err := graph.NewFitConfig(opts...)
	if err != nil {
		t.Fatal(err)
	}
	h, err := graph.Fit[graph.Feeds](l, run, d, cfg)
	if err != nil {
		t.Fatal(err)
	}
	return h
}

// Epochs is a count to run, not a total: a second Fit of 2 epochs trains 2 more, and every
// pass trains on every batch.
func TestFitEpochsAreACountToRun(t *testing.T) {
	l := newMLPLearner(t, 1)
	var run graph.Run
	d := &feedData{batches: testBatches(3)}
	fit(t, l, &run, d, graph.Epochs(1), graph.Solver(solvers.NewSGD(0.05)))
	h := fit(t, l, &run, d, graph.Epochs(2))
	if len(h.Epochs) != 3 || run.Epochs() != 3 || run.Steps() != 9 {
		t.Fatalf("after 1 + 2 epochs: %d epochs in the history, run at epoch %d step %d", len(h.Epochs), run.Epochs(), run.Steps())
	}
	if want := []int{0, 1, 2, 0, 1, 2, 0, 1, 2}; !slices.Equal(d.taken, want) {
		t.Fatalf("batches taken %v, want %v", d.taken, want)
	}
	if run.Solver().Steps() != 9 {
		t.Errorf("the second Fit did not keep the solver: %d updates", run.Solver().Steps())
	}
}

// A run stopped by Steps in mid-epoch, checkpointed and resumed into a fresh model, trains
// exactly as an uninterrupted run: same batches, same parameters to the bit, same history.
func TestFitResumesExactly(t *testing.T) {
	straight := newMLPLearner(t, 5)
	var sr graph.Run
	sd := &feedData{batches: testBatches(4)}
	fit(t, straight, &sr, sd, graph.Epochs(3), graph.Solver(solvers.NewAdam(0.01)), graph.ClipNorm(0.5))

	first := newMLPLearner(t, 5)
	var fr graph.Run
	fd := &feedData{batches: testBatches(4)}
	path := filepath.Join(t.TempDir(), "run.safetensors")
	fit(t, first, &fr, fd, graph.Steps(6), graph.Solver(solvers.NewAdam(0.01)), graph.ClipNorm(0.5), graph.Checkpoints(path, 0))

	second := newMLPLearner(t, 99) // other initial values: the checkpoint replaces them
	var rr graph.Run
	if _, err := graph.LoadCheckpoint(path, second.ps, &rr); err != nil {
		t.Fatal(err)
	}
	if rr.Steps() != 6 || rr.Epochs() != 1 {
		t.Fatalf("resumed at step %d, epoch %d; want 6 and 1", rr.Steps(), rr.Epochs())
	}
	rd := &feedData{batches: testBatches(4)}
	h := fit(t, second, &rr, rd, graph.Steps(6), graph.Solver(solvers.NewAdam(0.01)), graph.ClipNorm(0.5))
	if want := []int{2, 3, 0, 1, 2, 3}; !slices.Equal(rd.taken, want) {
		t.Fatalf("the resumed run took batches %v, want %v", rd.taken, want)
	}
	for _, e := range straight.ps.Entries() {
		if !slices.Equal(graph.Float64s(e.Value), graph.Float64s(second.ps.Value(e.Name))) {
			t.Errorf("%s differs between the straight and the resumed run", e.Name)
		}
	}
	if len(h.Epochs) != 3 {
		t.Fatalf("history of %d epochs, want 3", len(h.Epochs))
	}
	for i, e := range h.Epochs {
		if s := sr.History().Epochs[i]; e.TrainLoss != s.TrainLoss || e.Steps != s.Steps {
			t.Errorf("epoch %d: resumed loss %v over %d steps, straight %v over %d", i+1, e.TrainLoss, e.Steps, s.TrainLoss, s.Steps)
		}
	}
}

// Validation is scored after every epoch, OnStep and OnEpoch are called, and early stopping
// stops when the validation loss has not improved for the patience.
func TestFitValidationCallbacksEarlyStopping(t *testing.T) {
	l := newMLPLearner(t, 2)
	var run graph.Run
	d := &feedData{batches: testBatches(2)}
	var steps, epochs int
	h := fit(t, l, &run, d, graph.Epochs(10), graph.Solver(solvers.NewSGD(0.01)), graph.Validation(1.0),
		graph.EarlyStopping(2), graph.OnStep(func(graph.Progress) { steps++ }), graph.OnEpoch(func(graph.EpochStats) { epochs++ }))
	// The validation loss never improves after the first epoch: epochs 2 and 3 are bad.
	if len(h.Epochs) != 3 || epochs != 3 || steps != 6 || l.validated != 3 {
		t.Fatalf("%d epochs (%d callbacks), %d step callbacks, %d validations; want 3, 3, 6, 3", len(h.Epochs), epochs, steps, l.validated)
	}
	if v := h.Epochs[0].Validation; v == nil || v.Loss != 1 {
		t.Fatalf("epoch 1 validation %+v", v)
	}
}

// Bad fit options are errors that say what is wrong; a run without a solver is refused.
func TestFitRefusesBadOptions(t *testing.T) {
	for _, c := range []struct {
		opts []graph.FitOption
		want string
	}{
		{[]graph.FitOption{graph.Epochs(-1)}, "-1 epochs"},
		{[]graph.FitOption{graph.Steps(-2)}, "-2 steps"},
		{[]graph.FitOption{graph.Batch(-3)}, "batch size -3"},
		{[]graph.FitOption{graph.ClipNorm(-1)}, "clip norm -1"},
		{[]graph.FitOption{graph.EarlyStopping(2)}, "early stopping needs a validation set"},
		{[]graph.FitOption{graph.Segment(-4)}, "segment of -4 steps"},
	} {
		if _, err := graph.NewFitConfig(c.opts...); err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("got %v, want an error about %q", err, c.want)
		}
	}
	cfg, _ := graph.NewFitConfig()
	var run graph.Run
	if _, err := graph.Fit[graph.Feeds](newMLPLearner(t, 1), &run, &feedData{batches: testBatches(1)}, cfg); err == nil ||
		!strings.Contains(err.Error(), "no solver") {
		t.Errorf("fit without a solver: %v", err)
	}
}
