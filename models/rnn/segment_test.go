package rnn

import (
	"fmt"
	"math"
	"math/rand/v2"
	"path/filepath"
	"testing"

	"gorgonia.org/gorgonia"
	"gorgonia.org/tensor"

	"github.com/unroll-ml/unroll/graph"
	"github.com/unroll-ml/unroll/nodes"
	"github.com/unroll-ml/unroll/solvers"
)

// lossProgram compiles an evaluation graph of net over k steps whose initial state is fed as
// inputs named like the trainer's carried state, and returns a function giving the loss for
// feeds. It is independent of the trainer: its own graph, run forward only.
func lossProgram(t *testing.T, net *Net, batch, k int) func(graph.Feeds) float64 {
	t.Helper()
	b := graph.NewBuilder(net.Params(), graph.Eval)
	D := net.Recurrent().Directions()
	var init []nodes.State
	for i, c := range net.Cells() {
		var s nodes.State
		var err error
		if s.H, err = b.Input(StateName(false, i/D, i%D == 1), batch, c.HiddenSize()); err != nil {
			t.Fatal(err)
		}
		if c.HasCell() {
			if s.C, err = b.Input(StateName(true, i/D, i%D == 1), batch, c.HiddenSize()); err != nil {
				t.Fatal(err)
			}
		}
		init = append(init, s)
	}
	seq, err := net.Build(b, batch, k, init)
	if err != nil {
		t.Fatal(err)
	}
	prog, err := graph.Compile(b, map[string]*gorgonia.Node{"loss": seq.Loss})
	if err != nil {
		t.Fatal(err)
	}
	return func(f graph.Feeds) float64 {
		out, err := prog.Run(f)
		if err != nil {
			t.Fatal(err)
		}
		v, _ := graph.Scalar(out["loss"])
		return v
	}
}

// finiteDiff returns central differences of loss with respect to every element of every
// trainable parameter of ps.
func finiteDiff(ps *graph.Params, loss func() float64) map[string][]float64 {
	const eps = 1e-5
	out := map[string][]float64{}
	for _, name := range ps.Trainable() {
		xs := ps.Value(name).Data().([]float64)
		g := make([]float64, len(xs))
		for i, x0 := range xs {
			xs[i] = x0 + eps
			lp := loss()
			xs[i] = x0 - eps
			lm := loss()
			xs[i] = x0
			g[i] = (lp - lm) / (2 * eps)
		}
		out[name] = g
	}
	return out
}

// maxGradDiff compares analytic gradients with numeric ones and returns the largest
// difference relative to the largest numeric element of each tensor.
func maxGradDiff(t *testing.T, analytic map[string]*tensor.Dense, numeric map[string][]float64) float64 {
	t.Helper()
	worst := 0.0
	for name, num := range numeric {
		an := graph.Float64s(analytic[name])
		scale := 1e-8
		for _, v := range num {
			scale = math.Max(scale, math.Abs(v))
		}
		for i := range num {
			worst = math.Max(worst, math.Abs(an[i]-num[i])/scale)
		}
	}
	return worst
}

func zeroState(net *Net, batch int) graph.Feeds {
	f := graph.Feeds{}
	D := net.Recurrent().Directions()
	for i, c := range net.Cells() {
		f[StateName(false, i/D, i%D == 1)] = graph.NewTensor(tensor.Float64, []int{batch, c.HiddenSize()}, nil)
		if c.HasCell() {
			f[StateName(true, i/D, i%D == 1)] = graph.NewTensor(tensor.Float64, []int{batch, c.HiddenSize()}, nil)
		}
	}
	return f
}

func merge(fs ...graph.Feeds) graph.Feeds {
	out := graph.Feeds{}
	for _, f := range fs {
		for k, v := range f {
			out[k] = v
		}
	}
	return out
}

