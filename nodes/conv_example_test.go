package nodes_test

import (
	"fmt"

	"gorgonia.org/gorgonia"
	"gorgonia.org/tensor"

	"github.com/unroll-ml/unroll/graph"
	"github.com/unroll-ml/unroll/nodes"
)

// The output size of a convolution can be computed in advance: a 28x28 input and a 3x3 kernel
// give 26x26, because 28 - 3 + 1 = 26.
func ExampleConvOutputSize() {
	for _, c := range []struct {
		name                  string
		stride, pad, dilation int
	}{
		{"no padding, stride 1", 1, 0, 1},
		{"padding 1", 1, 1, 1},
		{"padding 1, stride 2", 2, 1, 1},
		{"dilation 2", 1, 0, 2},
	} {
		n, err := nodes.ConvOutputSize(28, 3, c.stride, c.pad, c.pad, c.dilation)
		if err != nil {
			fmt.Println(err)
			return
		}
		fmt.Printf("28x28 input, 3x3 kernel, %s: %dx%d\n", c.name, n, n)
	}
	_, err := nodes.ConvOutputSize(2, 3, 1, 0, 0, 1)
	fmt.Println(err)
	// Output:
	// 28x28 input, 3x3 kernel, no padding, stride 1: 26x26
	// 28x28 input, 3x3 kernel, padding 1: 28x28
	// 28x28 input, 3x3 kernel, padding 1, stride 2: 14x14
	// 28x28 input, 3x3 kernel, dilation 2: 24x24
	// kernel 3 is larger than the padded input 2
}

// A convolution layer with 3 input channels and 16 kernels: each kernel has as many channels as
// the input, and each kernel makes one output channel, so a (1, 3, 28, 28) image becomes a
// (1, 16, 26, 26) tensor.
func ExampleConv2D() {
	ps := graph.NewParams(graph.Seed(1))
	conv, err := nodes.NewConv2D(ps, "conv1", 3, 16, 3)
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Print(ps.Summary())
	b := graph.NewBuilder(ps, graph.Eval)
	x, _ := b.Input("x", 1, 3, 28, 28) // (B, C_in, H, W)
	y, err := conv.Forward(b, x)       // (B, C_out, H_out, W_out)
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Println("output:", y.Shape())

	// An input with the wrong number of channels is an error naming the layer.
	x16, _ := b.Input("x16", 1, 16, 28, 28)
	_, err = conv.Forward(b, x16)
	fmt.Println(err)
	// Output:
	// name          kind   shape          values
	// conv1.weight  param  (16, 3, 3, 3)  432
	// conv1.bias    param  (16)           16
	// total: 2 parameters (448 values), 0 buffers (0 values), float32
	// output: (1, 16, 26, 26)
	// conv1: kernel expects 3 input channels, input has 16
}

// With several input channels, each channel is convolved with its own slice of the kernel and
// the results are summed.
func ExampleConv2D_channels() {
	ps := graph.NewParams()
	conv, err := nodes.NewConv2D(ps, "conv", 2, 1, 2, nodes.NoBias())
	if err != nil {
		fmt.Println(err)
		return
	}
	// Channel 0 of the kernel adds up its 2x2 window; channel 1 takes the top-left value
	// times 10.
	kernel := []float64{1, 1, 1, 1, 10, 0, 0, 0} // (1, 2, 2, 2)
	_ = graph.CopyInto(ps.Value("conv.weight"), graph.NewTensor(tensor.Float32, []int{1, 2, 2, 2}, kernel))
	image := []float64{
		1, 2, 3, // channel 0
		4, 5, 6,
		7, 8, 9,
		1, 0, 2, // channel 1
		0, 3, 0,
		4, 0, 5,
	}
	b := graph.NewBuilder(ps, graph.Eval)
	x, _ := b.Input("x", 1, 2, 3, 3)
	y, _ := conv.Forward(b, x)
	prog, _ := graph.Compile(b, map[string]*gorgonia.Node{"y": y})
	out, err := prog.Run(graph.Feeds{"x": graph.NewTensor(tensor.Float32, []int{1, 2, 3, 3}, image)})
	if err != nil {
		fmt.Println(err)
		return
	}
	for c := 0; c < 2; c++ { // each channel's 2-D convolution on its own
		alone := make([]float64, 4)
		for i := 0; i < 2; i++ {
			for j := 0; j < 2; j++ {
				for p := 0; p < 2; p++ {
					for q := 0; q < 2; q++ {
						alone[i*2+j] += kernel[c*4+p*2+q] * image[c*9+(i+p)*3+j+q]
					}
				}
			}
		}
		fmt.Printf("channel %d alone: %v\n", c, alone)
	}
	fmt.Println("convolution:    ", graph.Float64s(out["y"]), out["y"].Shape())
	// Output:
	// channel 0 alone: [12 16 24 28]
	// channel 1 alone: [10 0 0 30]
	// convolution:     [22 16 24 58] (1, 1, 2, 2)
}

