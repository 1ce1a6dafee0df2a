// Command soak trains one of the standard workloads (bench/WORKLOADS.md) for many steps,
// writing a checkpoint every so often as a long run would, and samples the process's resident
// set size (VmRSS in /proc/self/status) and the Go heap as it goes, to show that memory stays
// flat once the first steps have allocated what training needs.
//
//	go run ./bench/soak -workload w2 -steps 10000 -csv soak-w2.csv
//
// It prints one line per sample and a summary: the resident set size at the end of the
// warm-up (the baseline), the mean of the last tenth of the samples, their ratio minus one
// (the growth) and the least-squares slope of the samples after the warm-up. It exits with
// status 1 when the growth is above -max-growth. bench/soak.sh runs it for W1 and W2.
//
// W1 is the W1 net on the built-in MNIST training set (batch 64, Adam 1e-3). W2 is the
// character LSTM on Moby Dick (one-hot input, hidden 256, segments of 64 steps, batch 32,
// Adam 2e-3, clip 5), its vocabulary filled up to 96 ids (95 characters and the unknown
// symbol) with printable ASCII characters the book does not use, as WORKLOADS.md's W2 has.
package main

import (
	"bufio"
	"errors"
	"flag"
	"fmt"
	"io"
	"math"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/unroll-ml/unroll/data"
	"github.com/unroll-ml/unroll/data/builtin"
	"github.com/unroll-ml/unroll/graph"
	"github.com/unroll-ml/unroll/models/cnn"
	"github.com/unroll-ml/unroll/models/rnn"
	"github.com/unroll-ml/unroll/solvers"
)

type config struct {
	workload   string
	steps      int
	every      int
	warmup     int
	ckptEvery  int
	maxGrowth  float64
	csvPath    string
	seed       uint64
	checkpoint string // directory of the checkpoint; a temporary one when empty
}

// sample is one measurement, taken after step Step.
type sample struct {
	Step      int
	Seconds   float64
	RSS       int64 // bytes
	HeapAlloc uint64
	HeapSys   uint64
	NumGC     uint32
	Loss      float64
}

func main() {
	if err := run(os.Args[1:], os.Stdout); err != nil {
		fmt.Fprintf(os.Stderr, "soak: %v\n", strings.ReplaceAll(err.Error(), "\n", " "))
		os.Exit(1)
	}
}

func run(args []string, out io.Writer) error {
	fs := flag.NewFlagSet("soak", flag.ContinueOnError)
	var c config
	fs.StringVar(&c.workload, "workload", "w2", "w1 (the CNN) or w2 (the character LSTM)")
	fs.IntVar(&c.steps, "steps", 10000, "training steps")
	fs.IntVar(&c.every, "every", 100, "sample memory every this many steps")
	fs.IntVar(&c.warmup, "warmup", 1000, "steps before the baseline sample")
	fs.IntVar(&c.ckptEvery, "checkpoint-every", 500, "write a checkpoint every this many steps (0: never)")
	fs.Float64Var(&c.maxGrowth, "max-growth", 0.05, "largest allowed growth of the resident set after the warm-up")
	fs.StringVar(&c.csvPath, "csv", "", "write the samples to this CSV file")
	fs.Uint64Var(&c.seed, "seed", 1, "random seed")
	fs.StringVar(&c.checkpoint, "checkpoint-dir", "", "directory for the checkpoint (default: a temporary directory, removed at the end)")
	if err := fs.Parse(args); err != nil {
		return err
	}
	switch {
	case c.workload != "w1" && c.workload != "w2":
		return fmt.Errorf("-workload %q: want w1 or w2", c.workload)
	case c.steps < 1 || c.every < 1 || c.warmup < 0 || c.ckptEvery < 0:
		return errors.New("-steps and -every must be positive, -warmup and -checkpoint-every not negative")
	case c.warmup+2*c.every > c.steps:
		return fmt.Errorf("-warmup %d leaves too few steps of %d to sample every %d", c.warmup, c.steps, c.every)
	case !(c.maxGrowth > 0):
		return fmt.Errorf("-max-growth %v must be positive", c.maxGrowth)
	}
	if _, err := readRSS(); err != nil {
		return fmt.Errorf("the resident set size is read from /proc/self/status: %w", err)
	}
	dir := c.checkpoint
	if dir == "" {
		tmp, err := os.MkdirTemp("", "unroll-soak-")
		if err != nil {
			return err
		}
		defer os.RemoveAll(tmp)
		dir = tmp
	}
	var samples []sample
	start := time.Now()
	record := func(step int, loss float64) error {
		if step%c.every != 0 && step != c.steps {
			return nil
		}
		rss, err := readRSS()
		if err != nil {
			return err
		}
		var ms runtime.MemStats
		runtime.ReadMemStats(&ms)
		s := sample{Step: step, Seconds: time.Since(start).Seconds(), RSS: rss, HeapAlloc: ms.HeapAlloc,
			HeapSys: ms.HeapSys, NumGC: ms.NumGC, Loss: loss}
		samples = append(samples, s)
		fmt.Fprintf(out, "step %6d  %7.0f s  rss %7.1f MiB  heap %7.1f MiB (sys %7.1f)  gc %5d  loss %.4f\n",
			s.Step, s.Seconds, mib(s.RSS), mib(int64(s.HeapAlloc)), mib(int64(s.HeapSys)), s.NumGC, s.Loss)
		return nil
	}
	var err error
	if c.workload == "w1" {
		err = soakW1(c, filepath.Join(dir, "w1.safetensors"), record, out)
	} else {
		err = soakW2(c, filepath.Join(dir, "w2.safetensors"), record, out)
	}
	if err != nil {
		return err
	}
	if c.csvPath != "" {
		if err := writeCSV(c.csvPath, samples); err != nil {
			return err
		}
	}
	return summarise(c, samples, time.Since(start), out)
}

