package rnn_test

import (
	"fmt"
	"math"
	"strings"
	"testing"

	"github.com/unroll-ml/unroll/data"
	"github.com/unroll-ml/unroll/models/rnn"
)

// A least-squares AR(2) recovers the recurrence that generated a series, and its 1-step and
// k-step forecasts are then exact; persistence lags behind by k steps.
func ExampleFitLinearAR() {
	// x_t = 1 + 1.6 x_{t-1} - 0.9 x_{t-2}: a slowly damped oscillation around 10/3.
	x := []float64{0, 4}
	for len(x) < 40 {
		n := len(x)
		x = append(x, 1+1.6*x[n-1]-0.9*x[n-2])
	}
	ar, err := rnn.FitLinearAR(x[:30], 2)
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Printf("weights %.3f %.3f, intercept %.3f\n", ar.Weights[0], ar.Weights[1], ar.Intercept)
	for _, k := range []int{1, 4} {
		pred, _ := rnn.KStep(ar, x, 30, k)
		arErr, _ := rnn.RMSE(pred, x[30:])
		base, _ := rnn.KStep(rnn.Persistence{}, x, 30, k)
		baseErr, _ := rnn.RMSE(base, x[30:])
		fmt.Printf("%d-step RMSE: least-squares AR(2) %.4f, persistence %.4f\n", k, arErr, baseErr)
	}
	// Output:
	// weights -0.900 1.600, intercept 1.000
	// 1-step RMSE: least-squares AR(2) 0.0000, persistence 0.4673
	// 4-step RMSE: least-squares AR(2) 0.0000, persistence 1.8327
}

// k-step forecasts feed the model's own predictions back: with the rule "next = last + 1"
// on a series that doubles, the error grows with k.
func ExampleKStep() {
	values := []float64{1, 2, 4, 8, 16, 32, 64}
	plusOne := rnn.LinearAR{Weights: []float64{1}, Intercept: 1}
	for _, k := range []int{1, 2, 3} {
		pred, err := rnn.KStep(&plusOne, values, 4, k) // forecasts of 16, 32, 64
		fmt.Println(k, pred, err)
	}
	_, err := rnn.KStep(&plusOne, values, 4, 5)
	fmt.Println(err)
	// Output:
	// 1 [9 17 33] <nil>
	// 2 [6 10 18] <nil>
	// 3 [5 7 11] <nil>
	// k-step forecast: 5-step forecasts from step 4 need 5 earlier values, the series has 4 before it (window 1)
}

// kstepByHand is the definition of the k-step forecast of values[t], one target at a time.
func kstepByHand(t *testing.T, p rnn.Predictor, values []float64, target, k int) float64 {
	w := p.Window()
	o := target - k + 1
	buf := append([]float64(nil), values[o-w:o]...)
	for s := 0; s < k; s++ {
		pred, err := p.Predict(buf[len(buf)-w:])
		if err != nil {
			t.Fatal(err)
		}
		buf = append(buf, pred[0])
	}
	return buf[len(buf)-1]
}

func TestKStepMatchesDefinition(t *testing.T) {
	values := make([]float64, 60)
	for i := range values {
		values[i] = math.Sin(0.3*float64(i)) + 0.1*float64(i%7)
	}
	ar := &rnn.LinearAR{Weights: []float64{0.2, -0.4, 1.1}, Intercept: 0.05}
	for _, p := range []rnn.Predictor{ar, rnn.Persistence{}, rnn.Differenced{P: ar}} {
		for _, k := range []int{1, 2, 5} {
			from := 20
			pred, err := rnn.KStep(p, values, from, k)
			if err != nil {
				t.Fatal(err)
			}
			if len(pred) != len(values)-from {
				t.Fatalf("%T k=%d: %d forecasts, want %d", p, k, len(pred), len(values)-from)
			}
			for i, got := range pred {
				want := kstepByHand(t, p, values, from+i, k)
				if math.Abs(got-want) > 1e-12 {
					t.Fatalf("%T k=%d target %d: %v, by hand %v", p, k, from+i, got, want)
				}
			}
		}
	}
	one, _ := rnn.OneStep(ar, values, 20)
	k1, _ := rnn.KStep(ar, values, 20, 1)
	for i := range one {
		if one[i] != k1[i] {
			t.Fatalf("OneStep and KStep(k=1) differ at %d: %v, %v", i, one[i], k1[i])
		}
	}
	// Persistence's k-step forecast of x_t is x_{t-k}.
	pk, _ := rnn.KStep(rnn.Persistence{}, values, 20, 3)
	for i, v := range pk {
		if v != values[20+i-3] {
			t.Fatalf("persistence 3-step forecast of %d is %v, want x_%d = %v", 20+i, v, 17+i, values[17+i])
		}
	}
}