// With K = T, the trainer's gradients are those of the loss over the whole sequence:
// backpropagation through time, checked against finite differences.
func TestSegmentFullBPTT(t *testing.T) {
	const batch, steps = 2, 6
	for _, kind := range Kinds() {
		t.Run(kind.String(), func(t *testing.T) {
			ps := graph.NewParams(graph.Seed(21), graph.Dtype(tensor.Float64))
			net, err := NewNet(ps, "", kind, 3, 4, 3, Layers(2), Masked())
			if err != nil {
				t.Fatal(err)
			}
			bt := randBatch(rand.New(rand.NewPCG(1, 1)), net, batch, steps, []int{6, 4})
			tr, err := NewSegmentTrainer(net, solvers.NewSGD(0.1), batch, steps, ZeroState())
			if err != nil {
				t.Fatal(err)
			}
			segs, err := tr.Gradients(bt)
			if err != nil {
				t.Fatal(err)
			}
			if len(segs) != 1 {
				t.Fatalf("%d segments, want 1", len(segs))
			}
			feeds, err := net.Feeds(bt, 0, steps)
			if err != nil {
				t.Fatal(err)
			}
			loss := lossProgram(t, net, batch, steps)
			feeds = merge(feeds, zeroState(net, batch))
			if l := loss(feeds); math.Abs(l-segs[0].Loss) > 1e-12 {
				t.Fatalf("loss %v, reference %v", segs[0].Loss, l)
			}
			num := finiteDiff(ps, func() float64 { return loss(feeds) })
			if d := maxGradDiff(t, segs[0].Grads, num); d > 1e-6 {
				t.Fatalf("gradient differs from finite differences by %.3g (relative to the largest element)", d)
			} else {
				t.Logf("largest difference %.3g", d)
			}
		})
	}
}

// With K < T, each segment's gradient is the finite-difference gradient of that segment's loss
// with its initial state held fixed; the state it starts from does depend on the earlier
// inputs, and the gradient through that dependence is left out: the truncation is real.
func TestSegmentTruncated(t *testing.T) {
	const batch, steps, k = 2, 6, 2
	for _, kind := range Kinds() {
		t.Run(kind.String(), func(t *testing.T) {
			ps := graph.NewParams(graph.Seed(22), graph.Dtype(tensor.Float64))
			net, err := NewNet(ps, "", kind, 3, 4, 3)
			if err != nil {
				t.Fatal(err)
			}
			r := rand.New(rand.NewPCG(2, 2))
			bt := randBatch(r, net, batch, steps, nil)
			tr, err := NewSegmentTrainer(net, solvers.NewSGD(0.1), batch, k)
			if err != nil {
				t.Fatal(err)
			}
			segs, err := tr.Gradients(bt)
			if err != nil {
				t.Fatal(err)
			}
			if len(segs) != steps/k {
				t.Fatalf("%d segments, want %d", len(segs), steps/k)
			}
			segLoss := lossProgram(t, net, batch, k)
			for s, sg := range segs {
				feeds, err := net.Feeds(bt, s*k, k)
				if err != nil {
					t.Fatal(err)
				}
				feeds = merge(feeds, sg.Initial)
				num := finiteDiff(ps, func() float64 { return segLoss(feeds) })
				if d := maxGradDiff(t, sg.Grads, num); d > 1e-6 {
					t.Fatalf("segment %d: gradient differs from finite differences with the initial state held by %.3g", s, d)
				}
			}

			// The last segment starts from a state that depends on the first segment's inputs.
			last := segs[len(segs)-1]
			bt2 := &Batch{X: bt.X.Clone().(*tensor.Dense), Y: bt.Y}
			bt2.X.Data().([]float64)[0] += 0.5 // sequence 0, step 0
			segs2, err := tr.Gradients(bt2)
			if err != nil {
				t.Fatal(err)
			}
			h := StateName(false, 0, false)
			if d := maxAbsDiff(last.Initial[h], segs2[len(segs2)-1].Initial[h]); d < 1e-6 {
				t.Fatalf("the last segment's initial state does not depend on step 0 (difference %g)", d)
			}

			// The full gradient of the last segment's loss (through all T steps) differs from
			// the truncated one.
			full, err := net.Feeds(bt, 0, steps)
			if err != nil {
				t.Fatal(err)
			}
			w := full["w"].Data().([]float64)
			for i := range w {
				if i < (steps-k)*batch {
					w[i] = 0
				} else {
					w[i] = 1 / float64(k*batch)
				}
			}
			fullLoss := lossProgram(t, net, batch, steps)
			full = merge(full, zeroState(net, batch))
			if l := fullLoss(full); math.Abs(l-last.Loss) > 1e-12 {
				t.Fatalf("last segment's loss %v, over the whole sequence %v", last.Loss, l)
			}
			numFull := finiteDiff(ps, func() float64 { return fullLoss(full) })
			d := maxGradDiff(t, last.Grads, numFull)
			if d < 1e-3 {
				t.Fatalf("the truncated gradient equals the full one (difference %.3g): nothing was truncated", d)
			}
			t.Logf("truncated vs full gradient of the last segment's loss: largest relative difference %.3g", d)
		})
	}
}

