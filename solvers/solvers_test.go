package solvers

import (
	"encoding/json"
	"maps"
	"math"
	"os"
	"slices"
	"sync"
	"testing"

	"gorgonia.org/tensor"
)

// reference is testdata/reference.json, written by testdata/make_reference.py with PyTorch.
type reference struct {
	TorchVersion string `json:"torch_version"`
	Steps        int
	Problem      map[string][]float64
	Solvers      []struct {
		Name       string
		Dtype      string
		Trajectory []map[string][]float64
		State      map[string][]float64
	}
	Schedules []struct {
		Name string
		Base float64
		LRs  []float64 `json:"lrs"`
	}
	Clips []struct {
		Name    string
		Dtype   string
		MaxNorm float64 `json:"max_norm"`
		Grads   [][]float64
		Norm    float64
		Clipped [][]float64
	}
}

var readReference = sync.OnceValues(func() (reference, error) {
	var ref reference
	b, err := os.ReadFile("testdata/reference.json")
	if err == nil {
		err = json.Unmarshal(b, &ref)
	}
	return ref, err
})

func loadReference(t *testing.T) reference {
	t.Helper()
	ref, err := readReference()
	if err != nil {
		t.Fatal(err)
	}
	return ref
}

// The solvers of testdata/make_reference.py's CASES, under the same names and settings.
var referenceSolvers = map[string]func() Solver{
	"sgd":              func() Solver { return NewSGD(0.1) },
	"sgd_weight_decay": func() Solver { return NewSGD(0.1, WeightDecay(0.01)) },
	"sgd_momentum":     func() Solver { return NewSGD(0.05, Momentum(0.9)) },
	"sgd_dampening": func() Solver {
		return NewSGD(0.05, Momentum(0.9), Dampening(0.1), WeightDecay(0.01))
	},
	"sgd_nesterov": func() Solver {
		return NewSGD(0.05, Momentum(0.9), Nesterov(), WeightDecay(0.001))
	},
	"adam": func() Solver { return NewAdam(0.01) },
	"adam_weight_decay": func() Solver {
		return NewAdam(0.01, Betas(0.8, 0.99), Eps(1e-6), WeightDecay(0.1))
	},
	"adamw":              func() Solver { return NewAdamW(0.01) },
	"adamw_weight_decay": func() Solver { return NewAdamW(0.01, Betas(0.85, 0.995), WeightDecay(0.1)) },
	"rmsprop":            func() Solver { return NewRMSProp(0.01) },
	"rmsprop_momentum": func() Solver {
		return NewRMSProp(0.01, Alpha(0.9), Momentum(0.9), WeightDecay(0.01))
	},
	"rmsprop_centered": func() Solver { return NewRMSProp(0.01, Momentum(0.5), Centered()) },
	"adagrad":          func() Solver { return NewAdaGrad(0.1) },
	"adagrad_decay": func() Solver {
		return NewAdaGrad(0.1, LRDecay(0.05), WeightDecay(0.01), InitialAccumulator(0.1), Eps(1e-8))
	},
	"sgd_step_decay": func() Solver { return NewSGD(0.1, Momentum(0.9), WithSchedule(StepDecay(2, 0.5))) },
	"sgd_multi_step": func() Solver { return NewSGD(0.1, WithSchedule(MultiStep([]int{1, 3}, 0.1))) },
	"adam_cosine":    func() Solver { return NewAdam(0.01, WithSchedule(Cosine(5, 0.001))) },
}

// quadratic is the test problem: f = Σ a/2 (θ - c)² over a 2x3 weight "w" and a bias "b" of 3.
type quadratic struct {
	params []Param
	a, c   []*tensor.Dense
}

func newQuadratic(dt tensor.Dtype, values map[string][]float64) *quadratic {
	q := &quadratic{}
	for _, name := range []string{"w", "b"} {
		shape := []int{3}
		if name == "w" {
			shape = []int{2, 3}
		}
		q.params = append(q.params, Param{
			Name:  name,
			Value: newTensor(dt, shape, values[name+"0"]),
			Grad:  zeros(dt, shape),
		})
		q.a = append(q.a, newTensor(dt, shape, values[name+"a"]))
		q.c = append(q.c, newTensor(dt, shape, values[name+"c"]))
	}
	return q
}

