package solvers

import "gorgonia.org/tensor"

// SGD is stochastic gradient descent with optional momentum, Nesterov momentum and L2 weight
// decay, as PyTorch's torch.optim.SGD. With learning rate γ, weight decay λ, momentum μ and
// dampening τ, an update of a parameter θ with gradient g is
//
//	g ← g + λθ                  (when λ ≠ 0)
//	b ← g on the first update, else μb + (1-τ)g   (when μ ≠ 0; buffer "momentum_buffer")
//	g ← g + μb with Nesterov, else b              (when μ ≠ 0)
//	θ ← θ - γg
//
// The momentum buffer, like PyTorch's, holds the gradient's running sum rather than a velocity
// scaled by γ, so changing the learning rate does not rescale it.
type SGD struct{ core }

// NewSGD returns an SGD solver with learning rate lr. It takes the options Momentum (default 0),
// Dampening (0), Nesterov, WeightDecay (0) and WithSchedule.
func NewSGD(lr float64, opts ...Option) *SGD {
	var set settings
	set.apply(opts)
	var buffers []string
	if set.momentum != 0 {
		buffers = []string{"momentum_buffer"}
	}
	s := &SGD{newCore("sgd", lr, set, buffers...)}
	s.err = s.check()
	return s
}

func (s *SGD) check() error {
	if err := s.checkSettings("Momentum", "Dampening", "Nesterov", "WeightDecay", "WithSchedule"); err != nil {
		return err
	}
	if err := s.nonNegative("momentum", s.set.momentum); err != nil {
		return err
	}
	if err := s.fraction("dampening", s.set.dampening, true); err != nil {
		return err
	}
	if s.set.nesterov && (s.set.momentum == 0 || s.set.dampening != 0) {
		return s.errorf("Nesterov momentum needs a positive momentum and zero dampening, have %v and %v",
			s.set.momentum, s.set.dampening)
	}
	return nil
}

// Step applies one update to every parameter; see the type's documentation.
func (s *SGD) Step(params []Param) error {
	return s.step(params, func(lr float64, p Param, bufs []*tensor.Dense, first bool) {
		if p.Value.Dtype() == tensor.Float32 {
			sgdUpdate(&s.set, lr, p, bufs, first, (*tensor.Dense).Float32s)
		} else {
			sgdUpdate(&s.set, lr, p, bufs, first, (*tensor.Dense).Float64s)
		}
	})
}

// sgdUpdate applies one update to p. It is portable Go only: no workload of bench/WORKLOADS.md
// trains with SGD (all use Adam, which has AVX2 and AVX-512 versions), and the update is a
// few operations per parameter over memory, small beside a training step.
func sgdUpdate[T float](set *settings, lr float64, p Param, bufs []*tensor.Dense, first bool,
	data func(*tensor.Dense) []T) {
	value, grad, buf := data(p.Value), data(p.Grad), dataOf(bufs, 0, data)
	wd, mu, keep, step := T(set.weightDecay), T(set.momentum), T(1-set.dampening), T(-lr)
	decay, momentum, nesterov := set.weightDecay != 0, set.momentum != 0, set.nesterov
	for i, g := range grad {
		if decay {
			g += wd * value[i]
		}
		if momentum {
			if first {
				buf[i] = g
			} else {
				buf[i] = buf[i]*mu + keep*g
			}
			if nesterov {
				g += mu * buf[i]
			} else {
				g = buf[i]
			}
		}
		value[i] += step * g
	}
}
