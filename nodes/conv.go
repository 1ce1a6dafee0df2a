package nodes

import (
	"fmt"
	"hash"

	"github.com/chewxy/hm"
	"gorgonia.org/gorgonia"
	"gorgonia.org/tensor"

	"github.com/unroll-ml/unroll/graph"
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
	switch {
	case in < 1:
		return 0, fmt.Errorf("input size must be positive, got %d", in)
	case kernel < 1:
		return 0, fmt.Errorf("kernel size must be positive, got %d", kernel)
	case stride < 1:
		return 0, fmt.Errorf("stride must be at least 1, got %d", stride)
	case dilation < 1:
		return 0, fmt.Errorf("dilation must be at least 1, got %d", dilation)
	case padBefore < 0 || padAfter < 0:
		return 0, fmt.Errorf("padding must not be negative, got %d and %d", padBefore, padAfter)
	}
	span := dilation*(kernel-1) + 1
	padded := in + padBefore + padAfter
	if span > padded {
		if dilation > 1 {
			return 0, fmt.Errorf("kernel %d (spanning %d with dilation %d) is larger than the padded input %d", kernel, span, dilation, padded)
		}
		return 0, fmt.Errorf("kernel %d is larger than the padded input %d", kernel, padded)
	}
	return (padded-span)/stride + 1, nil
}

// window is the geometry of a window sliding over the two spatial axes of an NCHW tensor
// (a convolution's kernel or a pooling window). A 1-D window has kh = 1 and works on H = 1.
type window struct {
	kh, kw         int // kernel size
	sh, sw         int // stride
	pt, pb, pl, pr int // padding: top, bottom, left, right
	dh, dw         int // dilation
}

func (w window) String() string {
	return fmt.Sprintf("kernel %dx%d stride (%d, %d) padding (%d, %d, %d, %d) dilation (%d, %d)",
		w.kh, w.kw, w.sh, w.sw, w.pt, w.pb, w.pl, w.pr, w.dh, w.dw)
}

// pointwise reports whether the window maps each position to itself (a 1x1 kernel, stride 1,
// no padding), so that im2col is the identity.
func (w window) pointwise() bool {
	return w.kh == 1 && w.kw == 1 && w.sh == 1 && w.sw == 1 && w.pt == 0 && w.pb == 0 && w.pl == 0 && w.pr == 0
}

// outSize is the output size for an h x w input, or an error naming the numbers.
func (w window) outSize(h, wd int, oneD bool) (int, int, error) {
	ho, errH := ConvOutputSize(h, w.kh, w.sh, w.pt, w.pb, w.dh)
	wo, errW := ConvOutputSize(wd, w.kw, w.sw, w.pl, w.pr, w.dw)
	if errH == nil && errW == nil {
		return ho, wo, nil
	}
	if oneD {
		return 0, 0, errW
	}
	spanH, spanW := w.dh*(w.kh-1)+1, w.dw*(w.kw-1)+1
	ph, pw := h+w.pt+w.pb, wd+w.pl+w.pr
	if spanH > ph || spanW > pw {
		if w.dh > 1 || w.dw > 1 {
			return 0, 0, fmt.Errorf("kernel %dx%d (spanning %dx%d with dilation (%d, %d)) is larger than the padded input %dx%d",
				w.kh, w.kw, spanH, spanW, w.dh, w.dw, ph, pw)
		}
		return 0, 0, fmt.Errorf("kernel %dx%d is larger than the padded input %dx%d", w.kh, w.kw, ph, pw)
	}
	if errH != nil {
		return 0, 0, errH
	}
	return 0, 0, errW
}

// samePad returns the padding (before, after) that makes out = ceil(in/stride): the total
// max((out-1)·stride + span - in, 0), split with the odd element after (TensorFlow's "SAME";
// for stride 1 it is PyTorch's padding="same").
func samePad(in, kernel, stride, dilation int) (int, int) {
	out := (in + stride - 1) / stride
	total := max((out-1)*stride+dilation*(kernel-1)+1-in, 0)
	return total / 2, total - total/2
}