// soakW1 trains the W1 net (cnn.NewSmallCNN) on MNIST for c.steps steps.
func soakW1(c config, ckpt string, record func(int, float64) error, out io.Writer) error {
	train, _, err := builtin.MNIST()
	if err != nil {
		return err
	}
	net, err := cnn.NewSmallCNN(graph.NewParams(graph.Seed(c.seed)))
	if err != nil {
		return err
	}
	clf, err := cnn.NewClassifier(net)
	if err != nil {
		return err
	}
	fmt.Fprintf(out, "W1: %s, batch 64, Adam 1e-3, %d training images, %d steps, checkpoint every %d\n",
		net.Name(), train.Len(), c.steps, c.ckptEvery)
	var failed error
	opts := []graph.FitOption{graph.Epochs(c.steps/(train.Len()/64) + 1), graph.Steps(c.steps), graph.Batch(64),
		graph.Solver(solvers.NewAdam(1e-3)), graph.OnStep(func(p graph.Progress) {
			if failed == nil {
				failed = record(p.Step, p.Loss)
			}
		})}
	if c.ckptEvery > 0 {
		opts = append(opts, graph.Checkpoints(ckpt, c.ckptEvery))
	}
	if _, err := clf.Fit(train, opts...); err != nil {
		return err
	}
	return failed
}

// soakW2 trains the W2 character LSTM on Moby Dick for c.steps steps.
func soakW2(c config, ckpt string, record func(int, float64) error, out io.Writer) error {
	text, err := builtin.MobyDick()
	if err != nil {
		return err
	}
	text = data.ASCIIQuotes(text)
	vocab, err := data.NewCharVocab(text + fillerCharacters(text, 95))
	if err != nil {
		return err
	}
	ps := graph.NewParams(graph.Seed(c.seed))
	lm, err := rnn.NewLanguageModel(ps, "", vocab, rnn.Config{Kind: rnn.LSTM, Hidden: 256})
	if err != nil {
		return err
	}
	batches, err := data.NewSequentialBatches(vocab.Encode(text), 32, 64)
	if err != nil {
		return err
	}
	fmt.Fprintf(out, "W2: character LSTM, vocabulary %d one-hot, hidden 256, segments of 64, batch 32, Adam 2e-3, clip 5, %d steps, checkpoint every %d\n",
		vocab.Size(), c.steps, c.ckptEvery)
	var failed error
	opts := []graph.FitOption{graph.Steps(c.steps), graph.Solver(solvers.NewAdam(2e-3)), graph.ClipNorm(5),
		graph.OnStep(func(p graph.Progress) {
			if failed == nil {
				failed = record(p.Step, p.Loss)
			}
		})}
	if c.ckptEvery > 0 {
		opts = append(opts, graph.Checkpoints(ckpt, c.ckptEvery))
	}
	if _, err := lm.Fit(batches, opts...); err != nil {
		return err
	}
	return failed
}

