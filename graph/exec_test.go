package graph_test

import (
	"math/rand/v2"
	"slices"
	"testing"

	"gorgonia.org/gorgonia"
	"gorgonia.org/tensor"

	"github.com/unroll-ml/unroll/graph"
	"github.com/unroll-ml/unroll/solvers"
)

// TestOutputsBelongToTheCaller runs a program twice: the first run's outputs keep their
// values through the second (the executor hands its buffers over, or copies), even when the
// same node is asked for under two names.
func TestOutputsBelongToTheCaller(t *testing.T) {
	ps := graph.NewParams(graph.Seed(2))
	m := newMLP(t, ps)
	b := graph.NewBuilder(ps, graph.Eval)
	x, _ := b.Input("x", 5, 4)
	out, err := m.Forward(b, x)
	if err != nil {
		t.Fatal(err)
	}
	prog, err := graph.Compile(b, map[string]*gorgonia.Node{"out": out, "again": out})
	if err != nil {
		t.Fatal(err)
	}
	r := rand.New(rand.NewPCG(1, 2))
	feeds := []graph.Feeds{{"x": randTensor(r, tensor.Float32, 5, 4)}, {"x": randTensor(r, tensor.Float32, 5, 4)}}
	var firsts []graph.Outputs
	for _, f := range feeds {
		o, err := prog.Run(f)
		if err != nil {
			t.Fatal(err)
		}
		firsts = append(firsts, o)
	}
	kept := graph.Float64s(firsts[0]["out"])
	if _, err := prog.Run(feeds[1]); err != nil {
		t.Fatal(err)
	}
	again, err := prog.Run(feeds[0])
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(kept, graph.Float64s(again["out"])) || !slices.Equal(kept, graph.Float64s(firsts[0]["out"])) {
		t.Errorf("the first run's output changed: %v, recomputed %v", graph.Float64s(firsts[0]["out"]), graph.Float64s(again["out"]))
	}
	if firsts[0]["out"] == firsts[0]["again"] || firsts[0]["out"] == firsts[1]["out"] {
		t.Error("two outputs share one tensor")
	}
	if !slices.Equal(graph.Float64s(firsts[0]["out"]), graph.Float64s(firsts[0]["again"])) {
		t.Error("one node gives two different outputs")
	}
	if slices.Equal(kept, graph.Float64s(firsts[1]["out"])) {
		t.Error("two different feeds gave the same output")
	}
}

// TestExecutorMatchesTapeMachine trains the same model a few steps with unroll's executor,
// which writes the gradients where the solver reads them, and with Gorgonia's TapeMachine
// (graph.WithVM): losses, gradient norms and parameters agree to the bit.
func TestExecutorMatchesTapeMachine(t *testing.T) {
	type run struct {
		ps    *graph.Params
		steps []*graph.StepResult
	}
	var runs [2]run
	for i, vm := range []graph.VM{graph.Executor, graph.TapeMachine} {
		ps := graph.NewParams(graph.Seed(3))
		m := newMLP(t, ps)
		b := graph.NewBuilder(ps, graph.Train)
		loss, _ := mseGraph(t, b, m, 6)
		tr, err := graph.NewTrainer(b, loss, solvers.NewAdam(1e-2), graph.WithVM(vm))
		if err != nil {
			t.Fatal(err)
		}
		r := rand.New(rand.NewPCG(4, 5))
		runs[i].ps = ps
		for step := 0; step < 3; step++ {
			res, err := tr.Step(batchFeeds(r, tensor.Float32, 6))
			if err != nil {
				t.Fatal(err)
			}
			runs[i].steps = append(runs[i].steps, res)
		}
	}
	for i, a := range runs[0].steps {
		if b := runs[1].steps[i]; a.Loss != b.Loss || a.GradNorm != b.GradNorm {
			t.Errorf("step %d: executor loss %v, gradient norm %v; tape %v, %v", i+1, a.Loss, a.GradNorm, b.Loss, b.GradNorm)
		}
	}
	for _, e := range runs[0].ps.Entries() {
		if !slices.Equal(graph.Float64s(e.Value), graph.Float64s(runs[1].ps.Value(e.Name))) {
			t.Errorf("%s differs between the executor and the TapeMachine", e.Name)
		}
	}
}

