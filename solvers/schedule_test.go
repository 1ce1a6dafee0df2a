package solvers

import (
	"math"
	"testing"

	"gorgonia.org/tensor"
)

func TestSchedulesMatchPyTorch(t *testing.T) {
	schedules := map[string]Schedule{
		"step_decay": StepDecay(3, 0.5),
		"multi_step": MultiStep([]int{7, 5, 2, 5}, 0.1),
		"cosine":     Cosine(8, 0.001),
	}
	for _, c := range loadReference(t).Schedules {
		s, ok := schedules[c.Name]
		if !ok {
			t.Errorf("no schedule for reference case %s", c.Name)
			continue
		}
		for step, want := range c.LRs {
			if got := s.LR(c.Base, step); math.Abs(got-want) > 1e-15 {
				t.Errorf("%s: LR(%v, %d) = %v, PyTorch has %v", c.Name, c.Base, step, got, want)
			}
		}
	}
}

func TestSchedules(t *testing.T) {
	tests := []struct {
		name     string
		schedule Schedule
		want     []float64 // from step 0, base 1
	}{
		{"constant", Constant(), []float64{1, 1, 1}},
		{"step decay", StepDecay(2, 0.1), []float64{1, 1, 0.1, 0.1, 0.1 * 0.1}},
		{"multi-step", MultiStep([]int{1, 3}, 0.5), []float64{1, 0.5, 0.5, 0.25, 0.25}},
		{"cosine stays at its minimum", Cosine(2, 0.2), []float64{1, 0.6, 0.2, 0.2, 0.2}},
		{"warm-up", Warmup(4, nil), []float64{0.25, 0.5, 0.75, 1, 1, 1}},
		{"warm-up then decay", Warmup(2, StepDecay(1, 0.5)), []float64{0.5, 1, 1, 0.5, 0.25}},
		{"no warm-up", Warmup(0, StepDecay(1, 0.5)), []float64{1, 0.5, 0.25}},
	}
	for _, tt := range tests {
		for step, want := range tt.want {
			if got := tt.schedule.LR(1, step); math.Abs(got-want) > 1e-15 {
				t.Errorf("%s: LR(1, %d) = %v, want %v", tt.name, step, got, want)
			}
		}
	}
}

// TestSolverFollowsSchedule: a solver's LR is its schedule at its update count, with AdaGrad's
// learning-rate decay on top.
func TestSolverFollowsSchedule(t *testing.T) {
	q := newQuadratic(tensor.Float64, loadReference(t).Problem)
	sgd := NewSGD(0.1, WithSchedule(Warmup(2, nil)))
	adagrad := NewAdaGrad(0.1, LRDecay(1), WithSchedule(StepDecay(1, 0.5)))
	for step, want := range []struct{ sgd, adagrad float64 }{
		{0.05, 0.1}, {0.1, 0.1 * 0.5 / 2}, {0.1, 0.1 * 0.25 / 3},
	} {
		if sgd.LR() != want.sgd || math.Abs(adagrad.LR()-want.adagrad) > 1e-17 {
			t.Errorf("step %d: LR() = %v and %v, want %v and %v", step, sgd.LR(), adagrad.LR(), want.sgd, want.adagrad)
		}
		q.run(t, sgd, 1)
		q.run(t, adagrad, 1)
	}
}

func TestClipGlobalNormMatchesPyTorch(t *testing.T) {
	for _, c := range loadReference(t).Clips {
		t.Run(c.Name+"/"+c.Dtype, func(t *testing.T) {
			dt := dtypeOf(c.Dtype)
			grads := []*tensor.Dense{newTensor(dt, []int{2, 3}, c.Grads[0]), newTensor(dt, []int{3}, c.Grads[1])}
			norm, err := ClipGlobalNorm(grads, c.MaxNorm)
			if err != nil {
				t.Fatal(err)
			}
			// PyTorch sums float32 gradients in float32; ClipGlobalNorm always sums in float64.
			if d := ulps(norm, c.Norm, dt); d > maxULPs {
				t.Errorf("norm %v, PyTorch has %v (%.1f ulps)", norm, c.Norm, d)
			}
			for i, g := range grads {
				for j, got := range values(g) {
					if d := ulps(got, c.Clipped[i][j], dt); d > maxULPs {
						t.Errorf("gradient %d[%d] = %v, PyTorch has %v (%.1f ulps)", i, j, got, c.Clipped[i][j], d)
					}
				}
			}
		})
	}
}

func TestClipGlobalNormErrors(t *testing.T) {
	grads := func(v ...float64) []*tensor.Dense {
		return []*tensor.Dense{tensor.New(tensor.WithShape(len(v)), tensor.WithBacking(v))}
	}
	tests := []struct {
		name     string
		grads    []*tensor.Dense
		maxNorm  float64
		wantNorm float64
		want     string
	}{
		{"NaN gradient", grads(3, math.NaN()), 1, math.NaN(), "clip global norm: gradient norm is NaN"},
		{"infinite gradient", grads(3, math.Inf(-1)), 1, math.Inf(1), "clip global norm: gradient norm is +Inf"},
		{"zero max norm", grads(3, 4), 0, 0, "clip global norm: max norm 0 is not positive"},
		{"NaN max norm", grads(3, 4), math.NaN(), 0, "clip global norm: max norm NaN is not positive"},
		{"nil gradient", append(grads(3, 4), nil), 1, 0, "clip global norm: gradient 1: tensor is nil"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			before := values(tt.grads[0])
			norm, err := ClipGlobalNorm(tt.grads, tt.maxNorm)
			if err == nil || err.Error() != tt.want {
				t.Fatalf("error %v, want %q", err, tt.want)
			}
			if !(norm == tt.wantNorm || math.IsNaN(norm) && math.IsNaN(tt.wantNorm)) {
				t.Errorf("norm %v, want %v", norm, tt.wantNorm)
			}
			for i, got := range values(tt.grads[0]) {
				if !(got == before[i] || math.IsNaN(got) && math.IsNaN(before[i])) {
					t.Errorf("gradient changed to %v, was %v", values(tt.grads[0]), before)
					break
				}
			}
		})
	}
	if norm, err := ClipGlobalNorm(nil, 1); norm != 0 || err != nil {
		t.Errorf("no gradients: norm %v, error %v; want 0 and no error", norm, err)
	}
}
