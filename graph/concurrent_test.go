package graph_test

import (
	"bytes"
	"fmt"
	"math/rand/v2"
	"sync"
	"testing"

	"gorgonia.org/gorgonia"
	"gorgonia.org/tensor"

	"github.com/unroll-ml/unroll/graph"
	"github.com/unroll-ml/unroll/nodes"
	"github.com/unroll-ml/unroll/solvers"
)

// classifier is a small trained model for the concurrency tests: Dense(4->16), ReLU,
// Dense(16->3), softmax.
type classifier struct {
	ps       *graph.Params
	fc1, fc2 *nodes.Dense
}

func trainedClassifier(t testing.TB) *classifier {
	t.Helper()
	ps := graph.NewParams(graph.Seed(21))
	fc1, err := nodes.NewDense(ps, "fc1", 4, 16)
	if err != nil {
		t.Fatal(err)
	}
	fc2, err := nodes.NewDense(ps, "fc2", 16, 3)
	if err != nil {
		t.Fatal(err)
	}
	c := &classifier{ps: ps, fc1: fc1, fc2: fc2}
	b := graph.NewBuilder(ps, graph.Train)
	x, _ := b.Input("x", 8, 4)
	y, _ := b.Input("y", 8)
	logits, err := c.logits(b, x)
	if err != nil {
		t.Fatal(err)
	}
	loss, err := nodes.SoftmaxCrossEntropy(b, logits, y)
	if err != nil {
		t.Fatal(err)
	}
	tr, err := graph.NewTrainer(b, loss, solvers.NewAdam(1e-2))
	if err != nil {
		t.Fatal(err)
	}
	r := rand.New(rand.NewPCG(1, 2))
	for range 20 {
		xs := randTensor(r, tensor.Float32, 8, 4)
		labels := make([]float64, 8)
		for i := range labels {
			labels[i] = float64(r.IntN(3))
		}
		if _, err := tr.Step(graph.Feeds{"x": xs, "y": graph.NewTensor(tensor.Float32, []int{8}, labels)}); err != nil {
			t.Fatal(err)
		}
	}
	return c
}

func (c *classifier) logits(b *graph.Builder, x *gorgonia.Node) (*gorgonia.Node, error) {
	h, err := c.fc1.Forward(b, x)
	if err != nil {
		return nil, err
	}
	if h, err = (nodes.ReLU{}).Forward(b, h); err != nil {
		return nil, err
	}
	return c.fc2.Forward(b, h)
}

// predictor compiles an evaluation program of the classifier for batches of n.
func (c *classifier) predictor(n int) (*graph.Program, error) {
	b := graph.NewBuilder(c.ps, graph.Eval)
	x, err := b.Input("x", n, 4)
	if err != nil {
		return nil, err
	}
	logits, err := c.logits(b, x)
	if err != nil {
		return nil, err
	}
	probs, err := nodes.Softmax{}.Forward(b, logits)
	if err != nil {
		return nil, err
	}
	return graph.Compile(b, map[string]*gorgonia.Node{"probs": probs})
}

// TestProgramPerGoroutine serves one trained model from several goroutines at once, each with
// its own Program built from the same Params (a Program is not safe for concurrent use; the
// Params are only read by evaluation programs). Every goroutine's results must equal bit for
// bit those of the same inputs run one after another; `go test -race` checks that nothing is
// shared unsafely.
func TestProgramPerGoroutine(t *testing.T) {
	c := trainedClassifier(t)
	const workers, runs, batch = 4, 5, 6
	r := rand.New(rand.NewPCG(3, 4))
	inputs := make([][]*tensor.Dense, workers)
	for w := range inputs {
		for range runs {
			inputs[w] = append(inputs[w], randTensor(r, tensor.Float32, batch, 4))
		}
	}
	// One after another, with one program.
	seq, err := c.predictor(batch)
	if err != nil {
		t.Fatal(err)
	}
	want := make([][][]byte, workers)
	for w := range inputs {
		for _, x := range inputs[w] {
			out, err := seq.Run(graph.Feeds{"x": x})
			if err != nil {
				t.Fatal(err)
			}
			want[w] = append(want[w], bits(out["probs"]))
		}
	}
	// At once, a program per goroutine.
	got := make([][][]byte, workers)
	errs := make([]error, workers)
	var wg sync.WaitGroup
	for w := range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			p, err := c.predictor(batch)
			if err != nil {
				errs[w] = err
				return
			}
			defer p.Close()
			for _, x := range inputs[w] {
				out, err := p.Run(graph.Feeds{"x": x})
				if err != nil {
					errs[w] = err
					return
				}
				got[w] = append(got[w], bits(out["probs"]))
			}
		}()
	}
	wg.Wait()
	for w := range workers {
		if errs[w] != nil {
			t.Fatalf("goroutine %d: %v", w, errs[w])
		}
		for i := range want[w] {
			if !bytes.Equal(got[w][i], want[w][i]) {
				t.Errorf("goroutine %d, run %d: results differ from the sequential run", w, i)
			}
		}
	}
}

// ExampleProgram_concurrent serves a model from several goroutines: a Program is not safe for
// concurrent use, so each goroutine compiles its own from the same Params. The programs share
// the parameters (evaluation only reads them); each has its own buffers.
func ExampleProgram_concurrent() {
	ps := graph.NewParams(graph.Seed(1))
	fc, err := nodes.NewDense(ps, "fc", 2, 1, nodes.WeightInit(graph.Constant(0.5)), nodes.BiasInit(graph.Constant(1)))
	if err != nil {
		fmt.Println(err)
		return
	}
	// predictor builds one program; call it once per goroutine.
	predictor := func() (*graph.Program, error) {
		b := graph.NewBuilder(ps, graph.Eval)
		x, err := b.Input("x", 1, 2)
		if err != nil {
			return nil, err
		}
		y, err := fc.Forward(b, x)
		if err != nil {
			return nil, err
		}
		return graph.Compile(b, map[string]*gorgonia.Node{"y": y})
	}
	results := make([]float64, 3)
	var wg sync.WaitGroup
	for i := range results {
		wg.Add(1)
		go func() {
			defer wg.Done()
			p, err := predictor()
			if err != nil {
				return
			}
			defer p.Close()
			out, err := p.Run(graph.Feeds{"x": graph.NewTensor(ps.Dtype(), []int{1, 2}, []float64{float64(i), 2})})
			if err != nil {
				return
			}
			results[i] = graph.Float64s(out["y"])[0] // 0.5*i + 0.5*2 + 1
		}()
	}
	wg.Wait()
	fmt.Println(results)
	// Output: [2 2.5 3]
}