func maxAbsDiff(a, b *tensor.Dense) float64 {
	x, y := graph.Float64s(a), graph.Float64s(b)
	d := 0.0
	for i := range x {
		d = math.Max(d, math.Abs(x[i]-y[i]))
	}
	return d
}

// Step carries the state from segment to segment and from batch to batch (or not, with
// ZeroState), and a checkpoint restores parameters, solver and carried state so that training
// resumes bit for bit.
func TestSegmentStepAndCheckpoint(t *testing.T) {
	const batch, steps, k = 3, 8, 4
	make := func(opts ...TrainerOption) (*Net, *SegmentTrainer) {
		ps := graph.NewParams(graph.Seed(4))
		net, err := NewNet(ps, "lm", LSTM, 5, 6, 7, Embed(7), Layers(2))
		if err != nil {
			t.Fatal(err)
		}
		tr, err := NewSegmentTrainer(net, solvers.NewAdam(1e-2), batch, k, append(opts, ClipNorm(1))...)
		if err != nil {
			t.Fatal(err)
		}
		return net, tr
	}
	r := rand.New(rand.NewPCG(8, 8))
	net, tr := make()
	var batches []*Batch
	for i := 0; i < 5; i++ {
		batches = append(batches, randBatch(r, net, batch, steps, nil))
	}
	first, err := tr.Step(batches[0])
	if err != nil {
		t.Fatal(err)
	}
	if len(first.Losses) != 2 || first.Updates != 2 {
		t.Fatalf("one batch of %d steps in segments of %d: %d losses, %d updates", steps, k, len(first.Losses), first.Updates)
	}
	if d := maxAbsDiff(tr.State()[StateName(false, 1, false)], graph.NewTensor(tensor.Float32, []int{batch, 6}, nil)); d == 0 {
		t.Fatal("no state carried after a batch")
	}

	dir := t.TempDir()
	path := filepath.Join(dir, "lm.safetensors")
	if err := tr.SaveCheckpoint(path, &graph.Extra{Meta: map[string]string{"note": "x"}}); err != nil {
		t.Fatal(err)
	}
	for _, bt := range batches[1:] {
		if _, err := tr.Step(bt); err != nil {
			t.Fatal(err)
		}
	}
	want := net.Params().Clone(tensor.Float32)

	net2, tr2 := make()
	extra, err := tr2.LoadCheckpoint(path)
	if err != nil {
		t.Fatal(err)
	}
	if extra.Meta["note"] != "x" || len(extra.Tensors) != 0 {
		t.Fatalf("extra not returned as saved: %+v", extra)
	}
	for _, bt := range batches[1:] {
		if _, err := tr2.Step(bt); err != nil {
			t.Fatal(err)
		}
	}
	for _, name := range want.Names() {
		if d := maxAbsDiff(want.Value(name), net2.Params().Value(name)); d != 0 {
			t.Fatalf("%s differs by %g after resuming", name, d)
		}
	}

	// ZeroState: the same batch twice gives the same loss; carrying state it does not.
	_, trz := make(ZeroState())
	_, trc := make()
	lz, lc := []float64{}, []float64{}
	for i := 0; i < 2; i++ {
		trz.ResetState()
		rz, err := trz.Gradients(batches[0])
		if err != nil {
			t.Fatal(err)
		}
		lz = append(lz, rz[0].Loss)
		rc, err := trc.Gradients(batches[0])
		if err != nil {
			t.Fatal(err)
		}
		lc = append(lc, rc[0].Loss)
		if _, err := trc.Trainer().Program().Run(mustFeeds(t, trc.net, batches[0])); err != nil {
			t.Fatal(err)
		}
		if _, err := trz.Trainer().Program().Run(mustFeeds(t, trz.net, batches[0])); err != nil {
			t.Fatal(err)
		}
	}
	if lz[0] != lz[1] {
		t.Errorf("zero state: losses %v differ", lz)
	}
	if lc[0] == lc[1] {
		t.Errorf("carried state: losses %v are equal", lc)
	}
}

