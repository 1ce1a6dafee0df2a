package graph_test

import (
	"errors"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"gorgonia.org/gorgonia"
	"gorgonia.org/tensor"

	"github.com/unroll-ml/unroll/graph"
	"github.com/unroll-ml/unroll/solvers"
)

// noPanic runs f and turns a panic into an error, so that a table test reports the case.
func noPanic(f func() error) (err error) {
	defer func() {
		if r := recover(); r != nil {
			err = fmt.Errorf("panic: %v", r)
		}
	}()
	return f()
}

// linearModel is y = x w + b with x (B, 3), w (3, 2), b (2) and a squared-error loss against
// the input "y": the smallest graph with parameters, inputs and a scalar loss.
type linearModel struct {
	ps         *graph.Params
	b          *graph.Builder
	x, y, out  *gorgonia.Node
	loss       *gorgonia.Node
	batch, dim int
}

func newLinearModel(t testing.TB, ps *graph.Params, batch int) *linearModel {
	t.Helper()
	if ps.Get("w") == nil {
		if _, err := ps.Add("w", []int{3, 2}, graph.Uniform(-1, 1)); err != nil {
			t.Fatal(err)
		}
		if _, err := ps.Add("b", []int{2}, graph.Zeros()); err != nil {
			t.Fatal(err)
		}
	}
	m := &linearModel{ps: ps, b: graph.NewBuilder(ps, graph.Train), batch: batch, dim: 3}
	var err error
	if m.x, err = m.b.Input("x", batch, 3); err != nil {
		t.Fatal(err)
	}
	if m.y, err = m.b.Input("y", batch, 2); err != nil {
		t.Fatal(err)
	}
	w, _ := m.b.Param("w")
	bias, _ := m.b.Param("b")
	xw := gorgonia.Must(gorgonia.Mul(m.x, w))
	m.out = gorgonia.Must(gorgonia.BroadcastAdd(xw, bias, nil, []byte{0}))
	m.loss = gorgonia.Must(gorgonia.Mean(gorgonia.Must(gorgonia.Square(gorgonia.Must(gorgonia.Sub(m.out, m.y))))))
	return m
}

func feeds(batch int, x, y []float64) graph.Feeds {
	return graph.Feeds{
		"x": graph.NewTensor(tensor.Float32, []int{batch, 3}, x),
		"y": graph.NewTensor(tensor.Float32, []int{batch, 2}, y),
	}
}

