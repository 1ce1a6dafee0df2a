package solvers

import (
	"math"
	"slices"
	"testing"

	"gorgonia.org/tensor"
)

// snapshot is every value and gradient of params, in order.
func snapshot(params []Param) []float64 {
	var all []float64
	for _, p := range params {
		if p.Value != nil && p.Value.Dtype() != tensor.Int {
			all = append(all, values(p.Value)...)
		}
		if p.Grad != nil && p.Grad.Dtype() != tensor.Int {
			all = append(all, values(p.Grad)...)
		}
	}
	return all
}

// scheduleFunc makes a function a Schedule.
type scheduleFunc func(base float64, step int) float64

func (f scheduleFunc) LR(base float64, step int) float64 { return f(base, step) }

func TestSettingErrors(t *testing.T) {
	nan := math.NaN()
	tests := []struct {
		solver Solver
		want   string
	}{
		{NewSGD(-0.1), "sgd: learning rate -0.1 is negative"},
		{NewSGD(nan), "sgd: learning rate NaN is not finite"},
		{NewSGD(math.Inf(1)), "sgd: learning rate +Inf is not finite"},
		{NewSGD(0.1, Momentum(-0.5)), "sgd: momentum -0.5 is negative"},
		{NewSGD(0.1, Momentum(0.9), Dampening(1.5)), "sgd: dampening 1.5 is outside [0, 1]"},
		{NewSGD(0.1, Nesterov()), "sgd: Nesterov momentum needs a positive momentum and zero dampening, have 0 and 0"},
		{NewSGD(0.1, Momentum(0.9), Dampening(0.1), Nesterov()),
			"sgd: Nesterov momentum needs a positive momentum and zero dampening, have 0.9 and 0.1"},
		{NewSGD(0.1, WeightDecay(-1)), "sgd: weight decay -1 is negative"},
		{NewSGD(0.1, Betas(0.9, 0.99)), "sgd: option Betas does not apply"},
		{NewAdam(-0.1), "adam: learning rate -0.1 is negative"},
		{NewAdam(0.1, Betas(1, 0.999)), "adam: beta1 1 is outside [0, 1)"},
		{NewAdam(0.1, Betas(0.9, nan)), "adam: beta2 NaN is outside [0, 1)"},
		{NewAdam(0.1, Eps(0)), "adam: eps 0 is not positive"},
		{NewAdam(0.1, Eps(-1e-8)), "adam: eps -1e-08 is negative"},
		{NewAdam(0.1, Nesterov()), "adam: option Nesterov does not apply"},
		{NewAdamW(0.1, WeightDecay(nan)), "adamw: weight decay NaN is not finite"},
		{NewAdamW(0.1, Momentum(0.9)), "adamw: option Momentum does not apply"},
		{NewRMSProp(0.1, Alpha(1)), "rmsprop: alpha 1 is outside [0, 1)"},
		{NewRMSProp(0.1, Momentum(-1)), "rmsprop: momentum -1 is negative"},
		{NewRMSProp(0.1, Eps(0)), "rmsprop: eps 0 is not positive"},
		{NewRMSProp(0.1, Dampening(0.5)), "rmsprop: option Dampening does not apply"},
		{NewAdaGrad(0.1, LRDecay(-1)), "adagrad: learning rate decay -1 is negative"},
		{NewAdaGrad(0.1, InitialAccumulator(-1)), "adagrad: initial accumulator -1 is negative"},
		{NewAdaGrad(0.1, Eps(0)), "adagrad: eps 0 is not positive"},
		{NewAdaGrad(0.1, Centered()), "adagrad: option Centered does not apply"},
		{NewSGD(0.1, WithSchedule(StepDecay(0, 0.5))), "sgd: step decay period 0 is not positive"},
		{NewSGD(0.1, WithSchedule(StepDecay(2, -0.5))), "sgd: step decay gamma -0.5 is negative or not finite"},
		{NewSGD(0.1, WithSchedule(MultiStep([]int{3, -1}, 0.5))), "sgd: multi-step milestone -1 is negative"},
		{NewSGD(0.1, WithSchedule(Cosine(0, 0))), "sgd: cosine length 0 is not positive"},
		{NewSGD(0.1, WithSchedule(Cosine(10, nan))), "sgd: cosine minimum rate NaN is negative or not finite"},
		{NewSGD(0.1, WithSchedule(Warmup(-1, nil))), "sgd: warm-up length -1 is negative"},
		{NewSGD(0.1, WithSchedule(Warmup(5, Cosine(0, 0)))), "sgd: cosine length 0 is not positive"},
		{NewSGD(0.1, WithSchedule(scheduleFunc(func(float64, int) float64 { return nan }))),
			"sgd: schedule gives learning rate NaN at step 0"},
		{NewSGD(0.1, WithSchedule(scheduleFunc(func(float64, int) float64 { return -1 }))),
			"sgd: schedule gives learning rate -1 at step 0"},
	}
	for _, tt := range tests {
		t.Run(tt.want, func(t *testing.T) {
			q := newQuadratic(tensor.Float64, loadReference(t).Problem)
			q.gradients()
			before := snapshot(q.params)
			err := tt.solver.Step(q.params)
			if err == nil || err.Error() != tt.want {
				t.Fatalf("Step: error %v, want %q", err, tt.want)
			}
			if !slices.Equal(snapshot(q.params), before) || tt.solver.Steps() != 0 || len(tt.solver.State()) != 1 {
				t.Errorf("a failed Step changed something")
			}
		})
	}
}

