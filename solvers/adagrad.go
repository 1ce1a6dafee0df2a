package solvers

import "gorgonia.org/tensor"

// AdaGrad is the AdaGrad solver, as PyTorch's torch.optim.Adagrad. With learning rate γ,
// learning-rate decay η, weight decay λ and ε, update t (from 1) of a parameter θ with
// gradient g is
//
//	g ← g + λθ                  (when λ ≠ 0)
//	s ← s + g²                  (buffer "sum", starts at the initial accumulator value)
//	θ ← θ - γ/(1 + (t-1)η) · g / (√s + ε)
//
// All parameters share the update count t (Steps()+1).
type AdaGrad struct{ core }

// NewAdaGrad returns an AdaGrad solver with learning rate lr. It takes the options LRDecay
// (default 0), Eps (1e-10), InitialAccumulator (0), WeightDecay (0) and WithSchedule.
func NewAdaGrad(lr float64, opts ...Option) *AdaGrad {
	set := settings{eps: 1e-10}
	set.apply(opts)
	a := &AdaGrad{newCore("adagrad", lr, set, "sum")}
	a.err = a.check()
	return a
}

func (a *AdaGrad) check() error {
	if err := a.checkSettings("LRDecay", "Eps", "InitialAccumulator", "WeightDecay", "WithSchedule"); err != nil {
		return err
	}
	if err := a.nonNegative("learning rate decay", a.set.lrDecay); err != nil {
		return err
	}
	if err := a.nonNegative("initial accumulator", a.set.initialAccumulator); err != nil {
		return err
	}
	return a.positive("eps", a.set.eps)
}

// LR is the learning rate the next Step will use: the base rate through the schedule, divided
// by 1 + Steps()·η.
func (a *AdaGrad) LR() float64 {
	return a.core.LR() / (1 + float64(a.steps)*a.set.lrDecay)
}

// Step applies one update to every parameter; see the type's documentation.
func (a *AdaGrad) Step(params []Param) error {
	return a.step(params, func(lr float64, p Param, bufs []*tensor.Dense, first bool) {
		lr /= 1 + float64(a.steps)*a.set.lrDecay // the step is counted after the update
		if p.Value.Dtype() == tensor.Float32 {
			adagradUpdate(a, lr, p, bufs, first, (*tensor.Dense).Float32s)
		} else {
			adagradUpdate(a, lr, p, bufs, first, (*tensor.Dense).Float64s)
		}
	})
}

// adagradUpdate applies one update to p. It is portable Go only, as sgdUpdate is: no workload
// trains with AdaGrad.
func adagradUpdate[T float](a *AdaGrad, lr float64, p Param, bufs []*tensor.Dense, first bool,
	data func(*tensor.Dense) []T) {
	value, grad, sum := data(p.Value), data(p.Grad), data(bufs[0])
	if first {
		for i := range sum {
			sum[i] = T(a.set.initialAccumulator)
		}
	}
	wd, eps, step := T(a.set.weightDecay), T(a.set.eps), T(-lr)
	decay := a.set.weightDecay != 0
	for i, g := range grad {
		if decay {
			g += wd * value[i]
		}
		sum[i] += g * g
		value[i] += step * g / (sqrt(sum[i]) + eps)
	}
}
