package main

import (
	"bytes"
	"encoding/json"
	"math"
	"os"
	"strings"
	"testing"
)

func TestConvJSON(t *testing.T) {
	dir := t.TempDir()
	var out, errb bytes.Buffer
	if code := run([]string{"conv", "-json", "-out", dir, "-x", "2,-1,0.5,3,1,4", "-w", "1,-2,0.5", "-dout", "1,2,-3,0.25"}, &out, &errb); code != 0 {
		t.Fatalf("exit %d: %s", code, errb.String())
	}
	var res convResult
	if err := json.Unmarshal(out.Bytes(), &res); err != nil {
		t.Fatalf("not one JSON object: %v\n%s", err, out.String())
	}
	if len(res.Shapes) < 5 {
		t.Fatalf("%d shapes", len(res.Shapes))
	}
	for _, s := range res.Shapes {
		if len(s.Output) != 4 || s.Output[2] != s.Predicted[0] || s.Output[3] != s.Predicted[1] || s.Output[1] != s.Kernels {
			t.Errorf("%s: output %v, predicted %v with %d kernels", s.Setting, s.Output, s.Predicted, s.Kernels)
		}
	}
	if s := res.Shapes[0]; s.Output[2] != 26 || s.Output[3] != 26 {
		t.Errorf("a 28x28 digit and a 3x3 kernel gave %v, want 26x26", s.Output)
	}
	b := res.Backprop
	if len(b.Out) != 4 || len(b.DXGraph) != 6 || len(b.DWGraph) != 3 {
		t.Fatalf("sizes: %d outputs, %d input gradients, %d kernel gradients", len(b.Out), len(b.DXGraph), len(b.DWGraph))
	}
	for i := range b.DXGraph {
		if math.Abs(b.DXGraph[i]-b.DXFormula[i]) > 1e-12 {
			t.Errorf("dX%d: graph %v, formula %v", i+1, b.DXGraph[i], b.DXFormula[i])
		}
	}
	for i := range b.DWGraph {
		if math.Abs(b.DWGraph[i]-b.DWFormula[i]) > 1e-12 {
			t.Errorf("dW%d: graph %v, formula %v", i+1, b.DWGraph[i], b.DWFormula[i])
		}
	}
	// dX3 by the course's formula.
	if want := b.W[2]*b.DOut[0] + b.W[1]*b.DOut[1] + b.W[0]*b.DOut[2]; math.Abs(b.DXGraph[2]-want) > 1e-12 {
		t.Errorf("dX3 = %v, W3·dO1 + W2·dO2 + W1·dO3 = %v", b.DXGraph[2], want)
	}
	if len(res.Figures) != 1 {
		t.Fatalf("figures %v", res.Figures)
	}
	if st, err := os.Stat(res.Figures[0]); err != nil || st.Size() == 0 {
		t.Errorf("figure %s: %v", res.Figures[0], err)
	}
}

func TestConvText(t *testing.T) {
	if testing.Short() {
		t.Skip("loads MNIST")
	}
	var out, errb bytes.Buffer
	if code := run([]string{"conv"}, &out, &errb); code != 0 {
		t.Fatalf("exit %d: %s", code, errb.String())
	}
	for _, want := range []string{
		"3x3 kernel, stride 1, no padding:", "(1, 4, 26, 26)",
		"dX3 = W3·dO1 + W2·dO2 + W1·dO3 = 3·1 + 2·10 + 1·100 = 123 (graph: 123)",
		"dX is the full correlation of dO padded by 2, [0 0 1 10 100 0 0], with the flipped kernel [3 2 1]",
	} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("output lacks %q:\n%s", want, out.String())
		}
	}
}

func TestConvUsageErrors(t *testing.T) {
	for _, c := range []struct {
		args []string
		want string
	}{
		{[]string{"conv", "-dout", "1,2"}, "-dout has 2 values; the output of 5 inputs and a kernel of 3 has 3"},
		{[]string{"conv", "-x", "1,a"}, `-x "1,a": "a" is not a number`},
		{[]string{"conv", "-x", "1,2", "-w", "1,2,3"}, "-w has 3 values, more than the 2 of -x"},
		{[]string{"conv", "extra"}, `unexpected argument "extra"`},
	} {
		var out, errb bytes.Buffer
		if code := run(c.args, &out, &errb); code != 2 || !strings.Contains(errb.String(), c.want) {
			t.Errorf("%v: exit %d, stderr %q; want 2 and %q", c.args, code, errb.String(), c.want)
		}
	}
}
