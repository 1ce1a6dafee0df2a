package nodes

import (
	"fmt"
	"hash"
	"math"

	"github.com/chewxy/hm"
	"gorgonia.org/gorgonia"
	"gorgonia.org/tensor"

	"github.com/unroll-ml/unroll/graph"
	"github.com/unroll-ml/unroll/internal/compute"
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
// convolution's own op: the same values as the layer followed by nodes.ReLU, computed while
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
	y, err := applyOp(convOp{win: win, rank: c.dims + 2, bias: c.bias, relu: c.relu}, b.Name(c.name), children...)
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
// transposed products and col2im, which adds the columns back into image positions. With
// FusedReLU the op also applies ReLU to its output.
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
// the rank, whether there is a bias and whether ReLU is fused (y = max(0, ·), see
// FusedReLU). See Conv2D for the maths.
//
// The op works through the batch in chunks of images (convChunk): it unrolls a chunk into
// one column matrix (C·kh·kw, G·H_out·W_out) (im2col), computes W (O, C·kh·kw) times it with
// one matrix product, and scatters the result into NCHW order adding the bias. The chunks
// are small enough for their matrices to stay in the cache from one step to the next. (The
// weight gradient unrolls the input again, chunk by chunk: keeping the whole batch's columns
// from the forward for it was measured slower, as they no longer fit in the cache.)
type convOp struct {
	pure
	win  window
	rank int
	bias bool
	relu bool
}

// colChunkElems bounds the matrices of one chunk of images (the columns, C·kh·kw x G·Ho·Wo,
// and the output or output gradient, O x G·Ho·Wo), in elements: about 16 MiB of float32.
// Smaller chunks keep a chunk's matrices in the cache, but every chunk makes the threads meet
// several times (gather, im2col, matrix product), and on two cores the meetings cost more than
// the cache misses: with chunks of 1 MiB, W4 (bench/WORKLOADS.md) took 27 ms and W1 trained
// 1,754 images/s; with 16 MiB, 16 ms and 2,414 images/s. (A variable so that tests can make
// chunks small.)
var colChunkElems = 1 << 22

// convChunk is the number of images per chunk for a convolution d: the batch is cut into the
// fewest chunks whose matrices hold at most colChunkElems elements (at least one image each),
// of nearly equal size. It depends on the shapes only, never on the number of threads.
func convChunk(d convDims, kk int) int {
	perImage := max(d.c*kk, d.o) * d.ho * d.wo
	chunks := min(max(1, (d.n*perImage+colChunkElems-1)/colChunkElems), d.n)
	return (d.n + chunks - 1) / chunks
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
	if op.relu {
		return fmt.Sprintf("conv%dd+relu(%v, bias %v)", op.rank-2, op.win, op.bias)
	}
	return fmt.Sprintf("conv%dd(%v, bias %v)", op.rank-2, op.win, op.bias)
}
func (op convOp) WriteHash(h hash.Hash) {
	fmt.Fprintf(h, "unroll.conv rank=%d bias=%v relu=%v %v", op.rank, op.bias, op.relu, op.win)
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
	return op.DoInto(nil, in...)
}

// DoInto computes the convolution into out, a tensor of the output's shape and dtype (a new
// one when out is nil).
func (op convOp) DoInto(out *tensor.Dense, in ...gorgonia.Value) (gorgonia.Value, error) {
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
	if out, err = outputFor(op, out, dt, d.outShape(op.rank)); err != nil {
		return nil, err
	}
	if dt == tensor.Float32 {
		convForward(op, d, ts, data[float32](out))
	} else {
		convForward(op, d, ts, data[float64](out))
	}
	return out, nil
}

func convForward[T float](op convOp, d convDims, ts []*tensor.Dense, y []T) {
	x, w := data[T](ts[0]), data[T](ts[1])
	var bias []T
	if op.bias {
		bias = data[T](ts[2])
	}
	k := d.c * op.win.kh * op.win.kw // rows of the column matrix
	p := d.ho * d.wo                 // output positions of one image
	g := convChunk(d, op.win.kh*op.win.kw)
	cols := compute.Scratch[T](k * g * p)
	for n0 := 0; n0 < d.n; n0 += g {
		n1 := min(n0+g, d.n)
		im2colImages(op.win, d, x, cols[:k*(n1-n0)*p], n0, n1)
		convProduct(d, k, p, w, bias, op.relu, cols, (n1-n0)*p, y, n0, n1)
	}
	compute.Release(cols)
}

// convProduct computes the outputs of images n0..n1-1 from their columns cols (K, G·P), G =
// n1-n0, stored with leading dimension ld: t (O, G·P) = W (O, K) · cols, then
// y[n, o, :] = t[o, (n-n0)·P : (n-n0+1)·P] + b[o], through ReLU when relu is set.
func convProduct[T float](d convDims, k, p int, w, bias []T, relu bool, cols []T, ld int, y []T, n0, n1 int) {
	gp := (n1 - n0) * p
	t := compute.Scratch[T](d.o * gp)
	matmul(false, false, d.o, gp, k, w, k, cols, ld, 0, t, gp)
	compute.For(n1-n0, d.o*gp, func(lo, hi int) {
		for i := lo; i < hi; i++ {
			yn := y[(n0+i)*d.o*p : (n0+i+1)*d.o*p] // (O, P)
			for o := 0; o < d.o; o++ {
				src := t[o*gp+i*p : o*gp+(i+1)*p]
				dst := yn[o*p : (o+1)*p]
				var b T
				if bias != nil {
					b = bias[o]
				}
				switch {
				case relu && is32[T]():
					biasReLU32(f32s(src), f32s(dst), float32(b))
				case relu:
					for j, v := range src {
						if v += b; v > 0 {
							dst[j] = v
						} else {
							dst[j] = 0
						}
					}
				case bias == nil:
					copy(dst, src)
				default:
					for j, v := range src {
						dst[j] = v + b
					}
				}
			}
		}
	})
	compute.Release(t)
}

// biasReLU32 sets dst = max(0, src + b) (0 for NaN) without a branch, as relu32 does.
func biasReLU32(src, dst []float32, b float32) {
	dst = dst[:len(src)]
	for j, v := range src {
		u := math.Float32bits(v + b)
		m := uint32((int64(u-1) - 0x7f800000) >> 63)
		dst[j] = math.Float32frombits(u & m)
	}
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
	if op.relu { // the gradient of the fused ReLU: dz = dy where y > 0 (that is, z > 0), else 0
		var err error
		if grad, err = reluGrad(out, grad, op.rank); err != nil {
			return nil, err
		}
	}
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

// reluGrad adds the gradient of a fused ReLU whose output is y and whose upstream gradient is
// dy: dy where y > 0, else 0. When dy is the gradient of a max pooling of y and nothing else,
// the mask is folded into that pooling's gradient (a second node that computes both in one
// pass; the first is then needed by no one and not run).
func reluGrad(y, dy *gorgonia.Node, rank int) (*gorgonia.Node, error) {
	if pg, ok := dy.Op().(poolGradOp); ok && pg.fwd.kind == maxPool && !pg.relu {
		if in := childrenOf(dy); len(in) == 2 && in[0] == y {
			return applyOp(poolGradOp{fwd: pg.fwd, relu: true}, gradName(y, "relu"), y, in[1])
		}
	}
	relu := activationOp{kind: actReLU, rank: rank}
	return applyOp(activationGradOp{fwd: relu}, gradName(y, "relu"), y, y, dy)
}

// childrenOf lists the inputs of n's op, in order.
func childrenOf(n *gorgonia.Node) []*gorgonia.Node {
	var out []*gorgonia.Node
	it := n.Graph().From(n.ID())
	for it != nil && it.Next() {
		out = append(out, it.Node().(*gorgonia.Node))
	}
	return out
}

// convInputGradOp is the gradient of a convolution with respect to its input: inputs w
// (O, C, kh, kw) and dy (N, O, Ho, Wo), output dx (N, C, h, w). For each chunk of images the
// columns' gradient Wᵀ (C·kh·kw, O) · dy (O, G·Ho·Wo) is computed with one matrix product and
// added back into the image positions (col2im).
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
	return op.DoInto(nil, in...)
}

// DoInto computes the input gradient into out (a new tensor when out is nil).
func (op convInputGradOp) DoInto(out *tensor.Dense, in ...gorgonia.Value) (gorgonia.Value, error) {
	ts, dt, err := denseInputs(op, in, 2)
	if err != nil {
		return nil, err
	}
	d, err := op.dims(ts[0].Shape(), ts[1].Shape())
	if err != nil {
		return nil, err
	}
	if out, err = outputFor(op, out, dt, d.inShape(op.rank)); err != nil {
		return nil, err
	}
	if dt == tensor.Float32 {
		convInputGrad(op.win, d, data[float32](ts[0]), data[float32](ts[1]), data[float32](out))
	} else {
		convInputGrad(op.win, d, data[float64](ts[0]), data[float64](ts[1]), data[float64](out))
	}
	return out, nil
}

func convInputGrad[T float](win window, d convDims, w, dy, dx []T) {
	k := d.c * win.kh * win.kw
	p := d.ho * d.wo
	g := convChunk(d, win.kh*win.kw)
	dyt := compute.Scratch[T](d.o * g * p) // (O, G·P)
	col := compute.Scratch[T](k * g * p)   // (K, G·P)
	for n0 := 0; n0 < d.n; n0 += g {
		n1 := min(n0+g, d.n)
		gp := (n1 - n0) * p
		gatherImages(dy, dyt, d.o, p, n0, n1)
		matmul(true, false, k, gp, d.o, w, k, dyt, gp, 0, col, gp) // Wᵀ (K, O) · dy (O, G·P)
		col2imImages(win, d, col, dx, n0, n1)
	}
	compute.Release(col)
	compute.Release(dyt)
}

// gatherImages copies images n0..n1-1 of v (N, rows, p) into t (rows, G·p), image i of the
// chunk in columns i·p..(i+1)·p-1.
func gatherImages[T float](v, t []T, rows, p, n0, n1 int) {
	gp := (n1 - n0) * p
	compute.For(n1-n0, rows*gp, func(lo, hi int) {
		for i := lo; i < hi; i++ {
			vn := v[(n0+i)*rows*p : (n0+i+1)*rows*p]
			for r := 0; r < rows; r++ {
				copy(t[r*gp+i*p:r*gp+(i+1)*p], vn[r*p:(r+1)*p])
			}
		}
	})
}

// convWeightGradOp is the gradient of a convolution with respect to its kernel: inputs x
// (N, C, H, W) and dy (N, O, Ho, Wo), output dW (O, C, kh, kw) = Σ_n dy_n · col(x_n)ᵀ,
// computed chunk by chunk of images (convChunk), one matrix product each, the chunks added in
// order: the chunks depend on the shapes only, so the order of the sum is fixed.
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
	return op.DoInto(nil, in...)
}

