// Command mpi measures data-parallel training: the throughput of W1 (the small CNN on MNIST,
// images/s) and W2 (the character LSTM language model, tokens/s) of bench/WORKLOADS.md, trained
// with graph.DataParallel over the process group it was started in, and the share of each
// step spent in the all-reduce. Started alone it is one process; started by mpirun (built with
// -tags mpi) it is one rank of as many. bench/mpi.sh runs it as 1 process x 2 threads,
// 2 processes x 1 thread and 4 processes x 1 thread (oversubscribed on 2 cores).
//
// Each workload runs -runs times, each a fresh model trained for its warm-up steps and then its
// measured steps, with the global batch of the workload (64 images, 32 streams of 64
// characters) shared among the ranks. Before each all-reduce the ranks meet in a barrier, so
// that the time a rank spends waiting for a slower one (the barrier) is told apart from the
// all-reduce itself; both are printed as shares of the measured steps' wall time, averaged
// over the ranks (the barrier adds its own latency, a few microseconds). Then each rank trains the
// same steps alone, as one process with the whole batch, and the largest difference of the
// parameters is printed: the data-parallel run must train the same model.
//
// Only rank 0 prints.
package main

import (
	"flag"
	"fmt"
	"math"
	"os"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/unroll-ml/unroll/data"
	"github.com/unroll-ml/unroll/data/builtin"
	"github.com/unroll-ml/unroll/dist"
	"github.com/unroll-ml/unroll/dist/disttest"
	"github.com/unroll-ml/unroll/graph"
	"github.com/unroll-ml/unroll/models/cnn"
	"github.com/unroll-ml/unroll/models/rnn"
	"github.com/unroll-ml/unroll/solvers"
)

func main() {
	runs := flag.Int("runs", 3, "measured runs of each workload")
	flag.Parse()
	g, err := dist.Open()
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	if err := bench(g, *runs); err != nil {
		fmt.Fprintf(os.Stderr, "rank %d: %v\n", g.Rank(), err)
		g.Abort(1)
	}
	if err := g.Close(); err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
}

// workload is one model to train: a constructor of a fresh model, and its training.
type workload struct {
	name, unit  string
	perStep     int // images or tokens of a global step
	warm, steps int
	fit         func(g dist.Group, steps int, onStep func(graph.Progress)) (*graph.Params, error)
}

func bench(g dist.Group, runs int) error {
	say := func(format string, args ...any) {
		if g.Rank() == 0 {
			fmt.Printf(format, args...)
		}
	}
	say("%d process(es) x %d thread(s) (graph.Threads)\n", g.Size(), graph.Threads())
	w1, err := newW1()
	if err != nil {
		return err
	}
	w2, err := newW2()
	if err != nil {
		return err
	}
	for _, w := range []workload{w1, w2} {
		var rates, shares, waits []float64
		for range runs {
			rate, share, wait, err := measure(g, w)
			if err != nil {
				return fmt.Errorf("%s: %w", w.name, err)
			}
			rates, shares, waits = append(rates, rate), append(shares, share), append(waits, wait)
		}
		say("%s: %s %s/s (median of %d runs; min %s, max %s)\n",
			w.name, thousands(median(rates)), w.unit, runs, thousands(slices.Min(rates)), thousands(slices.Max(rates)))
		if g.Size() > 1 {
			say("%s: all-reduce %.1f%% of a step (median; min %.1f%%, max %.1f%%), waiting for the slowest rank %.1f%% (median; min %.1f%%, max %.1f%%)\n",
				w.name, 100*median(shares), 100*slices.Min(shares), 100*slices.Max(shares),
				100*median(waits), 100*slices.Min(waits), 100*slices.Max(waits))
		}
		diff, where, err := compare(g, w)
		if err != nil {
			return fmt.Errorf("%s: %w", w.name, err)
		}
		say("%s: after %d steps, largest difference from one process with the whole batch: %.2g (%s)\n", w.name, w.warm+w.steps, diff, where)
	}
	return nil
}

// measure trains w once over g and returns the global throughput of its measured steps, and
// the shares of their time spent in the all-reduces and waiting for them to start, averaged
// over the ranks.
func measure(g dist.Group, w workload) (rate, share, wait float64, err error) {
	tg := &timedGroup{Group: g}
	var start time.Time
	var wall time.Duration
	_, err = w.fit(tg, w.warm+w.steps, func(p graph.Progress) {
		switch p.Step {
		case w.warm:
			start = time.Now()
			tg.reset()
		case w.warm + w.steps:
			wall = time.Since(start)
		}
	})
	if err != nil {
		return 0, 0, 0, err
	}
	reduce, waited := tg.spent()
	mine := []float64{reduce.Seconds() / wall.Seconds(), waited.Seconds() / wall.Seconds(), wall.Seconds()}
	if err := g.AllReduceSum64(mine); err != nil {
		return 0, 0, 0, err
	}
	n := float64(g.Size())
	return float64(w.steps*w.perStep) / (mine[2] / n), mine[0] / n, mine[1] / n, nil
}