// TestGraphRefusesBadInput gives the parameter set, the builder, compiled programs and the
// trainer wrong names, shapes, ranks, dtypes and values: each must return an error naming the
// culprit and the numbers, and none may panic.
func TestGraphRefusesBadInput(t *testing.T) {
	good := func() graph.Feeds { return feeds(2, []float64{1, 2, 3, 4, 5, 6}, []float64{1, 0, 0, 1}) }
	run := func(t *testing.T, f graph.Feeds) error {
		m := newLinearModel(t, graph.NewParams(), 2)
		p, err := graph.Compile(m.b, map[string]*gorgonia.Node{"out": m.out})
		if err != nil {
			return err
		}
		defer p.Close()
		_, err = p.Run(f)
		return err
	}
	cases := []struct {
		name string
		want string
		f    func(t *testing.T) error
	}{
		{"parameter with an empty name", "params: empty name", func(*testing.T) error {
			_, err := graph.NewParams().Add("", []int{2}, nil)
			return err
		}},
		{"parameter of size zero", "params: w: shape [3 0] has a size below 1", func(*testing.T) error {
			_, err := graph.NewParams().Add("w", []int{3, 0}, nil)
			return err
		}},
		{"parameter without a shape", "params: w: empty shape", func(*testing.T) error {
			_, err := graph.NewParams().Add("w", nil, nil)
			return err
		}},
		{"parameter twice", `params: "w" already exists`, func(*testing.T) error {
			ps := graph.NewParams()
			ps.Add("w", []int{1}, nil)
			_, err := ps.Add("w", []int{1}, nil)
			return err
		}},
		{"input of size zero", `graph: input "x": shape [4 0] has a size below 1`, func(*testing.T) error {
			_, err := graph.NewBuilder(graph.NewParams(), graph.Train).Input("x", 4, 0)
			return err
		}},
		{"input of negative size", `graph: input "x": shape [-1 3] has a size below 1`, func(*testing.T) error {
			_, err := graph.NewBuilder(graph.NewParams(), graph.Train).Input("x", -1, 3)
			return err
		}},
		{"input without a shape", `graph: input "x": empty shape`, func(*testing.T) error {
			_, err := graph.NewBuilder(graph.NewParams(), graph.Train).Input("x")
			return err
		}},
		{"input named like a parameter", `graph: input "w": name is a parameter's`, func(*testing.T) error {
			ps := graph.NewParams()
			ps.Add("w", []int{1}, nil)
			_, err := graph.NewBuilder(ps, graph.Train).Input("w", 1)
			return err
		}},
		{"unknown parameter", `graph: no parameter or buffer "conv9.weight" in the model`, func(*testing.T) error {
			_, err := graph.NewBuilder(graph.NewParams(), graph.Train).Param("conv9.weight")
			return err
		}},
		{"parameter bound as a buffer", `graph: "w" is a trainable parameter, not a buffer`, func(*testing.T) error {
			ps := graph.NewParams()
			ps.Add("w", []int{1}, nil)
			_, err := graph.NewBuilder(ps, graph.Train).Buffer("w")
			return err
		}},
		{"carried state of another shape", `graph: carry "h": node has shape (2, 4), state has (2, 3)`, func(*testing.T) error {
			b := graph.NewBuilder(graph.NewParams(), graph.Train)
			b.State("h", 2, 3)
			x, _ := b.Input("x", 2, 4)
			return b.Carry("h", x)
		}},
		{"state never carried", `graph: state "h" has no carried node (call Carry)`, func(*testing.T) error {
			b := graph.NewBuilder(graph.NewParams(), graph.Train)
			h, _ := b.State("h", 2, 3)
			_, err := graph.Compile(b, map[string]*gorgonia.Node{"h": h})
			return err
		}},
		{"feed of the wrong shape", `graph: input "x" has shape (3, 3), want (2, 3)`, func(t *testing.T) error {
			f := good()
			f["x"] = graph.NewTensor(tensor.Float32, []int{3, 3}, nil)
			return run(t, f)
		}},
		{"feed of the wrong rank", `graph: input "x" has shape (6), want (2, 3)`, func(t *testing.T) error {
			f := good()
			f["x"] = graph.NewTensor(tensor.Float32, []int{6}, nil)
			return run(t, f)
		}},
		{"feed of the wrong dtype", `graph: input "x" is float64, want float32`, func(t *testing.T) error {
			f := good()
			f["x"] = graph.NewTensor(tensor.Float64, []int{2, 3}, nil)
			return run(t, f)
		}},
		{"feed of integers", `graph: input "y" is int, want float32`, func(t *testing.T) error {
			f := good()
			f["y"] = tensor.New(tensor.WithShape(2, 2), tensor.WithBacking([]int{1, 0, 0, 1}))
			return run(t, f)
		}},
		{"nil feed", `graph: input "x": nil value`, func(t *testing.T) error {
			f := good()
			f["x"] = nil
			return run(t, f)
		}},
		{"feed of an unknown input", `graph: no input "z" (inputs: x, y)`, func(t *testing.T) error {
			f := good()
			f["z"] = graph.NewTensor(tensor.Float32, []int{1}, nil)
			return run(t, f)
		}},
		{"input not fed", `graph: input "y" (shape (2, 2)) was not fed`, func(t *testing.T) error {
			f := good()
			delete(f, "y")
			return run(t, f)
		}},
		{"NaN feed", `graph: input "x" holds NaN at element 4: inputs must be finite`, func(t *testing.T) error {
			return run(t, feeds(2, []float64{1, 2, 3, 4, math.NaN(), 6}, []float64{1, 0, 0, 1}))
		}},
		{"infinite feed", `graph: input "y" holds -Inf at element 1: inputs must be finite`, func(t *testing.T) error {
			return run(t, feeds(2, []float64{1, 2, 3, 4, 5, 6}, []float64{1, math.Inf(-1), 0, 1}))
		}},
		{"output of another graph", `graph: output "out" belongs to another graph`, func(t *testing.T) error {
			m := newLinearModel(t, graph.NewParams(), 2)
			other := newLinearModel(t, graph.NewParams(), 2)
			_, err := graph.Compile(m.b, map[string]*gorgonia.Node{"out": other.out})
			return err
		}},
		{"builder compiled twice", "graph: the builder was already compiled", func(t *testing.T) error {
			m := newLinearModel(t, graph.NewParams(), 2)
			if _, err := graph.Compile(m.b, map[string]*gorgonia.Node{"out": m.out}); err != nil {
				return err
			}
			_, err := graph.Compile(m.b, map[string]*gorgonia.Node{"out": m.out})
			return err
		}},
		{"loss that is not a scalar", "graph: the loss must be a scalar, it has shape (2, 2)", func(t *testing.T) error {
			m := newLinearModel(t, graph.NewParams(), 2)
			_, err := graph.NewTrainer(m.b, m.out, solvers.NewSGD(0.1))
			return err
		}},
		{"trainer step without a solver", "graph: the trainer has no solver (SetSolver)", func(t *testing.T) error {
			m := newLinearModel(t, graph.NewParams(), 2)
			tr, err := graph.NewTrainer(m.b, m.loss, nil)
			if err != nil {
				return err
			}
			_, err = tr.Step(graph.Feeds{})
			return err
		}},
		{"negative clip norm", "graph: clip norm -1 must be a positive finite number (or 0 for none)", func(t *testing.T) error {
			m := newLinearModel(t, graph.NewParams(), 2)
			tr, err := graph.NewTrainer(m.b, m.loss, solvers.NewSGD(0.1))
			if err != nil {
				return err
			}
			return tr.SetClip(-1)
		}},
		{"NaN clip norm", "graph: clip norm NaN must be a positive finite number", func(t *testing.T) error {
			m := newLinearModel(t, graph.NewParams(), 2)
			tr, err := graph.NewTrainer(m.b, m.loss, solvers.NewSGD(0.1))
			if err != nil {
				return err
			}
			return tr.SetClip(math.NaN())
		}},
		{"training step on a NaN feed", `graph: step 1: graph: input "x" holds NaN at element 0`, func(t *testing.T) error {
			m := newLinearModel(t, graph.NewParams(), 2)
			tr, err := graph.NewTrainer(m.b, m.loss, solvers.NewSGD(0.1))
			if err != nil {
				return err
			}
			_, err = tr.Step(feeds(2, []float64{math.NaN(), 2, 3, 4, 5, 6}, []float64{1, 0, 0, 1}))
			return err
		}},
		{"carried state of an unknown name", `graph: no state "c" (states: h)`, func(t *testing.T) error {
			b := graph.NewBuilder(graph.NewParams(), graph.Train)
			h, _ := b.State("h", 1, 2)
			next := gorgonia.Must(gorgonia.Neg(h))
			b.Carry("h", next)
			p, err := graph.Compile(b, map[string]*gorgonia.Node{"h": next})
			if err != nil {
				return err
			}
			return p.SetState(map[string]*tensor.Dense{"c": graph.NewTensor(tensor.Float32, []int{1, 2}, nil)})
		}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			err := noPanic(func() error { return c.f(t) })
			if err == nil || !strings.Contains(err.Error(), c.want) || strings.HasPrefix(err.Error(), "panic") {
				t.Errorf("got %v, want an error naming %q", err, c.want)
			}
		})
	}
}