// DoInto computes the kernel gradient into out (a new tensor when out is nil).
func (op convWeightGradOp) DoInto(out *tensor.Dense, in ...gorgonia.Value) (gorgonia.Value, error) {
	ts, dt, err := denseInputs(op, in, 2)
	if err != nil {
		return nil, err
	}
	d, err := op.dims(ts[0].Shape(), ts[1].Shape())
	if err != nil {
		return nil, err
	}
	if out, err = outputFor(op, out, dt, d.kernelShape(op.win, op.rank)); err != nil {
		return nil, err
	}
	if dt == tensor.Float32 {
		convWeightGrad(op.win, d, data[float32](ts[0]), data[float32](ts[1]), data[float32](out))
	} else {
		convWeightGrad(op.win, d, data[float64](ts[0]), data[float64](ts[1]), data[float64](out))
	}
	return out, nil
}

func convWeightGrad[T float](win window, d convDims, x, dy, dw []T) {
	k := d.c * win.kh * win.kw
	p := d.ho * d.wo
	g := convChunk(d, win.kh*win.kw)
	col := compute.Scratch[T](k * g * p)   // (K, G·P)
	dyt := compute.Scratch[T](d.o * g * p) // (O, G·P)
	for n0 := 0; n0 < d.n; n0 += g {
		n1 := min(n0+g, d.n)
		gp := (n1 - n0) * p
		gatherImages(dy, dyt, d.o, p, n0, n1)
		im2colImages(win, d, x, col[:k*gp], n0, n1)
		var beta T
		if n0 > 0 {
			beta = 1
		}
		matmul(false, true, d.o, k, gp, dyt, gp, col, gp, beta, dw, k) // dW (+)= dy (O, G·P) · colᵀ (G·P, K)
	}
	compute.Release(dyt)
	compute.Release(col)
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

// im2colImages unrolls images n0..n1-1 of x (N, C, H, W) into col (C·kh·kw, G·Ho·Wo), G = n1-n0:
// row (c, p, q) holds, at column i·Ho·Wo + (a, b) (image n0+i, output position (a, b)), the
// input x[n0+i, c, a·sh - pt + p·dh, b·sw - pl + q·dw], or 0 where that falls in the padding.
// The (image, channel) pairs are shared among the threads.
func im2colImages[T float](win window, d convDims, x, col []T, n0, n1 int) {
	p := d.ho * d.wo
	gp := (n1 - n0) * p
	kk := win.kh * win.kw
	items := (n1 - n0) * d.c
	compute.For(items, items*kk*p, func(lo, hi int) {
		for it := lo; it < hi; it++ {
			i, c := it/d.c, it%d.c
			xc := x[((n0+i)*d.c+c)*d.h*d.w : ((n0+i)*d.c+c+1)*d.h*d.w]
			for kp := 0; kp < win.kh; kp++ {
				for kq := 0; kq < win.kw; kq++ {
					row := c*kk + kp*win.kw + kq
					im2colRow(win, d, xc, col[row*gp+i*p:row*gp+(i+1)*p], kp, kq)
				}
			}
		}
	})
}

// shifted reports whether kernel rows are plain shifts of the image: stride 1, no dilation
// along the width and an output as wide as the input (a "same" convolution), so that the
// inputs one kernel element meets at the output positions, in row-major order, are a
// contiguous run of the image plane except at the left and right borders.
func (w window) shifted(d convDims) bool {
	return w.sh == 1 && w.sw == 1 && w.dw == 1 && d.wo == d.w
}

// rowsFor returns the output rows [lo, hi) whose input row i - pt + kp·dh lies in the image.
func (w window) rowsFor(d convDims, kp int) (int, int) {
	return validRange(kp*w.dh-w.pt, 1, d.h, d.ho)
}

// im2colRow fills dst (Ho·Wo) with the inputs of one channel plane xc (H, W) that kernel
// element (kp, kq) meets at each output position.
func im2colRow[T float](win window, d convDims, xc, dst []T, kp, kq int) {
	if win.shifted(d) {
		// dst[i·W + j] = xc[(i + dy)·W + j + dx] for the valid rows, 0 elsewhere: one copy of a
		// contiguous run, then the border columns the shift wrapped around are cleared.
		dy, dx := kp*win.dh-win.pt, kq-win.pl
		lo, hi := win.rowsFor(d, kp)
		clear(dst[:lo*d.w])
		clear(dst[hi*d.w:])
		if lo >= hi {
			return
		}
		a, b := lo*d.w, hi*d.w // dst range; its source starts at a + dy·W + dx
		sa, sb := a+dy*d.w+dx, b+dy*d.w+dx
		if sa < 0 {
			a, sa = a-sa, 0
		}
		if sb > len(xc) {
			b, sb = b-(sb-len(xc)), len(xc)
		}
		copy(dst[a:b], xc[sa:sb])
		clearColumns(dst, d.w, lo, hi, dx)
		return
	}
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
			s, o := src[off+lo:off+hi], out[lo:hi]
			for j := range o {
				o[j] = s[j]
			}
			continue
		}
		ix := off + lo*win.sw
		for j := lo; j < hi; j++ {
			out[j] = src[ix]
			ix += win.sw
		}
	}
}

