package ops

import (
	"math/rand/v2"
	"testing"

	"gorgonia.org/tensor"
)

// BenchmarkElementwiseOps times the W1 net's ReLU and 2x2 max pooling, forward and backward,
// and a dropout product, on its first layer's activations (64 x 32 x 28 x 28, float32, about
// half of them zero after the ReLU), in ms per op, on each instruction set the machine has.
func BenchmarkElementwiseOps(b *testing.B) {
	r := rand.New(rand.NewPCG(1, 2))
	x := randDense32(r, 64, 32, 28, 28)
	relu := activationOp{kind: ReLU, unary: unary{4}}
	pool := poolOp{kind: MaxPool, win: Window{KH: 2, KW: 2, SH: 2, SW: 2, DH: 1, DW: 1}, unary: unary{4}}
	y := newDense[float32](64, 32, 28, 28)
	if _, err := relu.DoInto(y, x); err != nil {
		b.Fatal(err)
	}
	p := newDense[float32](64, 32, 14, 14)
	dp := randDense32(r, 64, 32, 14, 14)
	dx := newDense[float32](64, 32, 28, 28)
	steps := []struct {
		name string
		f    func() error
	}{
		{"relu", func() error { _, err := relu.DoInto(y, x); return err }},
		{"relu_dx", func() error { _, err := activationGradOp{fwd: relu}.DoInto(dx, x, y, y); return err }},
		{"maxpool", func() error { _, err := pool.DoInto(p, y); return err }},
		{"maxpool_dx", func() error { _, err := poolGradOp{fwd: pool}.DoInto(dx, y, dp); return err }},
		{"dropout", func() error { _, err := dropMulOp{rank: 4}.DoInto(dx, x, y); return err }},
	}
	for _, s := range steps {
		b.Run(s.name, func(b *testing.B) {
			eachISA(b, func(b *testing.B) {
				for b.Loop() {
					if err := s.f(); err != nil {
						b.Fatal(err)
					}
				}
				b.ReportMetric(float64(b.Elapsed().Nanoseconds())/1e6/float64(b.N), "ms/op")
			})
		})
	}
	_ = tensor.Float32
}
