package solvers

import (
	"maps"
	"math"
	"slices"
	"testing"

	"gorgonia.org/tensor"

	"github.com/unroll-ml/unroll/internal/compute"
)

// TestSetStateContinuesBitIdentically stops every solver after 3 steps, moves its state and the
// parameters into a fresh solver, and checks that after 4 more steps both hold the same bits as
// the run that was never interrupted.
func TestSetStateContinuesBitIdentically(t *testing.T) {
	ref := loadReference(t)
	for _, name := range slices.Sorted(maps.Keys(referenceSolvers)) {
		for _, dt := range []tensor.Dtype{tensor.Float32, tensor.Float64} {
			t.Run(name+"/"+dt.String(), func(t *testing.T) {
				newSolver := referenceSolvers[name]
				whole := newQuadratic(dt, ref.Problem)
				s := newSolver()
				whole.run(t, s, 3)

				resumed := newQuadratic(dt, ref.Problem)
				for i, p := range whole.params {
					resumed.params[i].Value = clone(p.Value)
				}
				r := newSolver()
				if err := r.SetState(s.State()); err != nil {
					t.Fatal(err)
				}
				if r.Steps() != 3 || r.LR() != s.LR() {
					t.Fatalf("resumed at step %d with rate %v, want step 3 with rate %v", r.Steps(), r.LR(), s.LR())
				}
				whole.run(t, s, 4)
				resumed.run(t, r, 4)
				for i, p := range whole.params {
					got, want := values(resumed.params[i].Value), values(p.Value)
					for j := range want {
						if math.Float64bits(got[j]) != math.Float64bits(want[j]) {
							t.Errorf("%s[%d] = %v after resuming, %v without", p.Name, j, got[j], want[j])
						}
					}
				}
			})
		}
	}
}

func TestStateIsACopy(t *testing.T) {
	q := newQuadratic(tensor.Float64, loadReference(t).Problem)
	s := NewAdam(0.01)
	q.run(t, s, 2)
	st := s.State()
	keys := slices.Sorted(maps.Keys(st))
	want := []string{"exp_avg/b", "exp_avg/w", "exp_avg_sq/b", "exp_avg_sq/w", "step"}
	if !slices.Equal(keys, want) {
		t.Fatalf("State keys %q, want %q", keys, want)
	}
	if got := st["step"].Float64s(); !slices.Equal(got, []float64{2}) || !sameShape(st["step"].Shape(), tensor.Shape{1}) {
		t.Errorf("step is %v of shape %v, want [2] of shape (1)", got, st["step"].Shape())
	}
	if !sameShape(st["exp_avg/w"].Shape(), tensor.Shape{2, 3}) {
		t.Errorf("exp_avg/w has shape %v, want (2, 3)", st["exp_avg/w"].Shape())
	}

	// Changing what State returned, or what SetState was given, leaves the solver alone.
	before := values(s.State()["exp_avg/w"])
	st["exp_avg/w"].Float64s()[0] = 42
	if got := values(s.State()["exp_avg/w"]); !slices.Equal(got, before) {
		t.Errorf("changing State's result changed the solver: %v, was %v", got, before)
	}
	r := NewAdam(0.01)
	in := s.State()
	if err := r.SetState(in); err != nil {
		t.Fatal(err)
	}
	in["exp_avg/w"].Float64s()[0] = 42
	in["step"].Float64s()[0] = 7
	if got := values(r.State()["exp_avg/w"]); !slices.Equal(got, before) || r.Steps() != 2 {
		t.Errorf("changing SetState's argument changed the solver: step %d, %v, was %v", r.Steps(), got, before)
	}
}