// col2imImages is the adjoint of im2colImages: it sets dx for images n0..n1-1 to the sum, at
// each image position, of the elements of col (C·kh·kw, G·Ho·Wo) that im2col read from there.
// Each (image, channel) plane of dx is written by one thread.
func col2imImages[T float](win window, d convDims, col, dx []T, n0, n1 int) {
	p := d.ho * d.wo
	gp := (n1 - n0) * p
	kk := win.kh * win.kw
	items := (n1 - n0) * d.c
	compute.For(items, items*kk*p, func(lo, hi int) {
		for it := lo; it < hi; it++ {
			i, c := it/d.c, it%d.c
			xc := dx[((n0+i)*d.c+c)*d.h*d.w : ((n0+i)*d.c+c+1)*d.h*d.w]
			clear(xc)
			for kp := 0; kp < win.kh; kp++ {
				for kq := 0; kq < win.kw; kq++ {
					row := c*kk + kp*win.kw + kq
					col2imRow(win, d, col[row*gp+i*p:row*gp+(i+1)*p], xc, kp, kq)
				}
			}
		}
	})
}

// clearColumns zeroes, in rows lo..hi-1 of m (rows of w elements), the columns that a shift by
// dx moves outside the row: the first -dx when dx < 0, the last dx when dx > 0.
func clearColumns[T float](m []T, w, lo, hi, dx int) {
	j0, j1 := 0, min(-dx, w)
	if dx > 0 {
		j0, j1 = max(w-dx, 0), w
	}
	for j := j0; j < j1; j++ {
		for i := lo; i < hi; i++ {
			m[i*w+j] = 0
		}
	}
}

