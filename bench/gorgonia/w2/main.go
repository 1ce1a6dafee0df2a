// Command w2 trains the W2 (LSTM) or W3 (GRU) network of bench/WORKLOADS.md with
// Gorgonia alone: primitive ops, the TapeMachine, Gorgonia's Adam and gonum's pure-Go BLAS.
// Truncated BPTT: h (and c) are input nodes fed with the previous segment's final values.
// Prints "W2 tokens/s N" (or W3) from the median step.
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

const V, H, T, B = 96, 256, 64, 32

func must(n *G.Node, err error) *G.Node {
	if err != nil {
		panic(err)
	}
	return n
}

func main() {
	gru := flag.Bool("gru", false, "W3")
	steps := flag.Int("steps", 10, "timed steps")
	flag.Parse()
	r := rand.New(rand.NewPCG(1, 2))
	g := G.NewGraph()
	gates := 4
	if *gru {
		gates = 3
	}
	u := func(shape ...int) tensor.Tensor {
		n := 1
		for _, d := range shape {
			n *= d
		}
		v := make([]float32, n)
		k := 1 / math.Sqrt(H)
		for i := range v {
			v[i] = float32((2*r.Float64() - 1) * k)
		}
		return tensor.New(tensor.WithShape(shape...), tensor.WithBacking(v))
	}
	// One weight matrix per gate (as Dive into Deep Learning writes it): slicing one (4H, In)
	// product into gates would hit Gorgonia's Slice hash, which truncates bounds to a byte and
	// merges the slices [0, 256) and [256, 512).
	var learn G.Nodes
	param := func(name string, shape ...int) *G.Node {
		var n *G.Node
		if len(shape) == 2 {
			n = G.NewMatrix(g, tensor.Float32, G.WithShape(shape...), G.WithName(name), G.WithValue(u(shape...)))
		} else {
			n = G.NewVector(g, tensor.Float32, G.WithShape(shape...), G.WithName(name), G.WithValue(u(shape...)))
		}
		learn = append(learn, n)
		return n
	}
	var wiT, whT, bi, bh []*G.Node
	for k := 0; k < gates; k++ {
		wiT = append(wiT, must(G.Transpose(param(fmt.Sprintf("wih%d", k), H, V))))
		whT = append(whT, must(G.Transpose(param(fmt.Sprintf("whh%d", k), H, H))))
		bi = append(bi, param(fmt.Sprintf("bih%d", k), H))
		bh = append(bh, param(fmt.Sprintf("bhh%d", k), H))
	}
	woT := must(G.Transpose(param("wo", V, H)))
	bo := param("bo", V)
	h0 := G.NewMatrix(g, tensor.Float32, G.WithShape(B, H), G.WithName("h0"))
	c0 := G.NewMatrix(g, tensor.Float32, G.WithShape(B, H), G.WithName("c0"))
	var xs, ys []*G.Node
	h, c := h0, c0
	var loss *G.Node
	lin := func(a, w, b *G.Node) *G.Node { return must(G.BroadcastAdd(must(G.Mul(a, w)), b, nil, []byte{0})) }
	for t := 0; t < T; t++ {
		x := G.NewMatrix(g, tensor.Float32, G.WithShape(B, V), G.WithName(fmt.Sprintf("x%d", t)))
		y := G.NewMatrix(g, tensor.Float32, G.WithShape(B, V), G.WithName(fmt.Sprintf("y%d", t)))
		xs, ys = append(xs, x), append(ys, y)
		gate := func(k int) (*G.Node, *G.Node) { return lin(x, wiT[k], bi[k]), lin(h, whT[k], bh[k]) }
		if !*gru {
			pre := func(k int) *G.Node { a, b := gate(k); return must(G.Add(a, b)) }
			i, f := must(G.Sigmoid(pre(0))), must(G.Sigmoid(pre(1)))
			gg, o := must(G.Tanh(pre(2))), must(G.Sigmoid(pre(3)))
			c = must(G.Add(must(G.HadamardProd(f, c)), must(G.HadamardProd(i, gg))))
			h = must(G.HadamardProd(o, must(G.Tanh(c))))
		} else {
			xr, hr := gate(0)
			xz, hz := gate(1)
			xn, hn := gate(2)
			rr := must(G.Sigmoid(must(G.Add(xr, hr))))
			z := must(G.Sigmoid(must(G.Add(xz, hz))))
			n := must(G.Tanh(must(G.Add(xn, must(G.HadamardProd(rr, hn))))))
			h = must(G.Add(n, must(G.HadamardProd(z, must(G.Sub(h, n))))))
		}
		logits := lin(h, woT, bo)
		ce := must(G.Neg(must(G.Sum(must(G.HadamardProd(y, must(G.LogSoftMax(logits))))))))
		if loss == nil {
			loss = ce
		} else {
			loss = must(G.Add(loss, ce))
		}
	}
	loss = must(G.Div(loss, G.NewConstant(float32(B*T))))
	if _, err := G.Grad(loss, learn...); err != nil {
		panic(err)
	}
	vm := G.NewTapeMachine(g, G.BindDualValues(learn...))
	solver := G.NewAdamSolver(G.WithLearnRate(2e-3))
	hv := tensor.New(tensor.Of(tensor.Float32), tensor.WithShape(B, H))
	cv := tensor.New(tensor.Of(tensor.Float32), tensor.WithShape(B, H))
	feed := func() {
		for t := 0; t < T; t++ {
			xv := make([]float32, B*V)
			yv := make([]float32, B*V)
			for b := 0; b < B; b++ {
				xv[b*V+r.IntN(V)] = 1
				yv[b*V+r.IntN(V)] = 1
			}
			G.Let(xs[t], tensor.New(tensor.WithShape(B, V), tensor.WithBacking(xv)))
			G.Let(ys[t], tensor.New(tensor.WithShape(B, V), tensor.WithBacking(yv)))
		}
		G.Let(h0, hv)
		G.Let(c0, cv)
	}
	step := func() {
		feed()
		if err := vm.RunAll(); err != nil {
			panic(err)
		}
		// global-norm clip at 5
		var sum float64
		for _, n := range learn {
			gr, _ := n.Grad()
			for _, v := range gr.Data().([]float32) {
				sum += float64(v) * float64(v)
			}
		}
		if norm := math.Sqrt(sum); norm > 5 {
			s := float32(5 / norm)
			for _, n := range learn {
				gr, _ := n.Grad()
				d := gr.Data().([]float32)
				for i := range d {
					d[i] *= s
				}
			}
		}
		if err := solver.Step(G.NodesToValueGrads(learn)); err != nil {
			panic(err)
		}
		hv = h.Value().(*tensor.Dense).Clone().(*tensor.Dense)
		if !*gru {
			cv = c.Value().(*tensor.Dense).Clone().(*tensor.Dense)
		}
		vm.Reset()
	}
	for i := 0; i < 2; i++ {
		step()
	}
	var ts []float64
	for i := 0; i < *steps; i++ {
		t0 := time.Now()
		step()
		ts = append(ts, time.Since(t0).Seconds())
	}
	slices.Sort(ts)
	w := "W2"
	if *gru {
		w = "W3"
	}
	fmt.Printf("%s tokens/s %.1f\n", w, float64(B*T)/ts[len(ts)/2])
}
