package rnn

import (
	"math"
	"math/rand/v2"
	"testing"

	"gorgonia.org/gorgonia"
	"gorgonia.org/tensor"

	"github.com/unroll-ml/unroll/data"
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
			segs, err := newSegments(net, false).gradients(bt, steps)
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
			tr := newSegments(net, false)
			segs, err := tr.gradients(bt, k)
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
			bt2 := &data.SequenceBatch{X: bt.X.Clone().(*tensor.Dense), Y: bt.Y}
			bt2.X.Data().([]float64)[0] += 0.5 // sequence 0, step 0
			segs2, err := tr.gradients(bt2, k)
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

// trainBatch passes the state from segment to segment within a batch and, with carry, from
// batch to batch; without it every batch starts from zero. A solver of learning rate 0 keeps
// the parameters, so only the starting state changes the loss. A batch whose steps are no
// whole number of segments ends with a shorter one, and the loss is the mean over the steps.
func TestSegmentsCarryState(t *testing.T) {
	const batch, steps, k = 3, 8, 4
	ps := graph.NewParams(graph.Seed(4))
	net, err := NewNet(ps, "lm", LSTM, 5, 6, 7, Embed(7), Layers(2))
	if err != nil {
		t.Fatal(err)
	}
	cfg, err := graph.NewFitConfig(graph.Solver(solvers.NewSGD(0)), graph.Segment(k), graph.ClipNorm(1))
	if err != nil {
		t.Fatal(err)
	}
	bt := randBatch(rand.New(rand.NewPCG(8, 8)), net, batch, steps, nil)
	tr := newSegments(net, false)
	loss := func(carry bool) float64 {
		t.Helper()
		st, err := tr.trainBatch(bt, cfg, carry)
		if err != nil {
			t.Fatal(err)
		}
		if st.Examples != batch*steps || st.Correct != -1 {
			t.Fatalf("batch stats %+v", st)
		}
		return st.Loss
	}
	first := loss(false)
	segs, err := newSegments(net, false).gradients(bt, k)
	if err != nil {
		t.Fatal(err)
	}
	if want := (segs[0].Loss + segs[1].Loss) / 2; math.Abs(first-want) > 1e-6 {
		t.Fatalf("batch loss %v, mean of its segments' %v", first, want)
	}
	if d := maxAbsDiff(tr.state()[StateName(false, 1, false)], graph.NewTensor(tensor.Float32, []int{batch, 6}, nil)); d == 0 {
		t.Fatal("no state carried out of a batch")
	}
	if carried := loss(true); carried == first {
		t.Errorf("the batch again from the carried state gives the same loss %v", carried)
	}
	if zero := loss(false); zero != first {
		t.Errorf("the batch again from zero state gives %v, first %v", zero, first)
	}

	// Segments of 3 steps: 3 + 3 + 2.
	cfg.Segment = 3
	odd := loss(false)
	segs, err = newSegments(net, false).gradients(bt, 3)
	if err != nil {
		t.Fatal(err)
	}
	if len(segs) != 3 {
		t.Fatalf("%d segments of 3 in 8 steps, want 3", len(segs))
	}
	if want := (3*segs[0].Loss + 3*segs[1].Loss + 2*segs[2].Loss) / 8; math.Abs(odd-want) > 1e-6 {
		t.Fatalf("batch loss %v in segments of 3, 3 and 2; their weighted mean %v", odd, want)
	}
}

// Bad batches and segments the net cannot train are errors that say why.
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
	carried := newSegments(net, false)
	for _, tc := range []struct {
		name string
		err  func() error
		want string
	}{
		{"bidirectional carry", func() error { return stepErr(bi, 4, randBatch(r, bi, 2, 4, nil), true) },
			"bi: a bidirectional network reads each sequence backwards too, so its state cannot be carried from batch to batch"},
		{"bidirectional segments", func() error { return stepErr(bi, 2, randBatch(r, bi, 2, 4, nil), false) },
			"bi: a bidirectional network must see the whole sequence: Segment(2) is shorter than the 4 steps (use 0 or 4)"},
		{"carried batch size", func() error {
			cfg, _ := graph.NewFitConfig(graph.Solver(solvers.NewSGD(0.1)))
			if _, err := carried.trainBatch(randBatch(r, net, 3, 4, []int{4, 2, 1}), cfg, false); err != nil {
				return err
			}
			_, err := carried.trainBatch(randBatch(r, net, 2, 4, []int{4, 2}), cfg, true)
			return err
		}, "tagger: the state carried from a batch of 3 sequences cannot start a batch of 2"},
		{"readout K", func() error { return stepErr(one, 4, randBatch(r, one, 2, 8, nil), false) },
			"clf: a last state readout has one loss at the end of the sequence, so truncated backpropagation through time cannot train it: Segment(4) is shorter than the 8 steps (use 0 or 8)"},
		{"mask shape", func() error {
			bt := randBatch(r, net, 2, 4, []int{4, 2})
			bt.Mask = graph.NewTensor(tensor.Float64, []int{2, 3}, nil)
			return stepErr(net, 4, bt, false)
		}, "tagger: mask must be (2, 4) (batch, steps), has shape (2, 3)"},
		{"no mask", func() error { return stepErr(net, 4, randBatch(r, net, 2, 4, nil), false) }, "tagger: the net is masked and the batch has no mask"},
		{"input width", func() error {
			bt := randBatch(r, net, 2, 4, []int{4, 2})
			bt.X = graph.NewTensor(tensor.Float64, []int{2, 4, 5}, nil)
			return stepErr(net, 4, bt, false)
		}, "tagger: inputs must be (batch, steps, 3), have shape (2, 4, 5)"},
		{"empty sequence", func() error {
			bt := &data.SequenceBatch{X: tensor.New(tensor.WithShape(2, 0, 3), tensor.Of(tensor.Float64)), Y: tensor.New(tensor.WithShape(2, 0), tensor.Of(tensor.Float64)), Mask: tensor.New(tensor.WithShape(2, 0), tensor.Of(tensor.Float64))}
			return stepErr(net, 4, bt, false)
		}, "tagger: empty batch: inputs have shape (2, 0, 3)"},
		{"class id", func() error {
			bt := randBatch(r, net, 2, 4, []int{4, 2})
			bt.Y.Data().([]float64)[3] = 2
			return stepErr(net, 4, bt, false)
		}, "tagger: target 2 at position 3 is not a class id in [0, 2)"},
		{"feeds of part of a sequence", func() error {
			_, err := one.Feeds(randBatch(r, one, 2, 8, nil), 4, 4)
			return err
		}, "clf: a last state readout reads the whole sequence: feed steps [0, 8), not [4, 8)"},
	} {
		if err := tc.err(); err == nil || err.Error() != tc.want {
			t.Errorf("%s: got %v, want %q", tc.name, err, tc.want)
		}
	}
}

func stepErr(net *Net, k int, bt *data.SequenceBatch, carry bool) error {
	cfg, err := graph.NewFitConfig(graph.Solver(solvers.NewSGD(0.1)), graph.Segment(k))
	if err != nil {
		return err
	}
	_, err = newSegments(net, false).trainBatch(bt, cfg, carry)
	return err
}