// fillerCharacters returns printable ASCII characters that text lacks, as many as bring the
// number of distinct characters to n (or all of them when there are too few).
func fillerCharacters(text string, n int) string {
	seen := map[rune]bool{}
	for _, r := range text {
		seen[r] = true
	}
	var b strings.Builder
	for r := rune(' '); r <= '~' && len(seen) < n; r++ {
		if !seen[r] {
			seen[r] = true
			b.WriteRune(r)
		}
	}
	return b.String()
}

// readRSS returns the resident set size of this process in bytes.
func readRSS() (int64, error) {
	f, err := os.Open("/proc/self/status")
	if err != nil {
		return 0, err
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if rest, ok := strings.CutPrefix(sc.Text(), "VmRSS:"); ok {
			fields := strings.Fields(rest)
			if len(fields) != 2 || fields[1] != "kB" {
				return 0, fmt.Errorf("unexpected VmRSS line %q", sc.Text())
			}
			kb, err := strconv.ParseInt(fields[0], 10, 64)
			if err != nil {
				return 0, err
			}
			return kb << 10, nil
		}
	}
	if err := sc.Err(); err != nil {
		return 0, err
	}
	return 0, errors.New("no VmRSS line")
}

func mib(b int64) float64 { return float64(b) / (1 << 20) }

func writeCSV(path string, samples []sample) error {
	var b strings.Builder
	b.WriteString("step,seconds,rss_bytes,heap_alloc_bytes,heap_sys_bytes,num_gc,loss\n")
	for _, s := range samples {
		fmt.Fprintf(&b, "%d,%.3f,%d,%d,%d,%d,%.6f\n", s.Step, s.Seconds, s.RSS, s.HeapAlloc, s.HeapSys, s.NumGC, s.Loss)
	}
	return os.WriteFile(path, []byte(b.String()), 0o644)
}

// summarise compares the resident set after the warm-up with the last tenth of the run.
func summarise(c config, samples []sample, took time.Duration, out io.Writer) error {
	var after []sample
	for _, s := range samples {
		if s.Step >= c.warmup {
			after = append(after, s)
		}
	}
	if len(after) < 2 {
		return fmt.Errorf("%d samples after the warm-up: too few", len(after))
	}
	base := after[0]
	tail := after[len(after)-max(1, len(after)/10):]
	var tailRSS float64
	for _, s := range tail {
		tailRSS += float64(s.RSS) / float64(len(tail))
	}
	peak := slices.MaxFunc(after, func(a, b sample) int { return int(a.RSS - b.RSS) })
	// Least-squares slope of RSS against step after the warm-up.
	var n, sx, sy, sxx, sxy float64
	for _, s := range after {
		x, y := float64(s.Step), float64(s.RSS)
		n++
		sx += x
		sy += y
		sxx += x * x
		sxy += x * y
	}
	slope := (n*sxy - sx*sy) / (n*sxx - sx*sx) // bytes per step
	growth := tailRSS/float64(base.RSS) - 1
	first := samples[0]
	fmt.Fprintf(out, "\n%s, %d steps in %s (%.1f steps/s)\n", strings.ToUpper(c.workload), c.steps, took.Round(time.Second), float64(c.steps)/took.Seconds())
	fmt.Fprintf(out, "rss at step %d: %.1f MiB; at step %d (end of warm-up, baseline): %.1f MiB; peak after it %.1f MiB at step %d\n",
		first.Step, mib(first.RSS), base.Step, mib(base.RSS), mib(peak.RSS), peak.Step)
	fmt.Fprintf(out, "mean rss over the last %d samples (steps %d-%d): %.1f MiB: growth %+.2f%% over the baseline (limit %.0f%%)\n",
		len(tail), tail[0].Step, tail[len(tail)-1].Step, tailRSS/(1<<20), 100*growth, 100*c.maxGrowth)
	fmt.Fprintf(out, "least-squares slope after the warm-up: %+.3f MiB per 1,000 steps; heap in use at the end %.1f MiB after %d collections\n",
		slope*1000/(1<<20), mib(int64(samples[len(samples)-1].HeapAlloc)), samples[len(samples)-1].NumGC)
	if math.IsNaN(growth) || growth > c.maxGrowth {
		return fmt.Errorf("the resident set grew %.2f%% after the warm-up, more than %.0f%%", 100*growth, 100*c.maxGrowth)
	}
	return nil
}
