package nodes

import (
	"fmt"

	"gorgonia.org/gorgonia"
	"gorgonia.org/tensor"

	"github.com/unroll-ml/unroll/graph"
	"github.com/unroll-ml/unroll/nodes/internal/ops"
)

// ConvOutputSize is the length of a convolution's output along one axis (pooling uses the same
// rule), as PyTorch computes it:
//
//	out = floor((in + padBefore + padAfter - dilation·(kernel-1) - 1) / stride) + 1
//
// dilation·(kernel-1) + 1 is the span of the dilated kernel. With no padding, stride 1 and
// dilation 1 this is in - kernel + 1: a 28x28 input and a 3x3 kernel give 26x26. A size,
// stride or dilation below 1, a negative padding, or a kernel that spans more than the padded
// input is an error.
func ConvOutputSize(in, kernel, stride, padBefore, padAfter, dilation int) (int, error) {
	return ops.OutputSize(in, kernel, stride, padBefore, padAfter, dilation)
}

// SamePadding, Dilation, KernelSize), a ParamOption (NoBias, WeightInit, BiasInit) or
// FusedReLU.
type ConvOption interface{ applyConv(*convConfig) }

type convConfig struct {
	paramConfig
	windowConfig
	relu bool
}

type convFunc func(*convConfig)

func (o convFunc) applyConv(c *convConfig) { o(c) }

// FusedReLU makes the layer apply ReLU to its output, y = max(0, conv(x) + b), inside the
// convolution's own op: the same values as the layer followed by nodes.ReLU{}, computed while
// the result is written (one pass over the output less, and one tensor less to hold). Its
// gradient masks the upstream gradient with y > 0, as ReLU's does.
func FusedReLU() ConvOption { return convFunc(func(c *convConfig) { c.relu = true }) }

func (o ParamOption) applyConv(c *convConfig) {
	if o != nil {
		o(&c.paramConfig)
	}
}

// conv is what Conv1D and Conv2D share.
type conv struct {
	name    string
	dims    int // spatial axes: 1 or 2
	in, out int
	spec    windowSpec
	bias    bool
	relu    bool // ReLU fused into the op
}

func newConv(ps *graph.Params, name string, dims, in, out, kernel int, opts []ConvOption) (conv, error) {
	if in < 1 || out < 1 {
		return conv{}, fmt.Errorf("%s: channels must be positive, got in=%d out=%d", name, in, out)
	}
	cfg := convConfig{paramConfig: paramConfig{bias: true, weightInit: graph.TorchWeight()}}
	for _, o := range opts {
		if o != nil {
			o.applyConv(&cfg)
		}
	}
	spec, err := cfg.windowConfig.spec(dims, kernel, false)
	if err != nil {
		return conv{}, fmt.Errorf("%s: %w", name, err)
	}
	c := conv{name: name, dims: dims, in: in, out: out, spec: spec, bias: cfg.bias, relu: cfg.relu}
	wshape := []int{out, in, spec.KH, spec.KW} // (C_out, C_in, k_h, k_w)
	if dims == 1 {
		wshape = []int{out, in, spec.KW} // (C_out, C_in, k)
	}
	if _, err := ps.Add(name+".weight", wshape, cfg.weightInit); err != nil {
		return conv{}, fmt.Errorf("%s: %w", name, err)
	}
	if c.bias {
		bi := cfg.biasInit
		if bi == nil {
			bi = graph.TorchBias(in * spec.KH * spec.KW)
		}
		if _, err := ps.Add(name+".bias", []int{out}, bi); err != nil {
			return conv{}, fmt.Errorf("%s: %w", name, err)
		}
	}
	return c, nil
}

// Name is the layer's name, the prefix of its parameters.
func (c *conv) Name() string { return c.name }

// InChannels is the number of input channels.
func (c *conv) InChannels() int { return c.in }

// OutChannels is the number of output channels (kernels).
func (c *conv) OutChannels() int { return c.out }

// geometry checks an input shape and returns the window with its padding resolved and the
// output shape.
func (c *conv) geometry(x []int) (ops.Window, []int, error) {
	if c.dims == 1 && len(x) != 3 {
		return ops.Window{}, nil, fmt.Errorf("%s: input must be (batch, channels, length), has shape %v", c.name, tensor.Shape(x))
	}
	if c.dims == 2 && len(x) != 4 {
		return ops.Window{}, nil, fmt.Errorf("%s: input must be (batch, channels, height, width), has shape %v", c.name, tensor.Shape(x))
	}
	if x[1] != c.in {
		return ops.Window{}, nil, fmt.Errorf("%s: kernel expects %d input channels, input has %d", c.name, c.in, x[1])
	}
	h, w := 1, x[2]
	if c.dims == 2 {
		h, w = x[2], x[3]
	}
	win := c.spec.resolve(h, w)
	ho, wo, err := win.OutSize(h, w, c.dims == 1)
	if err != nil {
		return ops.Window{}, nil, fmt.Errorf("%s: %w", c.name, err)
	}
	if c.dims == 1 {
		return win, []int{x[0], c.out, wo}, nil
	}
	return win, []int{x[0], c.out, ho, wo}, nil
}

// OutputShape is the shape of the output for an input of shape in, or the error Forward
// would return.
func (c *conv) OutputShape(in []int) ([]int, error) {
	_, out, err := c.geometry(in)
	return out, err
}

