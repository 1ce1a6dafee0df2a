package rnn

import (
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"gorgonia.org/tensor"

	"github.com/unroll-ml/unroll/data"
	"github.com/unroll-ml/unroll/data/builtin"
	"github.com/unroll-ml/unroll/dist"
	"github.com/unroll-ml/unroll/dist/disttest"
	"github.com/unroll-ml/unroll/graph"
	"github.com/unroll-ml/unroll/solvers"
)

// The tests named TestMPI* need a binary built with go test -c -tags mpi and started by
// mpirun with 2 ranks (models/mpitest.sh); elsewhere they skip.

func TestMain(m *testing.M) { disttest.Main(m) }

// w2 is the language model of workload W2 (bench/WORKLOADS.md) in dtype dt, seed 1: one LSTM
// layer of 256 over one-hot characters of the start of Moby Dick, and that text as ids.
func w2(t *testing.T, dt tensor.Dtype) (*LanguageModel, []int) {
	t.Helper()
	text, err := builtin.MobyDick()
	if err != nil {
		t.Fatal(err)
	}
	text = data.ASCIIQuotes(text)[:200_000]
	vocab, err := data.NewCharVocab(text)
	if err != nil {
		t.Fatal(err)
	}
	lm, err := NewLanguageModel(graph.NewParams(graph.Seed(1), graph.Dtype(dt)), "w2", vocab, Config{Kind: LSTM, Hidden: 256})
	if err != nil {
		t.Fatal(err)
	}
	return lm, vocab.Encode(text)
}

// w2Fit trains lm for steps batches of 64 streams of seq characters of ids (sequential
// partitioning: the state carried from batch to batch), with W2's solver and clipping.
func w2Fit(t *testing.T, lm *LanguageModel, ids []int, seq, steps int, opts ...graph.FitOption) {
	t.Helper()
	it, err := data.NewSequentialBatches(ids, 64, seq)
	if err != nil {
		t.Fatal(err)
	}
	opts = append([]graph.FitOption{graph.Steps(steps), graph.Solver(solvers.NewAdam(2e-3)), graph.ClipNorm(5)}, opts...)
	if _, err := lm.Fit(it, opts...); err != nil {
		t.Fatal(err)
	}
}

// Two ranks with 32 streams each train the W2 language model to the parameters one process
// trains with 64 streams, after 20 steps: within 1e-9 in float64 and 1e-4 in float32. W2's
// segments are 64 characters long; the float64 run, whose kernels are about ten times slower,
// takes segments of 16 to keep the test short. Each
// rank's segment graphs take 32 streams, and each step runs one all-reduce of the loss and
// the gradients (W2's 387,168 values fit one bucket of 2^20).
func TestMPIW2MatchesOneProcess(t *testing.T) {
	g := disttest.RequireWorld(t)
	const steps = 20
	for _, c := range []struct {
		dt  tensor.Dtype
		seq int
		tol float64
	}{{tensor.Float64, 16, 1e-9}, {tensor.Float32, 64, 1e-4}} {
		t.Run(c.dt.String(), func(t *testing.T) {
			one, ids := w2(t, c.dt)
			w2Fit(t, one, ids, c.seq, steps)
			par, _ := w2(t, c.dt)
			counter := disttest.NewCounter(g)
			w2Fit(t, par, ids, c.seq, steps, graph.DataParallel(counter))
			diff, where, err := disttest.MaxDiff(one.Params(), par.Params())
			if err != nil {
				t.Fatal(err)
			}
			t.Logf("rank %d, %v: largest difference %.3g (%s)", g.Rank(), c.dt, diff, where)
			if diff > c.tol {
				t.Errorf("rank %d: parameters differ by %.3g at %s, want at most %g", g.Rank(), diff, where, c.tol)
			}
			for k := range par.train.graphs {
				if k[0] != 64/g.Size() {
					t.Errorf("rank %d: a segment graph for batches of %d streams, want %d", g.Rank(), k[0], 64/g.Size())
				}
			}
			checkW2AllReduces(t, g, counter, par.Params(), c.dt, steps)
		})
	}
}

