package rnn

import (
	"path/filepath"
	"slices"
	"testing"

	"gorgonia.org/tensor"

	"github.com/unroll-ml/unroll/data"
	"github.com/unroll-ml/unroll/dist"
	"github.com/unroll-ml/unroll/dist/disttest"
	"github.com/unroll-ml/unroll/graph"
	"github.com/unroll-ml/unroll/solvers"
)

// Two in-process ranks with 4 streams each train the small language model to what one process
// trains with 8 streams, the state carried from batch to batch (float64, 1e-12); a checkpoint
// the ranks save with SaveCheckpoint (collective: rank 0 writes the state of all 8 streams)
// resumes under two ranks exactly as the run goes on straight.
func TestLanguageModelDataParallel(t *testing.T) {
	batches := func(ids []int) *data.SeqBatches {
		it, err := data.NewSequentialBatches(ids, 8, 10)
		if err != nil {
			t.Fatal(err)
		}
		return it
	}
	// fit trains lm for steps more batches of it, with its run's solver (Adam, the first time).
	fit := func(lm *LanguageModel, it *data.SeqBatches, steps int, g dist.Group) {
		t.Helper()
		s := lm.Run().Solver()
		if s == nil {
			s = solvers.NewAdam(1e-2)
		}
		if _, err := lm.Fit(it, graph.Steps(steps), graph.Solver(s), graph.ClipNorm(1), graph.DataParallel(g)); err != nil {
			t.Error(err)
		}
	}
	one, ids := tinyLM(t, 1, tensor.Float64, Config{Kind: LSTM})
	fit(one, batches(ids), 6, dist.Single())
	path := filepath.Join(t.TempDir(), "lm.safetensors")
	ranks := make([]*LanguageModel, 2)
	err := disttest.RunLocal(2, func(g dist.Group) error {
		lm, _ := tinyLM(t, 1, tensor.Float64, Config{Kind: LSTM})
		ranks[g.Rank()] = lm
		it := batches(ids)
		fit(lm, it, 3, g)
		if err := lm.SaveCheckpoint(path); err != nil {
			return err
		}
		if err := g.Barrier(); err != nil {
			return err
		}
		fit(lm, it, 3, g)
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	for r, lm := range ranks {
		if diff, where, err := disttest.MaxDiff(one.Params(), lm.Params()); err != nil || diff > 1e-12 {
			t.Errorf("rank %d: differs from one process by %g at %s (%v)", r, diff, where, err)
		}
	}
	resumed := make([]*LanguageModel, 2)
	err = disttest.RunLocal(2, func(g dist.Group) error {
		lm, _ := tinyLM(t, 1, tensor.Float64, Config{Kind: LSTM})
		resumed[g.Rank()] = lm
		if err := lm.LoadCheckpoint(path); err != nil {
			return err
		}
		if st := lm.train.state(); st["carry.h_l0"].Shape()[0] != 8 {
			t.Errorf("the checkpoint holds the state of %d streams, want 8", st["carry.h_l0"].Shape()[0])
		}
		fit(lm, batches(ids), 3, g)
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	for r, lm := range resumed {
		if diff, where, err := disttest.MaxDiff(ranks[r].Params(), lm.Params()); err != nil || diff != 0 {
			t.Errorf("rank %d: the resumed run differs by %g at %s (%v)", r, diff, where, err)
		}
		a, b := ranks[r].train.state(), lm.train.state()
		for name, v := range a {
			if !slices.Equal(graph.Float64s(v), graph.Float64s(b[name])) {
				t.Errorf("rank %d: carried state %s differs after the resume", r, name)
			}
		}
	}
}