// Forward adds the convolution of x to b's graph.
func (c *conv) Forward(b *graph.Builder, x *gorgonia.Node) (*gorgonia.Node, error) {
	if x == nil {
		return nil, fmt.Errorf("%s: nil input", c.name)
	}
	win, _, err := c.geometry(x.Shape())
	if err != nil {
		return nil, err
	}
	w, err := b.Param(c.name + ".weight")
	if err != nil {
		return nil, fmt.Errorf("%s: %w", c.name, err)
	}
	children := []*gorgonia.Node{x, w}
	if c.bias {
		bias, err := b.Param(c.name + ".bias")
		if err != nil {
			return nil, fmt.Errorf("%s: %w", c.name, err)
		}
		children = append(children, bias)
	}
	y, err := ops.Conv(win, c.dims+2, c.relu, b.Name(c.name), children...)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", c.name, err)
	}
	return y, nil
}

// Conv2D is a 2-D convolution of NCHW images (PyTorch's Conv2d). Like PyTorch's, it is a
// cross-correlation (the kernel is not flipped): for an input x of shape (B, C_in, H, W), a
// weight W of shape (C_out, C_in, k_h, k_w) and a bias b of shape (C_out),
//
//	y[n, o, i, j] = b[o] + Σ_c Σ_p Σ_q W[o, c, p, q] · x[n, c, i·s_h - pad_top + p·d_h, j·s_w - pad_left + q·d_w]
//
// with x taken as 0 outside the image (zero padding). At every output position a linear
// model (a weighted sum) is applied to one patch of the input: a convolution is a composite
// of local linear models. Each input channel meets its own slice of a kernel and the results
// are summed, so a kernel has as many channels as the input; each of the C_out kernels makes
// one output channel, and the output has shape (B, C_out, H_out, W_out) with
//
//	H_out = floor((H + pad_top + pad_bottom - d_h·(k_h-1) - 1) / s_h) + 1
//
// (ConvOutputSize; likewise W_out). s is the stride, d the dilation.
//
// The gradients, for an upstream gradient dy of the output's shape:
//
//	dW[o, c, p, q] = Σ_n Σ_i Σ_j dy[n, o, i, j] · x[n, c, i·s_h - pad_top + p·d_h, j·s_w - pad_left + q·d_w]
//	dx[n, c, u, v] = Σ_o Σ_p Σ_q W[o, c, p, q] · dy[n, o, i, j]   over (i, j) with u = i·s_h - pad_top + p·d_h, v = ...
//	db[o]          = Σ_n Σ_i Σ_j dy[n, o, i, j]
//
// The weight gradient is a correlation of the input with the output gradient; with stride 1
// the input gradient is the "full" correlation of the output gradient (padded by the kernel
// span minus one, less the layer's own padding) with the kernel flipped in both axes.
//
// The layer computes these with unroll's own Gorgonia op (not Gorgonia's Conv2d, whose im2col
// op drops dilation from its hash): im2col unrolls every patch of an image into a column, so
// that the convolution of a chunk of G images is one matrix product, W (C_out, C_in·k_h·k_w)
// times the columns (C_in·k_h·k_w, G·H_out·W_out), plus the bias; the backward ops are the
// transposed products and col2im, which adds the columns back into image positions. In float32
// with stride 1 on a processor with AVX-512, the op instead computes the convolution and both
// gradients directly, without the columns, with AVX-512 micro-kernels (nodes/internal/ops,
// conv_direct.go); results agree with im2col's to float32 rounding and do not depend on the
// number of threads. With FusedReLU the op also applies ReLU to its output, and in inference
// mode a 2x2 max pooling (stride 2) that follows it is computed inside the same op.
//
// Parameters: "<name>.weight" (C_out, C_in, k_h, k_w) and "<name>.bias" (C_out), both drawn
// from U(-1/sqrt(fan_in), 1/sqrt(fan_in)) with fan_in = C_in·k_h·k_w, as PyTorch does.
type Conv2D struct{ conv }

// NewConv2D creates a Conv2D layer with in input channels, out output channels (kernels) and a
// square kernel of size kernel (KernelSize makes it rectangular). Options: Stride, Padding,
// SamePadding, Dilation, KernelSize, NoBias, WeightInit, BiasInit.
func NewConv2D(ps *graph.Params, name string, in, out, kernel int, opts ...ConvOption) (*Conv2D, error) {
	c, err := newConv(ps, name, 2, in, out, kernel, opts)
	if err != nil {
		return nil, err
	}
	return &Conv2D{c}, nil
}

// Conv1D is a 1-D convolution of sequences laid out (B, C_in, L) (PyTorch's Conv1d), a
// cross-correlation: with a weight W of shape (C_out, C_in, k) and a bias b of shape (C_out),
//
//	y[n, o, i] = b[o] + Σ_c Σ_p W[o, c, p] · x[n, c, i·s - pad_left + p·d]
//
// and the output has shape (B, C_out, L_out), L_out = floor((L + pad_left + pad_right -
// d·(k-1) - 1)/s) + 1. An input of 5 values and a kernel of 3 give 3 values, and since x_3
// reaches y_1 through W_3, y_2 through W_2 and y_3 through W_1, the gradient of x_3 is
// W_3·dy_1 + W_2·dy_2 + W_1·dy_3: the output gradient, padded by k-1 on each side, correlated
// with the flipped kernel. Conv1D computes with the same op as Conv2D, on an image of height 1.
//
// Parameters: "<name>.weight" (C_out, C_in, k) and "<name>.bias" (C_out), initialised as
// PyTorch does.
type Conv1D struct{ conv }

// NewConv1D creates a Conv1D layer with in input channels, out output channels and a kernel of
// size kernel. Options: Stride, Padding (one value, or left and right), SamePadding, Dilation,
// NoBias, WeightInit, BiasInit.
func NewConv1D(ps *graph.Params, name string, in, out, kernel int, opts ...ConvOption) (*Conv1D, error) {
	c, err := newConv(ps, name, 1, in, out, kernel, opts)
	if err != nil {
		return nil, err
	}
	return &Conv1D{c}, nil
}