// col2imRow adds src (Ho·Wo), the column gradients of kernel element (kp, kq), into the
// channel plane xc (H, W). When the kernel rows are shifts of the image it clears the border
// columns of src that fall outside the image and adds a contiguous run (adding zeros changes
// no sum), so src is scratch.
func col2imRow[T float](win window, d convDims, src, xc []T, kp, kq int) {
	if win.shifted(d) {
		dy, dx := kp*win.dh-win.pt, kq-win.pl
		lo, hi := win.rowsFor(d, kp)
		if lo >= hi {
			return
		}
		clearColumns(src, d.w, lo, hi, dx)
		a, b := lo*d.w, hi*d.w
		sa, sb := a+dy*d.w+dx, b+dy*d.w+dx // where src[a:b] lands in xc
		if sa < 0 {
			a, sa = a-sa, 0
		}
		if sb > len(xc) {
			b, sb = b-(sb-len(xc)), len(xc)
		}
		addTo(xc[sa:sb], src[a:b])
		return
	}
	off := kq*win.dw - win.pl
	lo, hi := validRange(off, win.sw, d.w, d.wo)
	if lo >= hi {
		return
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

// addTo sets dst += src elementwise (of the same length).
func addTo[T float](dst, src []T) {
	src = src[:len(dst)]
	for i, v := range src {
		dst[i] += v
	}
}