// gradients sets every gradient to a (θ - c), rounded as PyTorch rounds it.
func (q *quadratic) gradients() {
	for i, p := range q.params {
		if p.Value.Dtype() == tensor.Float32 {
			quadraticGrad(p.Value.Float32s(), p.Grad.Float32s(), q.a[i].Float32s(), q.c[i].Float32s())
		} else {
			quadraticGrad(p.Value.Float64s(), p.Grad.Float64s(), q.a[i].Float64s(), q.c[i].Float64s())
		}
	}
}

func quadraticGrad[T float](value, grad, a, c []T) {
	for i := range value {
		grad[i] = a[i] * (value[i] - c[i])
	}
}

// run makes n steps of s on q.
func (q *quadratic) run(t *testing.T, s Solver, n int) {
	t.Helper()
	for range n {
		q.gradients()
		if err := s.Step(q.params); err != nil {
			t.Fatal(err)
		}
	}
}

func newTensor(dt tensor.Dtype, shape []int, values []float64) *tensor.Dense {
	if dt == tensor.Float32 {
		v := make([]float32, len(values))
		for i, x := range values {
			v[i] = float32(x)
		}
		return tensor.New(tensor.WithShape(shape...), tensor.WithBacking(v))
	}
	return tensor.New(tensor.WithShape(shape...), tensor.WithBacking(slices.Clone(values)))
}

func values(t *tensor.Dense) []float64 {
	if t.Dtype() == tensor.Float64 {
		return slices.Clone(t.Float64s())
	}
	v := make([]float64, 0, len(t.Float32s()))
	for _, x := range t.Float32s() {
		v = append(v, float64(x))
	}
	return v
}

func dtypeOf(name string) tensor.Dtype {
	if name == "float32" {
		return tensor.Float32
	}
	return tensor.Float64
}

// ulps is how far got is from want, in units of the dtype's epsilon relative to |want|
// (and to 0.1 for values near zero, where the update cancels most of the value).
func ulps(got, want float64, dt tensor.Dtype) float64 {
	eps := 0x1p-52
	if dt == tensor.Float32 {
		eps = 0x1p-23
	}
	return math.Abs(got-want) / (max(math.Abs(want), 0.1) * eps)
}

// maxULPs is the largest difference from PyTorch the tests accept. Both compute in the
// parameters' dtype with the same operations in the same order; the differences left come from
// fused multiply-adds in PyTorch's kernels and from pow in its Python scalars.
const maxULPs = 16

func TestSolversMatchPyTorch(t *testing.T) {
	ref := loadReference(t)
	covered := map[string]bool{}
	for _, c := range ref.Solvers {
		newSolver, ok := referenceSolvers[c.Name]
		if !ok {
			t.Errorf("reference case %s has no solver in referenceSolvers", c.Name)
			continue
		}
		covered[c.Name] = true
		t.Run(c.Name+"/"+c.Dtype, func(t *testing.T) {
			dt := dtypeOf(c.Dtype)
			q := newQuadratic(dt, ref.Problem)
			s := newSolver()
			worst := 0.0
			for step, want := range c.Trajectory {
				q.run(t, s, 1)
				for _, p := range q.params {
					for i, got := range values(p.Value) {
						d := ulps(got, want[p.Name][i], dt)
						worst = max(worst, d)
						if d > maxULPs {
							t.Errorf("step %d: %s[%d] = %v, PyTorch has %v (%.1f ulps)",
								step+1, p.Name, i, got, want[p.Name][i], d)
						}
					}
				}
			}
			st := s.State()
			for key, want := range c.State {
				got, ok := st[key]
				if !ok {
					t.Errorf("State has no %q", key)
					continue
				}
				for i, g := range values(got) {
					if d := ulps(g, want[i], dt); d > maxULPs {
						t.Errorf("state %s[%d] = %v, PyTorch has %v (%.1f ulps)", key, i, g, want[i], d)
					}
				}
			}
			if len(st) != len(c.State)+1 {
				t.Errorf("State has keys %v, PyTorch has %d buffers", slices.Sorted(maps.Keys(st)), len(c.State))
			}
			if s.Steps() != len(c.Trajectory) {
				t.Errorf("Steps() = %d after %d steps", s.Steps(), len(c.Trajectory))
			}
			t.Logf("largest difference from PyTorch: %.2f ulps", worst)
		})
	}
	for name := range referenceSolvers {
		if !covered[name] {
			t.Errorf("solver %s has no reference case", name)
		}
	}
}