// TestRecycle gives a run's outputs back (twice over, which must not make two outputs share a
// tensor): the next run's outputs are right, distinct, and on unroll's executor written into
// the given-back tensors; on the TapeMachine Recycle changes nothing.
func TestRecycle(t *testing.T) {
	for _, vm := range []graph.VM{graph.Executor, graph.TapeMachine} {
		ps := graph.NewParams(graph.Seed(3))
		m := newMLP(t, ps)
		b := graph.NewBuilder(ps, graph.Eval)
		x, _ := b.Input("x", 5, 4)
		out, err := m.Forward(b, x)
		if err != nil {
			t.Fatal(err)
		}
		twice, err := gorgonia.HadamardProd(out, out)
		if err != nil {
			t.Fatal(err)
		}
		prog, err := graph.Compile(b, map[string]*gorgonia.Node{"out": out, "twice": twice}, graph.WithVM(vm))
		if err != nil {
			t.Fatal(err)
		}
		r := rand.New(rand.NewPCG(5, 6))
		fa, fb := graph.Feeds{"x": randTensor(r, tensor.Float32, 5, 4)}, graph.Feeds{"x": randTensor(r, tensor.Float32, 5, 4)}
		ref, err := prog.Run(fb)
		if err != nil {
			t.Fatal(err)
		}
		first, err := prog.Run(fa)
		if err != nil {
			t.Fatal(err)
		}
		given := map[uintptr]bool{first["out"].Uintptr(): true, first["twice"].Uintptr(): true}
		prog.Recycle(first)
		prog.Recycle(first)
		prog.Recycle(graph.Outputs{"nil": nil})
		next, err := prog.Run(fb)
		if err != nil {
			t.Fatal(err)
		}
		for _, name := range []string{"out", "twice"} {
			if !slices.Equal(graph.Float64s(next[name]), graph.Float64s(ref[name])) {
				t.Errorf("%v: %s after Recycle = %v, want %v", vm, name, graph.Float64s(next[name]), graph.Float64s(ref[name]))
			}
		}
		o, sq := graph.Float64s(next["out"]), graph.Float64s(next["twice"])
		for i := range o { // out is read by the product too: the TapeMachine computed it in place
			if sq[i] != float64(float32(o[i])*float32(o[i])) {
				t.Fatalf("%v: out[%d] = %v, its square %v", vm, i, o[i], sq[i])
			}
		}
		if next["out"].Uintptr() == next["twice"].Uintptr() {
			t.Errorf("%v: two outputs share one tensor after Recycle", vm)
		}
		reused := given[next["out"].Uintptr()] && given[next["twice"].Uintptr()]
		if want := vm == graph.Executor; reused != want {
			t.Errorf("%v: outputs written into the given-back tensors: %v, want %v", vm, reused, want)
		}
		prog.Close()
	}
}

// TestOutputFeedingAnInPlaceOp asks for an output that also feeds Gorgonia's elementwise
// product, which the TapeMachine may compute in place in the output's memory: the output must
// be the value the graph computes (the same as from a program that does not ask for the
// product), on both machines.
func TestOutputFeedingAnInPlaceOp(t *testing.T) {
	for _, vm := range []graph.VM{graph.Executor, graph.TapeMachine} {
		ps := graph.NewParams(graph.Seed(4))
		m := newMLP(t, ps)
		compile := func(withSquare bool) *graph.Program {
			b := graph.NewBuilder(ps, graph.Eval)
			x, _ := b.Input("x", 5, 4)
			out, err := m.Forward(b, x)
			if err != nil {
				t.Fatal(err)
			}
			outs := map[string]*gorgonia.Node{"out": out}
			if withSquare {
				if outs["sq"], err = gorgonia.HadamardProd(out, out); err != nil {
					t.Fatal(err)
				}
			}
			prog, err := graph.Compile(b, outs, graph.WithVM(vm))
			if err != nil {
				t.Fatal(err)
			}
			return prog
		}
		alone, both := compile(false), compile(true)
		feeds := graph.Feeds{"x": randTensor(rand.New(rand.NewPCG(7, 8)), tensor.Float32, 5, 4)}
		want, err := alone.Run(feeds)
		if err != nil {
			t.Fatal(err)
		}
		got, err := both.Run(feeds)
		if err != nil {
			t.Fatal(err)
		}
		w, g, s := graph.Float64s(want["out"]), graph.Float64s(got["out"]), graph.Float64s(got["sq"])
		for i := range w {
			if g[i] != w[i] || s[i] != float64(float32(w[i])*float32(w[i])) {
				t.Fatalf("%v: out[%d] = %v and its square %v, want %v", vm, i, g[i], s[i], w[i])
			}
		}
		alone.Close()
		both.Close()
	}
}
