package main

import (
	"math"
	"testing"
)

// TestLoopsAdd checks the arithmetic of each FMA loop this machine runs: every accumulator
// adds a*b once an iteration, and the loop returns the sum of its accumulators lane by lane.
// The values are exact in float32.
func TestLoopsAdd(t *testing.T) {
	ls := loops()
	if len(ls) == 0 {
		t.Skip("no FMA loop on this CPU")
	}
	for _, l := range ls {
		for _, n := range []int{0, 1, 1000} {
			got := l.run(n, 0.5, 0.25)
			want := float32(accumulators(l.name)*n) * 0.125
			for i, v := range got {
				if v != want {
					t.Errorf("%s, %d iterations: lane %d = %v, want %v", l.name, n, i, v, want)
				}
			}
		}
	}
}

// TestMeasure runs each loop on one core and on two and checks that it reports a finite,
// positive throughput for the right core count (no speed is asserted: the machine is shared).
func TestMeasure(t *testing.T) {
	for _, l := range loops() {
		for _, c := range []int{1, 2} {
			f := measure(l, 1000, c, 3)
			if f.Cores != c || f.ISA != l.name || !(f.Best > 0) || math.IsInf(f.Best, 0) || f.Median > f.Best {
				t.Errorf("%s on %d cores: %+v", l.name, c, f)
			}
		}
	}
}

func TestParseCores(t *testing.T) {
	if cs, err := parseCores("1, 2"); err != nil || len(cs) != 2 || cs[0] != 1 || cs[1] != 2 {
		t.Errorf("parseCores(\"1, 2\") = %v, %v", cs, err)
	}
	for _, bad := range []string{"", "0", "1,x", "-1"} {
		if _, err := parseCores(bad); err == nil {
			t.Errorf("parseCores(%q): no error", bad)
		}
	}
}