// compare trains w over g and alone, as one process with the whole batch, and returns the
// largest difference of their parameters on this rank (on rank 0, the largest over the ranks).
func compare(g dist.Group, w workload) (float64, string, error) {
	par, err := w.fit(g, w.warm+w.steps, nil)
	if err != nil {
		return 0, "", err
	}
	one, err := w.fit(dist.Single(), w.warm+w.steps, nil)
	if err != nil {
		return 0, "", err
	}
	diff, where, err := disttest.MaxDiff(one, par)
	if err != nil {
		return 0, "", err
	}
	worst := make([]float64, g.Size())
	worst[g.Rank()] = diff
	if err := g.AllReduceSum64(worst); err != nil {
		return 0, "", err
	}
	if m := slices.Max(worst); m > diff {
		where = fmt.Sprintf("rank %d", slices.Index(worst, m))
		diff = m
	}
	return diff, where, nil
}

// newW1 is workload W1: the small CNN on MNIST, batches of 64, Adam 1e-3, float32.
func newW1() (workload, error) {
	train, _, err := builtin.MNIST()
	if err != nil {
		return workload{}, err
	}
	w := workload{name: "W1", unit: "images", perStep: 64, warm: 3, steps: 20}
	set := train.Head(64 * (w.warm + w.steps))
	w.fit = func(g dist.Group, steps int, onStep func(graph.Progress)) (*graph.Params, error) {
		net, err := cnn.NewSmallCNN(graph.NewParams(graph.Seed(1)))
		if err != nil {
			return nil, err
		}
		clf, err := cnn.NewClassifier(net)
		if err != nil {
			return nil, err
		}
		_, err = clf.Fit(set, graph.Steps(steps), graph.Batch(64), graph.Solver(solvers.NewAdam(1e-3)),
			graph.DataParallel(g), graph.OnStep(onStep))
		return clf.Params(), err
	}
	return w, nil
}

// newW2 is workload W2: a one-layer LSTM of 256 over one-hot characters of Moby Dick, 32
// streams, segments of 64 characters, Adam 2e-3, clipping at 5, float32.
func newW2() (workload, error) {
	text, err := builtin.MobyDick()
	if err != nil {
		return workload{}, err
	}
	text = data.ASCIIQuotes(text)[:200_000]
	vocab, err := data.NewCharVocab(text)
	if err != nil {
		return workload{}, err
	}
	ids := vocab.Encode(text)
	w := workload{name: "W2", unit: "tokens", perStep: 32 * 64, warm: 2, steps: 10}
	w.fit = func(g dist.Group, steps int, onStep func(graph.Progress)) (*graph.Params, error) {
		lm, err := rnn.NewLanguageModel(graph.NewParams(graph.Seed(1)), "w2", vocab, rnn.Config{Kind: rnn.LSTM, Hidden: 256})
		if err != nil {
			return nil, err
		}
		it, err := data.NewSequentialBatches(ids, 32, 64)
		if err != nil {
			return nil, err
		}
		_, err = lm.Fit(it, graph.Steps(steps), graph.Solver(solvers.NewAdam(2e-3)), graph.ClipNorm(5),
			graph.DataParallel(g), graph.OnStep(onStep))
		return lm.Params(), err
	}
	return w, nil
}

// timedGroup adds up, for the all-reduces of a group of several ranks, the time spent in a
// barrier before each (waiting for the slowest rank) and in the all-reduce itself.
type timedGroup struct {
	dist.Group
	mu           sync.Mutex
	reduce, wait time.Duration
}

// timed runs the barrier and then f, and adds up their times.
func (t *timedGroup) timed(f func() error) error {
	start := time.Now()
	if t.Size() > 1 {
		if err := t.Barrier(); err != nil {
			return err
		}
	}
	met := time.Now()
	err := f()
	t.mu.Lock()
	t.wait += met.Sub(start)
	t.reduce += time.Since(met)
	t.mu.Unlock()
	return err
}

func (t *timedGroup) reset() {
	t.mu.Lock()
	t.reduce, t.wait = 0, 0
	t.mu.Unlock()
}

func (t *timedGroup) spent() (reduce, wait time.Duration) {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.reduce, t.wait
}

func (t *timedGroup) AllReduceSum32(buf []float32) error {
	return t.timed(func() error { return t.Group.AllReduceSum32(buf) })
}

func (t *timedGroup) AllReduceSum64(buf []float64) error {
	return t.timed(func() error { return t.Group.AllReduceSum64(buf) })
}

func median(v []float64) float64 {
	s := slices.Sorted(slices.Values(v))
	if len(s)%2 == 1 {
		return s[len(s)/2]
	}
	return (s[len(s)/2-1] + s[len(s)/2]) / 2
}

// thousands formats a rate with thousands separators: 12,345.
func thousands(v float64) string {
	s := fmt.Sprint(int64(math.Round(v)))
	var b strings.Builder
	for i, r := range s {
		if i > 0 && (len(s)-i)%3 == 0 {
			b.WriteByte(',')
		}
		b.WriteRune(r)
	}
	return b.String()
}