// checkW2AllReduces checks the all-reduces of a data-parallel Fit of steps one-segment
// batches: the one with which the ranks agree on the parameters (float64, one value per
// rank), then one per step of the loss and the gradients (one bucket) in the parameters'
// dtype.
func checkW2AllReduces(t *testing.T, g dist.Group, c *disttest.Counter, ps *graph.Params, dt tensor.Dtype, steps int) {
	t.Helper()
	bucket := 1 // the loss
	for _, e := range ps.Entries() {
		if e.Trainable {
			bucket += e.Value.Shape().TotalSize()
		}
	}
	var grads []int
	for range steps {
		grads = append(grads, bucket)
	}
	want32, want64 := grads, append([]int{g.Size()}, grads...)
	if dt == tensor.Float32 {
		want64 = []int{g.Size()}
	} else {
		want32 = nil
	}
	if got := c.Lengths(disttest.AllReduceSum32); !slices.Equal(got, want32) {
		t.Errorf("rank %d: float32 all-reduces of %v, want %v", g.Rank(), got, want32)
	}
	if got := c.Lengths(disttest.AllReduceSum64); !slices.Equal(got, want64) {
		t.Errorf("rank %d: float64 all-reduces of %v, want %v", g.Rank(), got, want64)
	}
}

// A checkpoint of the W2 model written by two ranks after 6 steps, which holds the carried
// state of all 64 streams (each rank's 32 joined), resumes under two ranks to the parameters
// and carried state of 10 steps run straight, exactly; a single process refuses it.
func TestMPIW2Checkpoint(t *testing.T) {
	g := disttest.RequireWorld(t)
	path := filepath.Join(disttest.SharedTempDir(t, g), "w2.safetensors")
	dp := graph.DataParallel(g)
	straight, ids := w2(t, tensor.Float32)
	w2Fit(t, straight, ids, 64, 10, dp)
	first, _ := w2(t, tensor.Float32)
	w2Fit(t, first, ids, 64, 6, dp, graph.Checkpoints(path, 0))
	if err := g.Barrier(); err != nil { // rank 0 has written the file
		t.Fatal(err)
	}
	resumed, _ := w2(t, tensor.Float32)
	if err := resumed.LoadCheckpoint(path); err != nil {
		t.Fatal(err)
	}
	if st := resumed.train.state(); st["carry.h_l0"] == nil || st["carry.h_l0"].Shape()[0] != 64 {
		t.Fatalf("the checkpoint holds the carried state %v, want 64 streams", st)
	}
	w2Fit(t, resumed, ids, 64, 4, dp)
	if diff, where, err := disttest.MaxDiff(straight.Params(), resumed.Params()); err != nil || diff != 0 {
		t.Errorf("rank %d: the resumed run differs from the straight one by %g at %s (%v)", g.Rank(), diff, where, err)
	}
	a, b := straight.train.state(), resumed.train.state()
	for name, v := range a {
		if !slices.Equal(graph.Float64s(v), graph.Float64s(b[name])) {
			t.Errorf("rank %d: carried state %s differs between the straight and the resumed run", g.Rank(), name)
		}
	}
	alone, _ := w2(t, tensor.Float32)
	if err := alone.LoadCheckpoint(path); err != nil {
		t.Fatal(err)
	}
	it, err := data.NewSequentialBatches(ids, 64, 64)
	if err != nil {
		t.Fatal(err)
	}
	_, err = alone.Fit(it, graph.Steps(1))
	if want := "was written by 2 ranks, this run has 1: resume it with as many"; err == nil || !strings.Contains(err.Error(), want) {
		t.Errorf("a single process resumed a checkpoint of 2 ranks: %v, want an error containing %q", err, want)
	}
}
