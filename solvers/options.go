package solvers

// Option configures a solver. Options cannot fail: a value out of range, or an option the solver
// does not take (Nesterov for Adam), is reported by the solver's Step. Each constructor lists
// the options it takes and their defaults.
type Option func(*settings)

// settings holds every option of every solver; each solver reads the fields it takes.
type settings struct {
	momentum           float64
	dampening          float64
	nesterov           bool
	weightDecay        float64
	beta1, beta2       float64
	eps                float64
	alpha              float64
	centered           bool
	lrDecay            float64
	initialAccumulator float64
	schedule           Schedule
	given              []string // names of the options given, checked against the solver's list
}

func (s *settings) apply(opts []Option) {
	for _, opt := range opts {
		if opt != nil {
			opt(s)
		}
	}
}

// Momentum sets the momentum factor μ of SGD and RMSProp (default 0, no momentum buffer).
func Momentum(m float64) Option {
	return func(s *settings) { s.momentum = m; s.given = append(s.given, "Momentum") }
}

// Dampening sets SGD's dampening τ for momentum, in [0, 1] (default 0).
func Dampening(d float64) Option {
	return func(s *settings) { s.dampening = d; s.given = append(s.given, "Dampening") }
}

// Nesterov turns SGD's momentum into Nesterov momentum. It needs a positive Momentum and zero
// Dampening.
func Nesterov() Option {
	return func(s *settings) { s.nesterov = true; s.given = append(s.given, "Nesterov") }
}

// WeightDecay sets the weight decay λ. SGD, Adam, RMSProp and AdaGrad add it to the gradient as
// an L2 penalty, g + λθ; AdamW decays the parameter itself, θ(1 - γλ), before its update
// (default 0, and 0.01 for AdamW).
func WeightDecay(wd float64) Option {
	return func(s *settings) { s.weightDecay = wd; s.given = append(s.given, "WeightDecay") }
}

// Betas sets Adam's and AdamW's decay rates of the first and second moment estimates, each in
// [0, 1) (default 0.9 and 0.999).
func Betas(beta1, beta2 float64) Option {
	return func(s *settings) { s.beta1, s.beta2 = beta1, beta2; s.given = append(s.given, "Betas") }
}

// Eps sets the positive term added to the denominator of Adam, AdamW, RMSProp (default 1e-8)
// and AdaGrad (default 1e-10).
func Eps(e float64) Option {
	return func(s *settings) { s.eps = e; s.given = append(s.given, "Eps") }
}

// Alpha sets RMSProp's smoothing constant α, in [0, 1) (default 0.99).
func Alpha(a float64) Option {
	return func(s *settings) { s.alpha = a; s.given = append(s.given, "Alpha") }
}

// Centered makes RMSProp divide by an estimate of the gradient's variance instead of its
// uncentered second moment.
func Centered() Option {
	return func(s *settings) { s.centered = true; s.given = append(s.given, "Centered") }
}

// LRDecay sets AdaGrad's learning-rate decay η: update t (from 1) uses γ / (1 + (t-1)η)
// (default 0).
func LRDecay(d float64) Option {
	return func(s *settings) { s.lrDecay = d; s.given = append(s.given, "LRDecay") }
}

// InitialAccumulator sets the value AdaGrad's sum of squared gradients starts from (default 0).
func InitialAccumulator(v float64) Option {
	return func(s *settings) { s.initialAccumulator = v; s.given = append(s.given, "InitialAccumulator") }
}

// WithSchedule makes any solver take its learning rate from s, evaluated at the solver's own
// update count: the k-th Step (counting from 0) uses s.LR(base, k). Since that count is saved
// by State and restored by SetState, so is the position in the schedule. A nil s means a
// constant rate.
func WithSchedule(s Schedule) Option {
	return func(st *settings) { st.schedule = s; st.given = append(st.given, "WithSchedule") }
}