// windowSpec is a window as the options gave it, before "same" padding is resolved for an
// input size.
type windowSpec struct {
	window
	same bool
}

// resolve fixes the padding for an h x w input.
func (s windowSpec) resolve(h, w int) window {
	win := s.window
	if s.same {
		win.pt, win.pb = samePad(h, win.kh, win.sh, win.dh)
		win.pl, win.pr = samePad(w, win.kw, win.sw, win.dw)
	}
	return win
}

// windowConfig collects the window options.
type windowConfig struct {
	kernel   []int
	stride   []int
	padding  []int
	same     bool
	dilation []int
}

// WindowOption sets the geometry of a sliding window, a convolution's kernel or a pooling
// window: Stride, Padding, SamePadding, Dilation, KernelSize. Conv1D, Conv2D and the pooling
// layers take it; the constructor checks the values.
type WindowOption func(*windowConfig)

func (o WindowOption) applyConv(c *convConfig) {
	if o != nil {
		o(&c.windowConfig)
	}
}

func (o WindowOption) applyPool(c *poolConfig) {
	if o != nil {
		o(&c.windowConfig)
	}
}

// Stride sets the step of the window: one value for every axis, or (height, width) for a 2-D
// layer. The default is 1 for convolutions and the kernel size for pooling.
func Stride(s ...int) WindowOption {
	return func(c *windowConfig) { c.stride = append([]int(nil), s...) }
}

// Padding sets the zero padding: one value for every side; for a 2-D layer two values
// (height, width), each on both sides, or four (top, bottom, left, right); for a 1-D layer two
// values (left, right). The default is none.
func Padding(p ...int) WindowOption {
	return func(c *windowConfig) { c.padding = append([]int(nil), p...) }
}

// SamePadding pads so that the output size is ceil(input size / stride): the input size when
// the stride is 1 (PyTorch's padding="same"). The total padding along an axis is
// max((out-1)·stride + dilation·(kernel-1) + 1 - in, 0); when it is odd, the extra element
// goes after (bottom, right), as in TensorFlow.
func SamePadding() WindowOption {
	return func(c *windowConfig) { c.same = true }
}

// Dilation sets the spacing between kernel elements: one value for every axis, or (height,
// width) for a 2-D layer. The default is 1.
func Dilation(d ...int) WindowOption {
	return func(c *windowConfig) { c.dilation = append([]int(nil), d...) }
}

// KernelSize makes the window of a 2-D layer rectangular, height x width, instead of the
// square size given to its constructor.
func KernelSize(height, width int) WindowOption {
	return func(c *windowConfig) { c.kernel = []int{height, width} }
}