// TestDivergedStepIsErrNotFinite trains at a learning rate that makes the loss overflow: the
// step is refused with an error that wraps graph.ErrNotFinite, names the step and suggests a
// lower learning rate or clipping, and the parameters keep their last finite values.
func TestDivergedStepIsErrNotFinite(t *testing.T) {
	ps := graph.NewParams(graph.Seed(2))
	m := newLinearModel(t, ps, 2)
	tr, err := graph.NewTrainer(m.b, m.loss, solvers.NewSGD(1e30))
	if err != nil {
		t.Fatal(err)
	}
	f := feeds(2, []float64{1, 2, 3, 4, 5, 6}, []float64{1, 0, 0, 1})
	var last *graph.Params
	for step := 1; step <= 10; step++ {
		last = ps.Clone(tensor.Float32)
		if _, err = tr.Step(f); err != nil {
			break
		}
	}
	if !errors.Is(err, graph.ErrNotFinite) {
		t.Fatalf("got %v, want an error wrapping ErrNotFinite", err)
	}
	for _, want := range []string{"step ", "not finite", "lower learning rate", "gradient clipping"} {
		if !strings.Contains(err.Error(), want) && !(want == "not finite" && strings.Contains(err.Error(), "loss is")) {
			t.Errorf("the error %q does not say %q", err, want)
		}
	}
	for _, e := range ps.Entries() {
		if fmt.Sprint(graph.Float64s(e.Value)) != fmt.Sprint(graph.Float64s(last.Value(e.Name))) {
			t.Errorf("%s changed in the refused step", e.Name)
		}
	}
}

