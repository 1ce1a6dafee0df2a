package solvers

import (
	"math"

	"github.com/unroll-ml/unroll/internal/compute"
	"gorgonia.org/tensor"
)

// Adam is the Adam solver, as PyTorch's torch.optim.Adam, or, made by NewAdamW, AdamW with
// decoupled weight decay, as torch.optim.AdamW. With learning rate γ, decay rates β1 and β2,
// weight decay λ and ε, update t (from 1) of a parameter θ with gradient g is
//
//	g ← g + λθ                  (Adam, when λ ≠ 0)
//	θ ← θ(1 - γλ)               (AdamW)
//	m ← β1 m + (1-β1) g         (buffer "exp_avg", starts at 0)
//	v ← β2 v + (1-β2) g²        (buffer "exp_avg_sq", starts at 0)
//	θ ← θ - γ/(1-β1ᵗ) · m / (√v / √(1-β2ᵗ) + ε)
//
// All parameters share the update count t (Steps()+1), so Step is meant to see the same
// parameters every time: one first given at a later step is bias-corrected with the later t.
type Adam struct {
	core
	decoupled bool // AdamW
}

// NewAdam returns an Adam solver with learning rate lr. It takes the options Betas (default 0.9,
// 0.999), Eps (1e-8), WeightDecay (0, an L2 penalty added to the gradient) and WithSchedule.
func NewAdam(lr float64, opts ...Option) *Adam {
	return newAdam("adam", lr, false, 0, opts)
}

// NewAdamW returns an AdamW solver with learning rate lr: Adam whose weight decay shrinks the
// parameters directly instead of entering the moments. It takes the options Betas (default 0.9,
// 0.999), Eps (1e-8), WeightDecay (0.01) and WithSchedule.
func NewAdamW(lr float64, opts ...Option) *Adam {
	return newAdam("adamw", lr, true, 0.01, opts)
}

func newAdam(name string, lr float64, decoupled bool, weightDecay float64, opts []Option) *Adam {
	set := settings{beta1: 0.9, beta2: 0.999, eps: 1e-8, weightDecay: weightDecay}
	set.apply(opts)
	a := &Adam{core: newCore(name, lr, set, "exp_avg", "exp_avg_sq"), decoupled: decoupled}
	a.err = a.check()
	return a
}

func (a *Adam) check() error {
	if err := a.checkSettings("Betas", "Eps", "WeightDecay", "WithSchedule"); err != nil {
		return err
	}
	if err := a.fraction("beta1", a.set.beta1, false); err != nil {
		return err
	}
	if err := a.fraction("beta2", a.set.beta2, false); err != nil {
		return err
	}
	return a.positive("eps", a.set.eps)
}

// Step applies one update to every parameter; see the type's documentation.
func (a *Adam) Step(params []Param) error {
	return a.step(params, func(lr float64, p Param, bufs []*tensor.Dense, _ bool) {
		if p.Value.Dtype() == tensor.Float32 {
			adamUpdate(a, lr, p, bufs, (*tensor.Dense).Float32s)
		} else {
			adamUpdate(a, lr, p, bufs, (*tensor.Dense).Float64s)
		}
	})
}

func adamUpdate[T float](a *Adam, lr float64, p Param, bufs []*tensor.Dense, data func(*tensor.Dense) []T) {
	value, grad, m, v := data(p.Value), data(p.Grad), data(bufs[0]), data(bufs[1])
	t := float64(a.steps + 1)
	b1, b2, wd := a.set.beta1, a.set.beta2, a.set.weightDecay
	// The scalars are computed in float64 and rounded to T once, as PyTorch does.
	u := adamScalars[T]{
		step:        T(-lr / (1 - math.Pow(b1, t))),
		correction2: T(math.Sqrt(1 - math.Pow(b2, t))),
		shrink:      T(1 - lr*wd),
		beta1:       T(b1), beta2: T(b2), rest1: T(1 - b1), rest2: T(1 - b2),
		decay: T(wd), eps: T(a.set.eps),
		decoupled: a.decoupled, coupled: !a.decoupled && wd != 0,
	}
	if len(grad) < compute.MinParallelWork {
		u.update(value, grad, m, v)
		return
	}
	pu := new(adamScalars[T]) // only the parallel path allocates
	*pu = u
	compute.Elems(len(grad), func(lo, hi int) {
		pu.update(value[lo:hi], grad[lo:hi], m[lo:hi], v[lo:hi])
	})
}

// adamScalars are the constants of one Adam update, in the parameters' dtype.
type adamScalars[T float] struct {
	step, correction2, shrink  T
	beta1, beta2, rest1, rest2 T
	decay, eps                 T
	decoupled, coupled         bool
}

// adamConsts32 are the float32 constants of an update in the order the assembly reads them
// (adam_amd64.s).
type adamConsts32 struct {
	step, correction2, shrink, beta1, beta2, rest1, rest2, decay, eps float32
}

// vector runs the update on the first elements in assembly, for float32 where the instruction
// set in use has a version (adam_amd64.go), and returns how many it did.
func (u *adamScalars[T]) vector(value, grad, m, v []T) int {
	if _, ok := any(value).([]float32); !ok {
		return 0
	}
	c := adamConsts32{float32(u.step), float32(u.correction2), float32(u.shrink), float32(u.beta1),
		float32(u.beta2), float32(u.rest1), float32(u.rest2), float32(u.decay), float32(u.eps)}
	mode := 0
	switch {
	case u.decoupled:
		mode = 1
	case u.coupled:
		mode = 2
	}
	return adamVector32(any(value).([]float32), any(grad).([]float32), any(m).([]float32), any(v).([]float32), &c, mode)
}

// update applies the update to a run of elements; see the type's documentation. The float32
// assembly (vector) computes what the loop below computes, with the same bits.
func (u *adamScalars[T]) update(value, grad, m, v []T) {
	grad, m, v = grad[:len(value)], m[:len(value)], v[:len(value)]
	if k := u.vector(value, grad, m, v); k > 0 {
		value, grad, m, v = value[k:], grad[k:], m[k:], v[k:]
	}
	for i, g := range grad {
		switch {
		case u.decoupled:
			value[i] *= u.shrink
		case u.coupled:
			g += T(u.decay * value[i])
		}
		// The conversions round each product before the sum, as the assembly does: they keep
		// the compiler from fusing a multiply and an add (as it may with GOAMD64=v3).
		mi := T(m[i]*u.beta1) + T(u.rest1*g)
		vi := T(v[i]*u.beta2) + T(u.rest2*g*g)
		m[i], v[i] = mi, vi
		value[i] += u.step * mi / (sqrt(vi)/u.correction2 + u.eps)
	}
}