// spec checks the options for a layer with dims spatial axes (1 or 2) and a square kernel of
// size kernel. The default stride is 1, or the kernel size when strideIsKernel is set (pooling).
func (c windowConfig) spec(dims, kernel int, strideIsKernel bool) (windowSpec, error) {
	var s windowSpec
	if kernel < 1 {
		return s, fmt.Errorf("kernel size must be positive, got %d", kernel)
	}
	s.kh, s.kw = kernel, kernel
	if dims == 1 {
		s.kh = 1
	}
	if c.kernel != nil {
		if dims == 1 {
			return s, fmt.Errorf("a 1-D layer takes one kernel size, got KernelSize%v", sizes(c.kernel))
		}
		if c.kernel[0] < 1 || c.kernel[1] < 1 {
			return s, fmt.Errorf("kernel size must be positive, got %dx%d", c.kernel[0], c.kernel[1])
		}
		s.kh, s.kw = c.kernel[0], c.kernel[1]
	}

	s.sh, s.sw = 1, 1
	if strideIsKernel {
		s.sh, s.sw = s.kh, s.kw
	}
	switch {
	case len(c.stride) == 0:
	case len(c.stride) == 1 && dims == 1:
		s.sw = c.stride[0]
	case len(c.stride) == 1:
		s.sh, s.sw = c.stride[0], c.stride[0]
	case len(c.stride) == 2 && dims == 2:
		s.sh, s.sw = c.stride[0], c.stride[1]
	default:
		return s, fmt.Errorf("stride takes %s, got %d: %s", valueCounts(dims, false), len(c.stride), sizes(c.stride))
	}
	if s.sh < 1 || s.sw < 1 {
		return s, fmt.Errorf("stride must be at least 1, got %s", sizes(c.stride))
	}

	s.dh, s.dw = 1, 1
	switch {
	case len(c.dilation) == 0:
	case len(c.dilation) == 1 && dims == 1:
		s.dw = c.dilation[0]
	case len(c.dilation) == 1:
		s.dh, s.dw = c.dilation[0], c.dilation[0]
	case len(c.dilation) == 2 && dims == 2:
		s.dh, s.dw = c.dilation[0], c.dilation[1]
	default:
		return s, fmt.Errorf("dilation takes %s, got %d: %s", valueCounts(dims, false), len(c.dilation), sizes(c.dilation))
	}
	if s.dh < 1 || s.dw < 1 {
		return s, fmt.Errorf("dilation must be at least 1, got %s", sizes(c.dilation))
	}

	p := c.padding
	switch {
	case len(p) == 0:
	case c.same:
		return s, fmt.Errorf("padding %s and same padding are both given", sizes(p))
	case len(p) == 1 && dims == 1:
		s.pl, s.pr = p[0], p[0]
	case len(p) == 2 && dims == 1:
		s.pl, s.pr = p[0], p[1]
	case len(p) == 1:
		s.pt, s.pb, s.pl, s.pr = p[0], p[0], p[0], p[0]
	case len(p) == 2:
		s.pt, s.pb, s.pl, s.pr = p[0], p[0], p[1], p[1]
	case len(p) == 4:
		s.pt, s.pb, s.pl, s.pr = p[0], p[1], p[2], p[3]
	default:
		return s, fmt.Errorf("padding takes %s, got %d: %s", valueCounts(dims, true), len(p), sizes(p))
	}
	for _, v := range p {
		if v < 0 {
			return s, fmt.Errorf("padding must not be negative, got %s", sizes(p))
		}
	}
	s.same = c.same
	return s, nil
}

func valueCounts(dims int, padding bool) string {
	switch {
	case dims == 1 && padding:
		return "1 or 2 values (left, right)"
	case dims == 1:
		return "1 value"
	case padding:
		return "1, 2 (height, width) or 4 values (top, bottom, left, right)"
	}
	return "1 or 2 values (height, width)"
}

// sizes formats a list of sizes as (a, b, c), or a single size as itself.
func sizes(v []int) string {
	if len(v) == 1 {
		return fmt.Sprint(v[0])
	}
	s := "("
	for i, x := range v {
		if i > 0 {
			s += ", "
		}
		s += fmt.Sprint(x)
	}
	return s + ")"
}

// ConvOption configures NewConv1D and NewConv2D: a WindowOption (Stride, Padding,
// SamePadding, Dilation, KernelSize) or a ParamOption (NoBias, WeightInit, BiasInit).
type ConvOption interface{ applyConv(*convConfig) }