// TestCheckpointLoadRefusesBadFiles points LoadCheckpoint at missing, unreadable, truncated,
// corrupt and mismatched files: each is an error naming the file and what is wrong, and the
// model and the solver are left unchanged.
func TestCheckpointLoadRefusesBadFiles(t *testing.T) {
	dir := t.TempDir()
	// A good checkpoint of the linear model after two Adam steps.
	ps := graph.NewParams(graph.Seed(4))
	m := newLinearModel(t, ps, 2)
	adam := solvers.NewAdam(0.01)
	tr, err := graph.NewTrainer(m.b, m.loss, adam)
	if err != nil {
		t.Fatal(err)
	}
	for range 2 {
		if _, err := tr.Step(feeds(2, []float64{1, 2, 3, 4, 5, 6}, []float64{1, 0, 0, 1})); err != nil {
			t.Fatal(err)
		}
	}
	goodPath := filepath.Join(dir, "good.safetensors")
	if err := graph.SaveCheckpoint(goodPath, ps, runOf(t, adam), &graph.Extra{Blobs: map[string][]byte{"pos": {1, 2}}}); err != nil {
		t.Fatal(err)
	}
	goodBytes, err := os.ReadFile(goodPath)
	if err != nil {
		t.Fatal(err)
	}
	tensors, meta, err := graph.DecodeSafetensors(goodBytes)
	if err != nil {
		t.Fatal(err)
	}
	// variant writes the good checkpoint with some tensors and metadata changed.
	variant := func(name string, edit func(ts map[string]*tensor.Dense, meta map[string]string)) string {
		ts := map[string]*tensor.Dense{}
		for k, v := range tensors {
			ts[k] = v
		}
		md := map[string]string{}
		for k, v := range meta {
			md[k] = v
		}
		edit(ts, md)
		b, err := graph.EncodeSafetensors(ts, md)
		if err != nil {
			t.Fatal(err)
		}
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, b, 0o644); err != nil {
			t.Fatal(err)
		}
		return p
	}
	write := func(name string, b []byte) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, b, 0o644); err != nil {
			t.Fatal(err)
		}
		return p
	}
	unreadable := write("unreadable.safetensors", goodBytes)
	os.Chmod(unreadable, 0)
	f32 := func(shape []int, v ...float64) *tensor.Dense { return graph.NewTensor(tensor.Float32, shape, v) }

	cases := []struct {
		name   string
		path   string
		solver solvers.Solver // default: a fresh Adam
		want   string
	}{
		{"missing file", filepath.Join(dir, "missing.safetensors"), nil, "missing.safetensors: no such file or directory"},
		{"unreadable file", unreadable, nil, "unreadable.safetensors: permission denied"},
		{"a directory", dir, nil, "is a directory"},
		{"empty file", write("empty", nil), nil, "file of 0 bytes is too short for a header"},
		{"truncated file", write("truncated", goodBytes[:len(goodBytes)-10]), nil, "truncated or corrupt"},
		{"header only", write("header", goodBytes[:100]), nil, "truncated or corrupt"},
		{"garbage", write("garbage", []byte("PK\x03\x04 this is a zip file, not a checkpoint")), nil, "does not fit a file"},
		{"plain safetensors", variant("plain", func(_ map[string]*tensor.Dense, md map[string]string) { delete(md, "format") }), nil,
			`not an unroll checkpoint (format "", want "unroll.checkpoint.v1")`},
		{"wrong shape", variant("shape", func(ts map[string]*tensor.Dense, _ map[string]string) { ts["w"] = f32([]int{2, 3}, 1, 2, 3, 4, 5, 6) }), nil,
			"w has shape (2, 3) in the file, (3, 2) in the model"},
		{"wrong dtype", variant("dtype", func(ts map[string]*tensor.Dense, _ map[string]string) {
			ts["b"] = graph.NewTensor(tensor.Float64, []int{2}, []float64{1, 2})
		}), nil, "b is float64, the checkpoint's dtype float32"},
		{"missing parameter", variant("missing-param", func(ts map[string]*tensor.Dense, _ map[string]string) { delete(ts, "b") }), nil, "missing b"},
		{"unexpected parameter", variant("extra-param", func(ts map[string]*tensor.Dense, _ map[string]string) { ts["fc9.weight"] = f32([]int{1}, 1) }), nil,
			"unexpected fc9.weight"},
		{"solver state of another shape", variant("solver-shape", func(ts map[string]*tensor.Dense, _ map[string]string) {
			ts["solver/exp_avg/w"] = f32([]int{6}, 1, 2, 3, 4, 5, 6)
			ts["solver/exp_avg_sq/w"] = f32([]int{6}, 1, 2, 3, 4, 5, 6)
		}), nil, "solver/exp_avg/w is float32 (6), its parameter float32 (3, 2)"},
		{"NaN parameter", variant("nan", func(ts map[string]*tensor.Dense, _ map[string]string) { ts["b"] = f32([]int{2}, 0, math.NaN()) }), nil,
			"b holds NaN"},
		{"random source state damaged", variant("rng", func(_ map[string]*tensor.Dense, md map[string]string) { md["rng"] = "!!" }), nil,
			"random source state"},
		{"random source state short", variant("rng-short", func(_ map[string]*tensor.Dense, md map[string]string) { md["rng"] = "AAAA" }), nil,
			"random source state"},
		{"blob length damaged", variant("blob", func(_ map[string]*tensor.Dense, md map[string]string) { md["bloblen.pos"] = "99" }), nil,
			`blob "pos" is malformed`},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			if c.path == unreadable {
				if f, err := os.Open(unreadable); err == nil {
					f.Close()
					t.Skip("a file with mode 000 is readable here (running as root)")
				}
			}
			fresh := graph.NewParams(graph.Seed(9))
			newLinearModel(t, fresh, 2)
			before := fresh.Clone(tensor.Float32)
			s := c.solver
			if s == nil {
				s = solvers.NewAdam(0.01)
			}
			err := noPanic(func() error {
				_, err := loadInto(c.path, fresh, s)
				return err
			})
			if err == nil || !strings.Contains(err.Error(), c.want) || !strings.Contains(err.Error(), filepath.Base(c.path)) {
				t.Fatalf("got %v, want an error naming %s and %q", err, filepath.Base(c.path), c.want)
			}
			for _, e := range fresh.Entries() {
				if fmt.Sprint(graph.Float64s(e.Value)) != fmt.Sprint(graph.Float64s(before.Value(e.Name))) {
					t.Errorf("%s changed by a refused checkpoint", e.Name)
				}
			}
			if s.Steps() != 0 {
				t.Errorf("the solver is at step %d after a refused checkpoint", s.Steps())
			}
		})
	}
}

