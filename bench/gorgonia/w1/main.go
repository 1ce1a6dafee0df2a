// Command w1 trains the W1 network of bench/WORKLOADS.md with Gorgonia alone: its
// Conv2d, Rectify, MaxPool2D, Reshape, Mul and BroadcastAdd, a log-softmax cross-entropy, the
// TapeMachine, Gorgonia's Adam and gonum's pure-Go BLAS. Batch 64 of random data; prints
// "W1 images/s N" from the median step after 3 warm-up steps (as bench/torch_reference.py).
package main

import (
	"flag"
	"fmt"
	"math"
	"math/rand/v2"
	"slices"
	"time"

	G "gorgonia.org/gorgonia"
	"gorgonia.org/tensor"
)

const B = 64

func must(n *G.Node, err error) *G.Node {
	if err != nil {
		panic(err)
	}
	return n
}

func main() {
	steps := flag.Int("steps", 20, "timed steps")
	flag.Parse()
	r := rand.New(rand.NewPCG(1, 2))
	g := G.NewGraph()
	u := func(fanIn int, shape ...int) tensor.Tensor {
		n := 1
		for _, d := range shape {
			n *= d
		}
		v := make([]float32, n)
		k := 1 / math.Sqrt(float64(fanIn))
		for i := range v {
			v[i] = float32((2*r.Float64() - 1) * k)
		}
		return tensor.New(tensor.WithShape(shape...), tensor.WithBacking(v))
	}
	param := func(name string, fanIn int, shape ...int) *G.Node {
		return G.NewTensor(g, tensor.Float32, len(shape), G.WithShape(shape...), G.WithName(name), G.WithValue(u(fanIn, shape...)))
	}
	w1, b1 := param("conv1.weight", 9, 32, 1, 3, 3), param("conv1.bias", 9, 1, 32, 1, 1)
	w2, b2 := param("conv2.weight", 288, 64, 32, 3, 3), param("conv2.bias", 288, 1, 64, 1, 1)
	f1, c1 := param("fc1.weight", 3136, 3136, 128), param("fc1.bias", 3136, 1, 128)
	f2, c2 := param("fc2.weight", 128, 128, 10), param("fc2.bias", 128, 1, 10)
	learn := G.Nodes{w1, b1, w2, b2, f1, c1, f2, c2}

	x := G.NewTensor(g, tensor.Float32, 4, G.WithShape(B, 1, 28, 28), G.WithName("x"))
	y := G.NewMatrix(g, tensor.Float32, G.WithShape(B, 10), G.WithName("y")) // one-hot
	pad, one := []int{1, 1}, []int{1, 1}
	h := must(G.Conv2d(x, w1, tensor.Shape{3, 3}, pad, one, one))
	h = must(G.BroadcastAdd(h, b1, nil, []byte{0, 2, 3}))
	h = must(G.Rectify(h))
	h = must(G.MaxPool2D(h, tensor.Shape{2, 2}, []int{0, 0}, []int{2, 2}))
	h = must(G.Conv2d(h, w2, tensor.Shape{3, 3}, pad, one, one))
	h = must(G.BroadcastAdd(h, b2, nil, []byte{0, 2, 3}))
	h = must(G.Rectify(h))
	h = must(G.MaxPool2D(h, tensor.Shape{2, 2}, []int{0, 0}, []int{2, 2}))
	h = must(G.Reshape(h, tensor.Shape{B, 3136}))
	h = must(G.BroadcastAdd(must(G.Mul(h, f1)), c1, nil, []byte{0}))
	h = must(G.Rectify(h))
	logits := must(G.BroadcastAdd(must(G.Mul(h, f2)), c2, nil, []byte{0}))
	logp := must(G.LogSoftMax(logits))
	cost := must(G.Neg(must(G.Div(must(G.Sum(must(G.HadamardProd(logp, y)))), G.NewConstant(float32(B))))))
	if _, err := G.Grad(cost, learn...); err != nil {
		panic(err)
	}
	vm := G.NewTapeMachine(g, G.BindDualValues(learn...))
	solver := G.NewAdamSolver(G.WithLearnRate(1e-3))

	xs := make([]float32, B*28*28)
	ys := make([]float32, B*10)
	next := func() { // a new batch for every step, drawn untimed
		for i := range xs {
			xs[i] = float32(r.NormFloat64())
		}
		clear(ys)
		for i := 0; i < B; i++ {
			ys[i*10+r.IntN(10)] = 1
		}
	}
	if err := G.Let(x, tensor.New(tensor.WithShape(B, 1, 28, 28), tensor.WithBacking(xs))); err != nil {
		panic(err)
	}
	if err := G.Let(y, tensor.New(tensor.WithShape(B, 10), tensor.WithBacking(ys))); err != nil {
		panic(err)
	}
	step := func() {
		if err := vm.RunAll(); err != nil {
			panic(err)
		}
		if err := solver.Step(G.NodesToValueGrads(learn)); err != nil {
			panic(err)
		}
		vm.Reset()
	}
	for i := 0; i < 3; i++ {
		next()
		step()
	}
	times := make([]time.Duration, *steps)
	for i := range times {
		next()
		t := time.Now()
		step()
		times[i] = time.Since(t)
	}
	slices.Sort(times)
	fmt.Printf("W1 images/s %.1f\n", B/times[len(times)/2].Seconds())
}