func TestRolloutAndDifferenced(t *testing.T) {
	// Differenced persistence repeats the last change: it continues a straight line.
	d := rnn.Differenced{P: rnn.Persistence{}}
	got, err := rnn.Rollout(d, []float64{5, 1, 3, 5}, 3)
	if err != nil {
		t.Fatal(err)
	}
	if fmt.Sprint(got) != "[7 9 11]" {
		t.Fatalf("rollout %v, want [7 9 11]", got)
	}
	if d.Window() != 2 {
		t.Fatalf("window %d, want 2", d.Window())
	}
	if fmt.Sprint(rnn.Differences([]float64{1, 4, 2})) != "[3 -2]" || rnn.Differences([]float64{1}) != nil {
		t.Fatalf("differences wrong")
	}
	// A standardised predictor maps back to the series' units.
	s := rnn.Scaled{P: rnn.Persistence{}, Scaler: data.Scaler{Mean: 10, Std: 2}}
	p, err := s.Predict([]float64{12, 7})
	if err != nil || fmt.Sprint(p) != "[12 7]" {
		t.Fatalf("scaled persistence %v, %v", p, err)
	}
}

// Bad input gives errors that say what is wrong, never a panic or a silent number.
func TestForecastErrors(t *testing.T) {
	ar := &rnn.LinearAR{Weights: []float64{0.5, 0.5}}
	cases := []struct {
		name string
		run  func() error
		want string
	}{
		{"too few values for tau", func() error { _, err := rnn.FitLinearAR([]float64{1, 2, 3, 4}, 2); return err }, "too few"},
		{"tau zero", func() error { _, err := rnn.FitLinearAR([]float64{1, 2, 3, 4}, 0); return err }, "tau = 0"},
		{"constant series", func() error { _, err := rnn.FitLinearAR([]float64{2, 2, 2, 2, 2, 2, 2}, 2); return err }, "linearly dependent"},
		{"window before start", func() error { _, err := rnn.OneStep(ar, []float64{1, 2, 3}, 1); return err }, "need 2 earlier values"},
		{"start past end", func() error { _, err := rnn.OneStep(ar, []float64{1, 2, 3}, 3); return err }, "outside the series"},
		{"k zero", func() error { _, err := rnn.KStep(ar, []float64{1, 2, 3}, 2, 0); return err }, "k = 0"},
		{"nan in series", func() error { _, err := rnn.OneStep(ar, []float64{1, math.NaN(), 3, 4}, 2); return err }, "value 1 is NaN"},
		{"partial window", func() error { _, err := ar.Predict([]float64{1, 2, 3}); return err }, "whole windows of 2"},
		{"rollout short history", func() error { _, err := rnn.Rollout(ar, []float64{1}, 2); return err }, "too few"},
		{"rmse lengths", func() error { _, err := rnn.RMSE([]float64{1}, []float64{1, 2}); return err }, "1 predictions for 2 targets"},
		{"rmse empty", func() error { _, err := rnn.RMSE(nil, nil); return err }, "no values"},
		{"windows too few", func() error { _, _, err := data.Windows([]float64{1, 2, 3}, 3); return err }, "too few"},
	}
	for _, c := range cases {
		err := c.run()
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s: error %v, want one containing %q", c.name, err, c.want)
		}
	}
}