// TestCheckpointSolverStateRefused: a checkpoint's solver state is restored when the run takes
// its solver (UseSolver, or Fit's Solver option); a solver of another type, or a state that
// does not fit it, is an error naming the file, and the solver is left as it was.
func TestCheckpointSolverStateRefused(t *testing.T) {
	dir := t.TempDir()
	ps := graph.NewParams(graph.Seed(9))
	newLinearModel(t, ps, 2)
	adam := solvers.NewAdam(0.01)
	var params []solvers.Param
	for _, n := range ps.Trainable() {
		v := ps.Value(n)
		params = append(params, solvers.Param{Name: n, Value: v, Grad: graph.NewTensor(v.Dtype(), v.Shape().Clone(), nil)})
	}
	if err := adam.Step(params); err != nil { // moments for every parameter
		t.Fatal(err)
	}
	good := filepath.Join(dir, "good.safetensors")
	if err := graph.SaveCheckpoint(good, ps, runOf(t, adam), nil); err != nil {
		t.Fatal(err)
	}
	ts, md := readRaw(t, good)
	write := func(name string, edit func(map[string]*tensor.Dense)) string {
		cp := map[string]*tensor.Dense{}
		for k, v := range ts {
			cp[k] = v
		}
		edit(cp)
		b, err := graph.EncodeSafetensors(cp, md)
		if err != nil {
			t.Fatal(err)
		}
		p := filepath.Join(dir, name+".safetensors")
		if err := os.WriteFile(p, b, 0o644); err != nil {
			t.Fatal(err)
		}
		return p
	}
	cases := []struct {
		name, path string
		solver     solvers.Solver
		want       string
	}{
		{"solver of another type", good, solvers.NewSGD(0.1), "holds the state of a *solvers.Adam solver; this run's solver is *solvers.SGD"},
		{"solver state missing", write("missing", func(ts map[string]*tensor.Dense) { delete(ts, "solver/exp_avg_sq/b") }), solvers.NewAdam(0.01),
			`adam: state "exp_avg_sq/b" is missing`},
		{"solver step not a count", write("step", func(ts map[string]*tensor.Dense) {
			ts["solver/step"] = graph.NewTensor(tensor.Float64, []int{1}, []float64{-3})
		}), solvers.NewAdam(0.01), `adam: state "step" holds -3, not an update count`},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			fresh := graph.NewParams(graph.Seed(9))
			newLinearModel(t, fresh, 2)
			var run graph.Run
			if _, err := graph.LoadCheckpoint(c.path, fresh, &run); err != nil {
				t.Fatal(err)
			}
			err := run.UseSolver(c.solver)
			if err == nil || !strings.Contains(err.Error(), c.want) || !strings.Contains(err.Error(), filepath.Base(c.path)) {
				t.Fatalf("got %v, want an error naming %s and %q", err, filepath.Base(c.path), c.want)
			}
			if c.solver.Steps() != 0 || run.Solver() != nil {
				t.Error("the solver changed although its state was refused")
			}
		})
	}
}