// Backpropagation through a 1-D convolution, the course's example: an input of 5 values and a
// kernel of 3 give 3 outputs, O_i = W_1·X_i + W_2·X_(i+1) + W_3·X_(i+2). X_3 reaches O_1
// through W_3, O_2 through W_2 and O_3 through W_1, so its gradient is
// W_3·dO_1 + W_2·dO_2 + W_1·dO_3: the output gradient, padded by k-1 = 2 zeros on each side,
// correlated with the flipped kernel. The kernel's gradient is the correlation of the input
// with the output gradient.
func ExampleConv1D_backprop() {
	xs, ws, dos := []float64{1, 2, 3, 4, 5}, []float64{1, 2, 3}, []float64{1, 10, 100}
	ps := graph.NewParams(graph.Dtype(tensor.Float64))
	conv, err := nodes.NewConv1D(ps, "conv", 1, 1, 3, nodes.NoBias())
	if err != nil {
		fmt.Println(err)
		return
	}
	_ = graph.CopyInto(ps.Value("conv.weight"), graph.NewTensor(tensor.Float64, []int{1, 1, 3}, ws))

	// The graph: O = conv(X) and a loss whose gradient with respect to O is dO.
	b := graph.NewBuilder(ps, graph.Train)
	x, _ := b.Input("x", 1, 1, 5)   // (B, C, L)
	dO, _ := b.Input("dO", 1, 1, 3) // the upstream gradient
	o, err := conv.Forward(b, x)    // (1, 1, 3)
	if err != nil {
		fmt.Println(err)
		return
	}
	prod, _ := gorgonia.HadamardProd(o, dO)
	loss, _ := gorgonia.Sum(prod) // Σ O·dO, so that dloss/dO = dO
	w, _ := b.Param("conv.weight")
	grads, err := gorgonia.Grad(loss, x, w)
	if err != nil {
		fmt.Println(err)
		return
	}
	prog, err := graph.Compile(b, map[string]*gorgonia.Node{"O": o, "dX": grads[0], "dW": grads[1]})
	if err != nil {
		fmt.Println(err)
		return
	}
	out, err := prog.Run(graph.Feeds{
		"x":  graph.NewTensor(tensor.Float64, []int{1, 1, 5}, xs),
		"dO": graph.NewTensor(tensor.Float64, []int{1, 1, 3}, dos),
	})
	if err != nil {
		fmt.Println(err)
		return
	}
	dX := graph.Float64s(out["dX"])

	// The formulas, computed by hand.
	padded := append(append([]float64{0, 0}, dos...), 0, 0) // dO padded by k-1 = 2
	flipped := []float64{ws[2], ws[1], ws[0]}
	full := make([]float64, 5)
	for j := range full {
		for m, f := range flipped {
			full[j] += padded[j+m] * f
		}
	}
	corr := make([]float64, 3)
	for k := range corr {
		for i, d := range dos {
			corr[k] += xs[i+k] * d
		}
	}
	fmt.Println("X =", xs, " W =", ws, " dO =", dos)
	fmt.Println("O                          =", graph.Float64s(out["O"]))
	fmt.Println("dX from the graph          =", dX)
	fmt.Println("padded dO ⋆ flipped W      =", full)
	fmt.Printf("dX3 from the graph         = %g\n", dX[2])
	fmt.Printf("W3·dO1 + W2·dO2 + W1·dO3   = %g·%g + %g·%g + %g·%g = %g\n",
		ws[2], dos[0], ws[1], dos[1], ws[0], dos[2], ws[2]*dos[0]+ws[1]*dos[1]+ws[0]*dos[2])
	fmt.Println("dW from the graph          =", graph.Float64s(out["dW"]))
	fmt.Println("X ⋆ dO                     =", corr)
	// Output:
	// X = [1 2 3 4 5]  W = [1 2 3]  dO = [1 10 100]
	// O                          = [14 20 26]
	// dX from the graph          = [1 12 123 230 300]
	// padded dO ⋆ flipped W      = [1 12 123 230 300]
	// dX3 from the graph         = 123
	// W3·dO1 + W2·dO2 + W1·dO3   = 3·1 + 2·10 + 1·100 = 123
	// dW from the graph          = [321 432 543]
	// X ⋆ dO                     = [321 432 543]
}
