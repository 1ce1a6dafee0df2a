package compute

import (
	"math"
	"testing"
)

func TestArgMax(t *testing.T) {
	nan := math.NaN()
	for _, c := range []struct {
		v    []float64
		want int
	}{
		{nil, -1}, {[]float64{3}, 0}, {[]float64{1, 5, 2}, 1}, {[]float64{4, 4, 1}, 0},
		{[]float64{-3, -1, -2}, 1}, {[]float64{1, nan, 2}, 2}, {[]float64{nan, 1, 2}, 0},
		{[]float64{math.Inf(-1), math.Inf(1), 0}, 1},
	} {
		if got := ArgMax(c.v); got != c.want {
			t.Errorf("ArgMax(%v) = %d, want %d", c.v, got, c.want)
		}
	}
	if got := ArgMax([]float32{0.5, 2, 1.5}); got != 1 {
		t.Errorf("float32: %d, want 1", got)
	}
}