func readRaw(t *testing.T, path string) (map[string]*tensor.Dense, map[string]string) {
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	ts, md, err := graph.DecodeSafetensors(b)
	if err != nil {
		t.Fatal(err)
	}
	return ts, md
}

// TestSaveCheckpointRefusesBadTargets: a directory that does not exist and a parameter name
// that cannot be stored are errors, and nothing is left behind.
func TestSaveCheckpointRefusesBadTargets(t *testing.T) {
	ps := graph.NewParams()
	ps.Add("w", []int{2}, nil)
	missing := filepath.Join(t.TempDir(), "no", "such", "dir", "c.safetensors")
	if err := graph.SaveCheckpoint(missing, ps, nil, nil); err == nil || !strings.Contains(err.Error(), "no such file or directory") {
		t.Errorf("saving into a missing directory: %v", err)
	}
	bad := graph.NewParams()
	bad.Add("solver/w", []int{2}, nil)
	dir := t.TempDir()
	if err := graph.SaveCheckpoint(filepath.Join(dir, "c.safetensors"), bad, nil, nil); err == nil || !strings.Contains(err.Error(), `parameter name "solver/w" must not contain '/'`) {
		t.Errorf("a name with a slash: %v", err)
	}
	if es, _ := os.ReadDir(dir); len(es) != 0 {
		t.Errorf("a refused save left %d files", len(es))
	}
}