type convConfig struct {
	paramConfig
	windowConfig
}

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
	c := conv{name: name, dims: dims, in: in, out: out, spec: spec, bias: cfg.bias}
	wshape := []int{out, in, spec.kh, spec.kw} // (C_out, C_in, k_h, k_w)
	if dims == 1 {
		wshape = []int{out, in, spec.kw} // (C_out, C_in, k)
	}
	if _, err := ps.Add(name+".weight", wshape, cfg.weightInit); err != nil {
		return conv{}, fmt.Errorf("%s: %w", name, err)
	}
	if c.bias {
		bi := cfg.biasInit
		if bi == nil {
			bi = graph.TorchBias(in * spec.kh * spec.kw)
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
func (c *conv) geometry(x []int) (window, []int, error) {
	if c.dims == 1 && len(x) != 3 {
		return window{}, nil, fmt.Errorf("%s: input must be (batch, channels, length), has shape %v", c.name, tensor.Shape(x))
	}
	if c.dims == 2 && len(x) != 4 {
		return window{}, nil, fmt.Errorf("%s: input must be (batch, channels, height, width), has shape %v", c.name, tensor.Shape(x))
	}
	if x[1] != c.in {
		return window{}, nil, fmt.Errorf("%s: kernel expects %d input channels, input has %d", c.name, c.in, x[1])
	}
	h, w := 1, x[2]
	if c.dims == 2 {
		h, w = x[2], x[3]
	}
	win := c.spec.resolve(h, w)
	ho, wo, err := win.outSize(h, w, c.dims == 1)
	if err != nil {
		return window{}, nil, fmt.Errorf("%s: %w", c.name, err)
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
	y, err := applyOp(convOp{win: win, rank: c.dims + 2, bias: c.bias}, b.Name(c.name), children...)
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
// that the convolution is one matrix product per image, W (C_out, C_in·k_h·k_w) times the
// columns (C_in·k_h·k_w, H_out·W_out), plus the bias; the backward ops are the transposed
// products and col2im, which adds the columns back into image positions.
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

// convDims are the sizes of one convolution: batch n, channels c, input h x w, kernels o,
// output ho x wo.
type convDims struct {
	n, c, h, w int
	o, ho, wo  int
}

// spatial reads (h, w) from an NCHW shape, or (1, L) from an NCL shape.
func spatial(s []int) (int, int) {
	if len(s) == 3 {
		return 1, s[2]
	}
	return s[2], s[3]
}

// convOp is unroll's convolution: inputs x (N, C, H, W), w (O, C, kh, kw) and, when bias is
// set, b (O); output y (N, O, H_out, W_out). With rank 3 the layout is x (N, C, L),
// w (O, C, k), y (N, O, L_out): a 2-D convolution with H = 1. Its attributes, all in its
// hash: the window (stride, per-side padding, dilation; the kernel size, also read from w),
// the rank and whether there is a bias. See Conv2D for the maths.
type convOp struct {
	pure
	win  window
	rank int
	bias bool
}

func (op convOp) Arity() int {
	if op.bias {
		return 3
	}
	return 2
}

func (op convOp) Type() hm.Type {
	t := tensorOf(op.rank)
	if op.bias {
		return hm.NewFnType(t, t, tensorOf(1), t)
	}
	return hm.NewFnType(t, t, t)
}

func (op convOp) String() string {
	return fmt.Sprintf("conv%dd(%v, bias %v)", op.rank-2, op.win, op.bias)
}
func (op convOp) WriteHash(h hash.Hash) {
	fmt.Fprintf(h, "unroll.conv rank=%d bias=%v %v", op.rank, op.bias, op.win)
}
func (op convOp) Hashcode() uint32 { return hashOf(op) }

// dims checks the shapes of x, w (and the bias) against the op and returns the sizes.
func (op convOp) dims(xs, ws, bs []int) (convDims, error) {
	var d convDims
	if len(xs) != op.rank || len(ws) != op.rank {
		return d, fmt.Errorf("%v: input %v and kernel %v must both have %d dimensions", op, tensor.Shape(xs), tensor.Shape(ws), op.rank)
	}
	kh, kw := spatial(ws)
	if kh != op.win.kh || kw != op.win.kw {
		return d, fmt.Errorf("%v: kernel has shape %v", op, tensor.Shape(ws))
	}
	if ws[1] != xs[1] {
		return d, fmt.Errorf("kernel expects %d input channels, input has %d", ws[1], xs[1])
	}
	if op.bias && (len(bs) != 1 || bs[0] != ws[0]) {
		return d, fmt.Errorf("bias has shape %v, want (%d)", tensor.Shape(bs), ws[0])
	}
	d.n, d.c, d.o = xs[0], xs[1], ws[0]
	d.h, d.w = spatial(xs)
	var err error
	if d.ho, d.wo, err = op.win.outSize(d.h, d.w, op.rank == 3); err != nil {
		return d, err
	}
	return d, nil
}

func (d convDims) outShape(rank int) []int {
	if rank == 3 {
		return []int{d.n, d.o, d.wo}
	}
	return []int{d.n, d.o, d.ho, d.wo}
}

func (op convOp) InferShape(in ...gorgonia.DimSizer) (tensor.Shape, error) {
	xs, err := shapeOf(op, in, 0)
	if err != nil {
		return nil, err
	}
	ws, err := shapeOf(op, in, 1)
	if err != nil {
		return nil, err
	}
	var bs tensor.Shape
	if op.bias {
		if bs, err = shapeOf(op, in, 2); err != nil {
			return nil, err
		}
	}
	d, err := op.dims(xs, ws, bs)
	if err != nil {
		return nil, err
	}
	return d.outShape(op.rank), nil
}

func (op convOp) Do(in ...gorgonia.Value) (gorgonia.Value, error) {
	ts, dt, err := denseInputs(op, in, op.Arity())
	if err != nil {
		return nil, err
	}
	var bs []int
	if op.bias {
		bs = ts[2].Shape()
	}
	d, err := op.dims(ts[0].Shape(), ts[1].Shape(), bs)
	if err != nil {
		return nil, err
	}
	if dt == tensor.Float32 {
		return convForward[float32](op, d, ts), nil
	}
	return convForward[float64](op, d, ts), nil
}

func convForward[T float](op convOp, d convDims, ts []*tensor.Dense) *tensor.Dense {
	x, w := data[T](ts[0]), data[T](ts[1])
	out := newDense[T](d.outShape(op.rank)...)
	y := data[T](out)
	k := d.c * op.win.kh * op.win.kw // rows of the column matrix
	p := d.ho * d.wo                 // output positions
	var col []T
	if !op.win.pointwise() {
		col = make([]T, k*p) // (C·kh·kw, Ho·Wo)
	}
	var bias []T
	if op.bias {
		bias = data[T](ts[2])
	}
	for n := 0; n < d.n; n++ {
		xn := x[n*d.c*d.h*d.w : (n+1)*d.c*d.h*d.w] // (C, H, W)
		src := xn
		if col != nil {
			im2col(op.win, d, xn, col)
			src = col
		}
		yn := y[n*d.o*p : (n+1)*d.o*p] // (O, Ho·Wo)
		var beta T
		if bias != nil {
			for o, v := range bias {
				row := yn[o*p : (o+1)*p]
				for i := range row {
					row[i] = v
				}
			}
			beta = 1
		}
		matmul(false, false, d.o, p, k, w, k, src, p, beta, yn, p) // W (O, K) · col (K, P)
	}
	return out
}

func (op convOp) DiffWRT(n int) []bool {
	out := make([]bool, n)
	for i := range out {
		out[i] = true
	}
	return out
}

func (op convOp) SymDiff(in gorgonia.Nodes, out, grad *gorgonia.Node) (gorgonia.Nodes, error) {
	if len(in) != op.Arity() {
		return nil, fmt.Errorf("%v: expected %d inputs, got %d", op, op.Arity(), len(in))
	}
	x, w := in[0], in[1]
	h, wd := spatial(x.Shape())
	dx, err := applyOp(convInputGradOp{win: op.win, rank: op.rank, h: h, w: wd}, gradName(out, "x"), w, grad)
	if err != nil {
		return nil, err
	}
	dw, err := applyOp(convWeightGradOp{win: op.win, rank: op.rank}, gradName(out, "w"), x, grad)
	if err != nil {
		return nil, err
	}
	if !op.bias {
		return gorgonia.Nodes{dx, dw}, nil
	}
	db, err := applyChannelSum(grad, gradName(out, "b"))
	if err != nil {
		return nil, err
	}
	return gorgonia.Nodes{dx, dw, db}, nil
}

// convInputGradOp is the gradient of a convolution with respect to its input: inputs w
// (O, C, kh, kw) and dy (N, O, Ho, Wo), output dx (N, C, h, w). For each image the columns'
// gradient Wᵀ·dy (C·kh·kw, Ho·Wo) is added back into the image positions (col2im).
type convInputGradOp struct {
	pure
	backwardOnly
	win  window
	rank int
	h, w int // input size, which the output size does not determine when the stride is above 1
}

func (op convInputGradOp) Arity() int { return 2 }
func (op convInputGradOp) Type() hm.Type {
	t := tensorOf(op.rank)
	return hm.NewFnType(t, t, t)
}
func (op convInputGradOp) String() string {
	return fmt.Sprintf("conv%dd_dx(%v, input %dx%d)", op.rank-2, op.win, op.h, op.w)
}
func (op convInputGradOp) WriteHash(h hash.Hash) {
	fmt.Fprintf(h, "unroll.conv.dx rank=%d input=%dx%d %v", op.rank, op.h, op.w, op.win)
}
func (op convInputGradOp) Hashcode() uint32 { return hashOf(op) }

func (op convInputGradOp) dims(ws, dys []int) (convDims, error) {
	if len(ws) != op.rank || len(dys) != op.rank || ws[0] != dys[1] {
		return convDims{}, fmt.Errorf("%v: kernel %v and gradient %v do not match", op, tensor.Shape(ws), tensor.Shape(dys))
	}
	d := convDims{n: dys[0], c: ws[1], h: op.h, w: op.w, o: ws[0]}
	d.ho, d.wo = spatial(dys)
	ho, wo, err := op.win.outSize(op.h, op.w, op.rank == 3)
	if err != nil || ho != d.ho || wo != d.wo {
		return convDims{}, fmt.Errorf("%v: gradient %v does not match the input size", op, tensor.Shape(dys))
	}
	return d, nil
}

func (d convDims) inShape(rank int) []int {
	if rank == 3 {
		return []int{d.n, d.c, d.w}
	}
	return []int{d.n, d.c, d.h, d.w}
}

func (op convInputGradOp) InferShape(in ...gorgonia.DimSizer) (tensor.Shape, error) {
	ws, err := shapeOf(op, in, 0)
	if err != nil {
		return nil, err
	}
	dys, err := shapeOf(op, in, 1)
	if err != nil {
		return nil, err
	}
	d, err := op.dims(ws, dys)
	if err != nil {
		return nil, err
	}
	return d.inShape(op.rank), nil
}

func (op convInputGradOp) Do(in ...gorgonia.Value) (gorgonia.Value, error) {
	ts, dt, err := denseInputs(op, in, 2)
	if err != nil {
		return nil, err
	}
	d, err := op.dims(ts[0].Shape(), ts[1].Shape())
	if err != nil {
		return nil, err
	}
	if dt == tensor.Float32 {
		return convInputGrad(op.win, op.rank, d, data[float32](ts[0]), data[float32](ts[1])), nil
	}
	return convInputGrad(op.win, op.rank, d, data[float64](ts[0]), data[float64](ts[1])), nil
}

func convInputGrad[T float](win window, rank int, d convDims, w, dy []T) *tensor.Dense {
	out := newDense[T](d.inShape(rank)...)
	dx := data[T](out)
	k := d.c * win.kh * win.kw
	p := d.ho * d.wo
	pointwise := win.pointwise()
	var col []T
	if !pointwise {
		col = make([]T, k*p) // (C·kh·kw, Ho·Wo)
	}
	for n := 0; n < d.n; n++ {
		dyn := dy[n*d.o*p : (n+1)*d.o*p]             // (O, Ho·Wo)
		dxn := dx[n*d.c*d.h*d.w : (n+1)*d.c*d.h*d.w] // (C, H, W)
		if pointwise {
			matmul(true, false, k, p, d.o, w, k, dyn, p, 0, dxn, p)
			continue
		}
		matmul(true, false, k, p, d.o, w, k, dyn, p, 0, col, p) // Wᵀ (K, O) · dy (O, P)
		col2im(win, d, col, dxn)
	}
	return out
}

// convWeightGradOp is the gradient of a convolution with respect to its kernel: inputs x
// (N, C, H, W) and dy (N, O, Ho, Wo), output dW (O, C, kh, kw) = Σ_n dy_n · col(x_n)ᵀ.
type convWeightGradOp struct {
	pure
	backwardOnly
	win  window
	rank int
}

func (op convWeightGradOp) Arity() int { return 2 }
func (op convWeightGradOp) Type() hm.Type {
	t := tensorOf(op.rank)
	return hm.NewFnType(t, t, t)
}
func (op convWeightGradOp) String() string {
	return fmt.Sprintf("conv%dd_dw(%v)", op.rank-2, op.win)
}
func (op convWeightGradOp) WriteHash(h hash.Hash) {
	fmt.Fprintf(h, "unroll.conv.dw rank=%d %v", op.rank, op.win)
}
func (op convWeightGradOp) Hashcode() uint32 { return hashOf(op) }

func (op convWeightGradOp) dims(xs, dys []int) (convDims, error) {
	if len(xs) != op.rank || len(dys) != op.rank || xs[0] != dys[0] {
		return convDims{}, fmt.Errorf("%v: input %v and gradient %v do not match", op, tensor.Shape(xs), tensor.Shape(dys))
	}
	d := convDims{n: xs[0], c: xs[1], o: dys[1]}
	d.h, d.w = spatial(xs)
	ho, wo, err := op.win.outSize(d.h, d.w, op.rank == 3)
	d.ho, d.wo = spatial(dys)
	if err != nil || ho != d.ho || wo != d.wo {
		return convDims{}, fmt.Errorf("%v: gradient %v does not match the input %v", op, tensor.Shape(dys), tensor.Shape(xs))
	}
	return d, nil
}

func (d convDims) kernelShape(win window, rank int) []int {
	if rank == 3 {
		return []int{d.o, d.c, win.kw}
	}
	return []int{d.o, d.c, win.kh, win.kw}
}

func (op convWeightGradOp) InferShape(in ...gorgonia.DimSizer) (tensor.Shape, error) {
	xs, err := shapeOf(op, in, 0)
	if err != nil {
		return nil, err
	}
	dys, err := shapeOf(op, in, 1)
	if err != nil {
		return nil, err
	}
	d, err := op.dims(xs, dys)
	if err != nil {
		return nil, err
	}
	return d.kernelShape(op.win, op.rank), nil
}

func (op convWeightGradOp) Do(in ...gorgonia.Value) (gorgonia.Value, error) {
	ts, dt, err := denseInputs(op, in, 2)
	if err != nil {
		return nil, err
	}
	d, err := op.dims(ts[0].Shape(), ts[1].Shape())
	if err != nil {
		return nil, err
	}
	if dt == tensor.Float32 {
		return convWeightGrad(op.win, op.rank, d, data[float32](ts[0]), data[float32](ts[1])), nil
	}
	return convWeightGrad(op.win, op.rank, d, data[float64](ts[0]), data[float64](ts[1])), nil
}

func convWeightGrad[T float](win window, rank int, d convDims, x, dy []T) *tensor.Dense {
	out := newDense[T](d.kernelShape(win, rank)...)
	dw := data[T](out) // (O, C·kh·kw), zero
	k := d.c * win.kh * win.kw
	p := d.ho * d.wo
	var col []T
	if !win.pointwise() {
		col = make([]T, k*p)
	}
	for n := 0; n < d.n; n++ {
		xn := x[n*d.c*d.h*d.w : (n+1)*d.c*d.h*d.w]
		src := xn
		if col != nil {
			im2col(win, d, xn, col)
			src = col
		}
		dyn := dy[n*d.o*p : (n+1)*d.o*p]
		matmul(false, true, d.o, k, p, dyn, p, src, p, 1, dw, k) // dW += dy (O, P) · colᵀ (P, K)
	}
	return out
}

// validRange returns the output positions [lo, hi) among n whose input position
// off + j·stride lies in [0, size).
func validRange(off, stride, size, n int) (int, int) {
	lo := 0
	if off < 0 {
		lo = (-off + stride - 1) / stride
	}
	if size-1-off < 0 {
		return 0, 0
	}
	hi := min((size-1-off)/stride+1, n)
	lo = min(lo, n)
	return lo, max(hi, lo)
}

// im2col unrolls one image x (C, H, W) into col (C·kh·kw, Ho·Wo): row (c, p, q) holds, at
// output position (i, j), the input x[c, i·sh - pt + p·dh, j·sw - pl + q·dw], or 0 where that
// falls in the padding.
func im2col[T float](win window, d convDims, x, col []T) {
	p := d.ho * d.wo
	row := 0
	for c := 0; c < d.c; c++ {
		xc := x[c*d.h*d.w : (c+1)*d.h*d.w]
		for kp := 0; kp < win.kh; kp++ {
			for kq := 0; kq < win.kw; kq++ {
				dst := col[row*p : (row+1)*p]
				row++
				off := kq*win.dw - win.pl // input column of output column 0
				lo, hi := validRange(off, win.sw, d.w, d.wo)
				for i := 0; i < d.ho; i++ {
					out := dst[i*d.wo : (i+1)*d.wo]
					iy := i*win.sh - win.pt + kp*win.dh
					if iy < 0 || iy >= d.h || lo >= hi {
						clear(out)
						continue
					}
					src := xc[iy*d.w : (iy+1)*d.w]
					clear(out[:lo])
					clear(out[hi:])
					if win.sw == 1 {
						copy(out[lo:hi], src[off+lo:off+hi])
						continue
					}
					ix := off + lo*win.sw
					for j := lo; j < hi; j++ {
						out[j] = src[ix]
						ix += win.sw
					}
				}
			}
		}
	}
}

// col2im is the adjoint of im2col: it adds every element of col (C·kh·kw, Ho·Wo) into the
// image position im2col read it from; x (C, H, W) must start at zero.
func col2im[T float](win window, d convDims, col, x []T) {
	p := d.ho * d.wo
	row := 0
	for c := 0; c < d.c; c++ {
		xc := x[c*d.h*d.w : (c+1)*d.h*d.w]
		for kp := 0; kp < win.kh; kp++ {
			for kq := 0; kq < win.kw; kq++ {
				src := col[row*p : (row+1)*p]
				row++
				off := kq*win.dw - win.pl
				lo, hi := validRange(off, win.sw, d.w, d.wo)
				if lo >= hi {
					continue
				}
				for i := 0; i < d.ho; i++ {
					iy := i*win.sh - win.pt + kp*win.dh
					if iy < 0 || iy >= d.h {
						continue
					}
					in := src[i*d.wo+lo : i*d.wo+hi]
					dst := xc[iy*d.w : (iy+1)*d.w]
					if win.sw == 1 {
						dst = dst[off+lo : off+hi]
						for j, v := range in {
							dst[j] += v
						}
						continue
					}
					ix := off + lo*win.sw
					for _, v := range in {
						dst[ix] += v
						ix += win.sw
					}
				}
			}
		}
	}
}