func TestParamErrors(t *testing.T) {
	f32 := func(shape ...int) *tensor.Dense { return zeros(tensor.Float32, shape) }
	f64 := func(shape ...int) *tensor.Dense { return zeros(tensor.Float64, shape) }
	transposed := f64(2, 3)
	if err := transposed.T(); err != nil {
		t.Fatal(err)
	}
	ints := tensor.New(tensor.WithShape(2, 3), tensor.WithBacking(make([]int, 6)))
	tests := []struct {
		name string
		p    Param
		want string
	}{
		{"shape", Param{"fc.bias", f64(2, 3), f64(3, 2)},
			`adam: parameter "fc.bias": gradient has shape (3, 2), value has shape (2, 3)`},
		{"vector shape", Param{"fc.bias", f64(1, 3), f64(3)},
			`adam: parameter "fc.bias": gradient has shape (3), value has shape (1, 3)`},
		{"dtype", Param{"fc.bias", f64(2, 3), f32(2, 3)},
			`adam: parameter "fc.bias": gradient is float32, value is float64`},
		{"nil value", Param{"fc.bias", nil, f64(2, 3)},
			`adam: parameter "fc.bias": value is nil`},
		{"nil gradient", Param{"fc.bias", f64(2, 3), nil},
			`adam: parameter "fc.bias": gradient is nil`},
		{"int", Param{"fc.bias", ints, ints},
			`adam: parameter "fc.bias": value: dtype int is not float32 or float64`},
		{"no dtype", Param{"fc.bias", &tensor.Dense{}, f64(2, 3)},
			`adam: parameter "fc.bias": value: dtype no dtype is not float32 or float64`},
		{"view", Param{"fc.bias", f64(3, 2), transposed},
			`adam: parameter "fc.bias": gradient: tensor is a view or transposed; materialize it first`},
		{"no name", Param{"", f64(2, 3), f64(2, 3)},
			`adam: parameter 2 has no name`},
		{"twice", Param{"w", f64(2, 3), f64(2, 3)},
			`adam: parameter "w" is given twice`},
		{"state of another dtype", Param{"b", f32(3), f32(3)},
			`adam: parameter "b" is float32 (3) but its state exp_avg is float64 (3)`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			q := newQuadratic(tensor.Float64, loadReference(t).Problem)
			s := NewAdam(0.01)
			q.run(t, s, 1)
			params := slices.Clone(q.params)
			if tt.name == "state of another dtype" {
				params = params[:1]
			}
			params = append(params, tt.p)
			q.gradients()
			before := snapshot(params)
			err := s.Step(params)
			if err == nil || err.Error() != tt.want {
				t.Fatalf("Step: error %v, want %q", err, tt.want)
			}
			if !slices.Equal(snapshot(params), before) || s.Steps() != 1 {
				t.Errorf("a failed Step changed something")
			}
		})
	}
}