func TestSetStateErrors(t *testing.T) {
	f64 := func(shape []int, v ...float64) *tensor.Dense {
		return tensor.New(tensor.WithShape(shape...), tensor.WithBacking(v))
	}
	f32 := func(shape []int, v ...float32) *tensor.Dense {
		return tensor.New(tensor.WithShape(shape...), tensor.WithBacking(v))
	}
	step := f64([]int{1}, 3)
	buf := f64([]int{2}, 1, 2)
	tests := []struct {
		name  string
		state map[string]*tensor.Dense
		want  string
	}{
		{"no step", map[string]*tensor.Dense{"exp_avg/w": buf, "exp_avg_sq/w": buf},
			`adam: state "step" is missing`},
		{"nil step", map[string]*tensor.Dense{"step": nil},
			`adam: state "step" is missing`},
		{"float32 step", map[string]*tensor.Dense{"step": f32([]int{1}, 3)},
			`adam: state "step" is float32 (1), want a one-element float64 tensor`},
		{"two steps", map[string]*tensor.Dense{"step": f64([]int{2}, 3, 4)},
			`adam: state "step" is float64 (2), want a one-element float64 tensor`},
		{"negative step", map[string]*tensor.Dense{"step": f64([]int{1}, -1)},
			`adam: state "step" holds -1, not an update count`},
		{"fractional step", map[string]*tensor.Dense{"step": f64([]int{1}, 1.5)},
			`adam: state "step" holds 1.5, not an update count`},
		{"unknown buffer", map[string]*tensor.Dense{"step": step, "momentum_buffer/w": buf},
			`adam: unknown state key "momentum_buffer/w"`},
		{"no parameter name", map[string]*tensor.Dense{"step": step, "exp_avg/": buf},
			`adam: unknown state key "exp_avg/"`},
		{"nil buffer", map[string]*tensor.Dense{"step": step, "exp_avg/w": nil, "exp_avg_sq/w": buf},
			`adam: state "exp_avg/w": tensor is nil`},
		{"int buffer", map[string]*tensor.Dense{"step": step, "exp_avg/w": tensor.New(tensor.WithBacking([]int{1, 2})), "exp_avg_sq/w": buf},
			`adam: state "exp_avg/w": dtype int is not float32 or float64`},
		{"missing companion", map[string]*tensor.Dense{"step": step, "exp_avg/w": buf},
			`adam: state "exp_avg_sq/w" is missing`},
		{"buffers disagree", map[string]*tensor.Dense{"step": step, "exp_avg/w": buf, "exp_avg_sq/w": f64([]int{1, 2}, 1, 2)},
			`adam: state "exp_avg_sq/w" is float64 (1, 2) but "exp_avg/w" is float64 (2)`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := NewAdam(0.01)
			q := newQuadratic(tensor.Float64, loadReference(t).Problem)
			q.run(t, s, 1)
			before := s.State()
			err := s.SetState(tt.state)
			if err == nil || err.Error() != tt.want {
				t.Fatalf("SetState: error %v, want %q", err, tt.want)
			}
			after := s.State()
			if s.Steps() != 1 || len(after) != len(before) {
				t.Errorf("a failed SetState changed the state: step %d, %d entries", s.Steps(), len(after))
			}
		})
	}
}

// TestStepChecksRestoredState: buffers that do not fit a parameter are reported by Step, which
// then changes nothing.
func TestStepChecksRestoredState(t *testing.T) {
	q := newQuadratic(tensor.Float32, loadReference(t).Problem)
	s := NewSGD(0.1, Momentum(0.9))
	err := s.SetState(map[string]*tensor.Dense{
		"step":              tensor.New(tensor.WithShape(1), tensor.WithBacking([]float64{4})),
		"momentum_buffer/w": tensor.New(tensor.WithShape(6), tensor.WithBacking(make([]float32, 6))),
	})
	if err != nil {
		t.Fatal(err)
	}
	q.gradients()
	before := snapshot(q.params)
	err = s.Step(q.params)
	want := `sgd: parameter "w" is float32 (2, 3) but its state momentum_buffer is float32 (6)`
	if err == nil || err.Error() != want {
		t.Fatalf("Step: error %v, want %q", err, want)
	}
	if got := snapshot(q.params); !slices.Equal(got, before) || s.Steps() != 4 {
		t.Errorf("a failed Step changed the parameters or the step count (%d)", s.Steps())
	}
}

// TestStepDoesNotAllocate: once every parameter has its buffers, a Step allocates nothing.
func TestStepDoesNotAllocate(t *testing.T) {
	ref := loadReference(t)
	for _, name := range slices.Sorted(maps.Keys(referenceSolvers)) {
		for _, dt := range []tensor.Dtype{tensor.Float32, tensor.Float64} {
			q := newQuadratic(dt, ref.Problem)
			s := referenceSolvers[name]()
			q.run(t, s, 1)
			allocs := testing.AllocsPerRun(20, func() {
				if err := s.Step(q.params); err != nil {
					t.Fatal(err)
				}
			})
			if allocs != 0 {
				t.Errorf("%s/%s: %v allocations per Step", name, dt, allocs)
			}
		}
	}
}

// BenchmarkStep times one update of 2^18 parameters by each solver and dtype, float32 Adam
// on each instruction set the machine has (the others have no assembly).
func BenchmarkStep(b *testing.B) {
	const n = 1 << 18 // the size of W_hh in workload W2 (1024 x 256)
	for _, name := range []string{"sgd_nesterov", "adam", "rmsprop_centered", "adagrad"} {
		for _, dt := range []tensor.Dtype{tensor.Float32, tensor.Float64} {
			isas := []compute.ISA{compute.Current()}
			if name == "adam" && dt == tensor.Float32 {
				isas = compute.Each()
			}
			for _, isa := range isas {
				b.Run(name+"/"+dt.String()+"/isa="+isa.String(), func(b *testing.B) {
					prev, err := compute.SetISA(isa)
					if err != nil {
						b.Fatal(err)
					}
					defer compute.SetISA(prev)
					params := []Param{{Name: "w", Value: zeros(dt, tensor.Shape{n}), Grad: zeros(dt, tensor.Shape{n})}}
					s := referenceSolvers[name]()
					for b.Loop() {
						if err := s.Step(params); err != nil {
							b.Fatal(err)
						}
					}
					b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N)/n, "ns/param")
				})
			}
		}
	}
}
