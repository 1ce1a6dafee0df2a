package solvers

import (
	"fmt"
	"math"
)

// A solver evaluates its schedule at its own update count, so step below is the number of
// updates before the one being made: the first Step uses step 0. The schedules are closed-form
// functions of (base, step), with no state of their own.

// Constant returns the schedule that keeps the base rate.
func Constant() Schedule { return constant{} }

type constant struct{}

func (constant) LR(base float64, step int) float64 { return base }

// StepDecay returns PyTorch's StepLR: the rate is multiplied by gamma every `every` updates,
//
//	lr = base · gamma^⌊step/every⌋.
//
// A solver's Step reports every < 1 and a gamma that is negative or not finite.
func StepDecay(every int, gamma float64) Schedule { return stepDecay{every, gamma} }

type stepDecay struct {
	every int
	gamma float64
}

func (s stepDecay) LR(base float64, step int) float64 {
	if s.every < 1 {
		return math.NaN()
	}
	return base * math.Pow(s.gamma, float64(step/s.every))
}

func (s stepDecay) check() error {
	if s.every < 1 {
		return fmt.Errorf("step decay period %d is not positive", s.every)
	}
	return checkGamma("step decay", s.gamma)
}

// MultiStep returns PyTorch's MultiStepLR: the rate is multiplied by gamma at each milestone,
//
//	lr = base · gamma^(number of milestones ≤ step),
//
// so a milestone listed twice counts twice. The milestones are copied and need not be sorted.
// A solver's Step reports a negative milestone and a gamma that is negative or not finite.
func MultiStep(milestones []int, gamma float64) Schedule {
	return multiStep{append([]int(nil), milestones...), gamma}
}

type multiStep struct {
	milestones []int
	gamma      float64
}

func (s multiStep) LR(base float64, step int) float64 {
	passed := 0
	for _, m := range s.milestones {
		if m <= step {
			passed++
		}
	}
	return base * math.Pow(s.gamma, float64(passed))
}

func (s multiStep) check() error {
	for _, m := range s.milestones {
		if m < 0 {
			return fmt.Errorf("multi-step milestone %d is negative", m)
		}
	}
	return checkGamma("multi-step", s.gamma)
}

// Cosine returns PyTorch's CosineAnnealingLR, without restarts: the rate falls from base to
// minLR along half a cosine over total updates and then stays at minLR,
//
//	lr = minLR + (base - minLR) · (1 + cos(π · min(step, total)/total)) / 2.
//
// A solver's Step reports total < 1 and a minLR that is negative or not finite.
func Cosine(total int, minLR float64) Schedule { return cosine{total, minLR} }

type cosine struct {
	total int
	minLR float64
}

func (s cosine) LR(base float64, step int) float64 {
	if s.total < 1 {
		return math.NaN()
	}
	t := min(step, s.total)
	return s.minLR + (base-s.minLR)*(1+math.Cos(math.Pi*float64(t)/float64(s.total)))/2
}

func (s cosine) check() error {
	if s.total < 1 {
		return fmt.Errorf("cosine length %d is not positive", s.total)
	}
	if math.IsNaN(s.minLR) || math.IsInf(s.minLR, 0) || s.minLR < 0 {
		return fmt.Errorf("cosine minimum rate %v is negative or not finite", s.minLR)
	}
	return nil
}

// Warmup returns a linear warm-up over the first `steps` updates followed by then:
//
//	lr = base · (step+1)/steps        for step < steps,
//	lr = then.LR(base, step - steps)  afterwards,
//
// so the first update uses base/steps, update steps-1 uses the full base, and then starts from
// its own step 0. Warmup(0, then) is then; a nil then is Constant(). A solver's Step reports
// steps < 0.
func Warmup(steps int, then Schedule) Schedule {
	if then == nil {
		then = constant{}
	}
	return warmup{steps, then}
}

type warmup struct {
	steps int
	then  Schedule
}

func (s warmup) LR(base float64, step int) float64 {
	if step < s.steps {
		return base * float64(step+1) / float64(s.steps)
	}
	return s.then.LR(base, step-s.steps)
}

func (s warmup) check() error {
	if s.steps < 0 {
		return fmt.Errorf("warm-up length %d is negative", s.steps)
	}
	if ch, ok := s.then.(interface{ check() error }); ok {
		return ch.check()
	}
	return nil
}

func checkGamma(schedule string, gamma float64) error {
	if math.IsNaN(gamma) || math.IsInf(gamma, 0) || gamma < 0 {
		return fmt.Errorf("%s gamma %v is negative or not finite", schedule, gamma)
	}
	return nil
}