func mustFeeds(t *testing.T, n *Net, bt *Batch) graph.Feeds {
	f, err := n.Feeds(bt, 0, 4)
	if err != nil {
		t.Fatal(err)
	}
	return f
}

func TestSegmentErrors(t *testing.T) {
	ps := graph.NewParams()
	net, err := NewNet(ps, "tagger", GRU, 3, 4, 2, Masked())
	if err != nil {
		t.Fatal(err)
	}
	bi, err := NewNet(ps, "bi", GRU, 3, 4, 2, Bidirectional())
	if err != nil {
		t.Fatal(err)
	}
	one, err := NewNet(ps, "clf", LSTM, 3, 4, 2, WithReadout(LastState))
	if err != nil {
		t.Fatal(err)
	}
	r := rand.New(rand.NewPCG(1, 2))
	for _, tc := range []struct {
		name string
		err  func() error
		want string
	}{
		{"K < 1", func() error { _, err := NewSegmentTrainer(net, solvers.NewSGD(1), 2, 0); return err }, "segment trainer: segment length K = 0 must be at least 1"},
		{"bidirectional carry", func() error { _, err := NewSegmentTrainer(bi, solvers.NewSGD(1), 2, 4); return err }, "segment trainer: a bidirectional network reads each sequence backwards too, so its state cannot be carried from batch to batch: use ZeroState"},
		{"batch size", func() error { return stepErr(net, 3, 4, randBatch(r, net, 2, 4, []int{4, 2})) }, "segment trainer: batch of 2 sequences, the graph is compiled for 3"},
		{"whole segments", func() error { return stepErr(net, 2, 4, randBatch(r, net, 2, 6, []int{4, 2})) }, "segment trainer: 6 steps are not a whole number of segments of K = 4"},
		{"readout K", func() error { return stepErr(one, 2, 4, randBatch(r, one, 2, 8, nil)) }, "segment trainer: a last state readout has one loss at the end of the sequence: K must equal the 8 steps, is 4"},
		{"mask shape", func() error {
			bt := randBatch(r, net, 2, 4, []int{4, 2})
			bt.Mask = graph.NewTensor(tensor.Float64, []int{2, 3}, nil)
			return stepErr(net, 2, 4, bt)
		}, "tagger: mask must be (2, 4) (batch, steps), has shape (2, 3)"},
		{"no mask", func() error {
			bt := randBatch(r, net, 2, 4, nil)
			return stepErr(net, 2, 4, bt)
		}, "tagger: the net is masked and the batch has no mask"},
		{"input width", func() error {
			bt := randBatch(r, net, 2, 4, []int{4, 2})
			bt.X = graph.NewTensor(tensor.Float64, []int{2, 4, 5}, nil)
			return stepErr(net, 2, 4, bt)
		}, "tagger: inputs must be (batch, steps, 3), have shape (2, 4, 5)"},
		{"empty sequence", func() error {
			bt := &Batch{X: tensor.New(tensor.WithShape(2, 0, 3), tensor.Of(tensor.Float64)), Y: tensor.New(tensor.WithShape(2, 0), tensor.Of(tensor.Float64)), Mask: tensor.New(tensor.WithShape(2, 0), tensor.Of(tensor.Float64))}
			return stepErr(net, 2, 4, bt)
		}, "tagger: empty batch: inputs have shape (2, 0, 3)"},
		{"class id", func() error {
			bt := randBatch(r, net, 2, 4, []int{4, 2})
			bt.Y.Data().([]float64)[3] = 2
			return stepErr(net, 2, 4, bt)
		}, "tagger: target 2 at position 3 is not a class id in [0, 2)"},
	} {
		if err := tc.err(); err == nil || err.Error() != tc.want {
			t.Errorf("%s: got %v, want %q", tc.name, err, tc.want)
		}
	}
}

func stepErr(net *Net, batch, k int, bt *Batch) error {
	tr, err := NewSegmentTrainer(net, solvers.NewSGD(0.1), batch, k, ZeroState())
	if err != nil {
		return err
	}
	_, err = tr.Step(bt)
	return err
}

var _ = fmt.Sprint
