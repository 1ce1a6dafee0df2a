package solvers

import "gorgonia.org/tensor"

// RMSProp is the RMSProp solver, as PyTorch's torch.optim.RMSprop. With learning rate γ,
// smoothing constant α, weight decay λ, momentum μ and ε, an update of a parameter θ with
// gradient g is
//
//	g ← g + λθ                  (when λ ≠ 0)
//	v ← αv + (1-α) g²           (buffer "square_avg", starts at 0)
//	a ← αa + (1-α) g            (centered only; buffer "grad_avg", starts at 0)
//	s ← √(v - a²) + ε if centered, else √v + ε
//	b ← μb + g/s, θ ← θ - γb    (when μ > 0; buffer "momentum_buffer", starts at 0)
//	θ ← θ - γ g/s               (otherwise)
//
// Note that ε is added after the square root, as PyTorch does (TensorFlow adds it inside).
type RMSProp struct{ core }

// NewRMSProp returns an RMSProp solver with learning rate lr. It takes the options Alpha
// (default 0.99), Eps (1e-8), Momentum (0), Centered, WeightDecay (0) and WithSchedule.
func NewRMSProp(lr float64, opts ...Option) *RMSProp {
	set := settings{alpha: 0.99, eps: 1e-8}
	set.apply(opts)
	buffers := []string{"square_avg"}
	if set.momentum > 0 {
		buffers = append(buffers, "momentum_buffer")
	}
	if set.centered {
		buffers = append(buffers, "grad_avg")
	}
	r := &RMSProp{newCore("rmsprop", lr, set, buffers...)}
	r.err = r.check()
	return r
}

func (r *RMSProp) check() error {
	if err := r.checkSettings("Alpha", "Eps", "Momentum", "Centered", "WeightDecay", "WithSchedule"); err != nil {
		return err
	}
	if err := r.fraction("alpha", r.set.alpha, false); err != nil {
		return err
	}
	if err := r.nonNegative("momentum", r.set.momentum); err != nil {
		return err
	}
	return r.positive("eps", r.set.eps)
}

// Step applies one update to every parameter; see the type's documentation.
func (r *RMSProp) Step(params []Param) error {
	return r.step(params, func(lr float64, p Param, bufs []*tensor.Dense, _ bool) {
		if p.Value.Dtype() == tensor.Float32 {
			rmspropUpdate(r, lr, p, bufs, (*tensor.Dense).Float32s)
		} else {
			rmspropUpdate(r, lr, p, bufs, (*tensor.Dense).Float64s)
		}
	})
}

// rmspropUpdate applies one update to p. It is portable Go only, as sgdUpdate is: no workload
// trains with RMSProp.
func rmspropUpdate[T float](r *RMSProp, lr float64, p Param, bufs []*tensor.Dense, data func(*tensor.Dense) []T) {
	value, grad, sq := data(p.Value), data(p.Grad), data(bufs[0])
	var buf, avg []T
	if r.set.momentum > 0 {
		buf = data(bufs[1])
	}
	if r.set.centered {
		avg = data(bufs[len(bufs)-1])
	}
	wd, alpha, rest, mu, eps, step := T(r.set.weightDecay), T(r.set.alpha), T(1-r.set.alpha),
		T(r.set.momentum), T(r.set.eps), T(-lr)
	decay, centered, momentum := r.set.weightDecay != 0, r.set.centered, r.set.momentum > 0
	for i, g := range grad {
		if decay {
			g += wd * value[i]
		}
		sq[i] = sq[i]*alpha + rest*g*g
		var s T
		if centered {
			avg[i] = avg[i]*alpha + rest*g
			s = sqrt(sq[i]-avg[i]*avg[i]) + eps
		} else {
			s = sqrt(sq[i]) + eps
		}
		if momentum {
			buf[i] = buf[i]*mu + g/s
			value[i] += step * buf[i]
		} else {
			value[i] += step * g / s
		}
	}
}
