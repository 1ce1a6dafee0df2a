package nodes

import (
	"fmt"
	"hash"
	"math"

	"github.com/chewxy/hm"
	"gorgonia.org/gorgonia"
	"gorgonia.org/tensor"

	"github.com/unroll-ml/unroll/graph"
)

// PoolOption configures the pooling layers: a WindowOption (Stride, Padding, SamePadding,
// Dilation for max pooling, KernelSize) or ExcludePadding for average pooling.
type PoolOption interface{ applyPool(*poolConfig) }

type poolConfig struct {
	windowConfig
	excludePad bool
}

type poolFunc func(*poolConfig)

func (o poolFunc) applyPool(c *poolConfig) { o(c) }

// ExcludePadding makes average pooling divide by the number of input elements in the window
// rather than by the window size (PyTorch's count_include_pad=False). By default padding
// counts as zeros.
func ExcludePadding() PoolOption { return poolFunc(func(c *poolConfig) { c.excludePad = true }) }

type poolKind int

const (
	maxPool poolKind = iota
	avgPool
)

func (k poolKind) String() string {
	if k == maxPool {
		return "max pool"
	}
	return "avg pool"
}

// pool is what the max and average pooling layers share.
type pool struct {
	name       string
	kind       poolKind
	dims       int // spatial axes: 1 or 2
	spec       windowSpec
	excludePad bool
}

func newPool(name string, kind poolKind, dims, kernel int, opts []PoolOption) (pool, error) {
	var cfg poolConfig
	for _, o := range opts {
		if o != nil {
			o.applyPool(&cfg)
		}
	}
	spec, err := cfg.windowConfig.spec(dims, kernel, true)
	if err != nil {
		return pool{}, fmt.Errorf("%s: %w", name, err)
	}
	if kind == avgPool && (spec.dh > 1 || spec.dw > 1) {
		return pool{}, fmt.Errorf("%s: average pooling takes no dilation, got %s", name, sizes(cfg.dilation))
	}
	if kind == maxPool && cfg.excludePad {
		return pool{}, fmt.Errorf("%s: ExcludePadding applies to average pooling only", name)
	}
	if err := checkPoolPad(spec.window); err != nil {
		return pool{}, fmt.Errorf("%s: %w", name, err)
	}
	return pool{name: name, kind: kind, dims: dims, spec: spec, excludePad: cfg.excludePad}, nil
}

// checkPoolPad refuses padding above half the kernel size, as PyTorch does: a window could
// then hold padding only.
func checkPoolPad(w window) error {
	if w.pt > w.kh/2 || w.pb > w.kh/2 || w.pl > w.kw/2 || w.pr > w.kw/2 {
		return fmt.Errorf("padding (%d, %d, %d, %d) is more than half the kernel %dx%d", w.pt, w.pb, w.pl, w.pr, w.kh, w.kw)
	}
	return nil
}

// Name is the layer's name.
func (p *pool) Name() string { return p.name }

func (p *pool) geometry(x []int) (window, []int, error) {
	if p.dims == 1 && len(x) != 3 {
		return window{}, nil, fmt.Errorf("%s: input must be (batch, channels, length), has shape %v", p.name, tensor.Shape(x))
	}
	if p.dims == 2 && len(x) != 4 {
		return window{}, nil, fmt.Errorf("%s: input must be (batch, channels, height, width), has shape %v", p.name, tensor.Shape(x))
	}
	h, w := spatial(x)
	win := p.spec.resolve(h, w)
	if err := checkPoolPad(win); err != nil {
		return window{}, nil, fmt.Errorf("%s: %w", p.name, err)
	}
	ho, wo, err := win.outSize(h, w, p.dims == 1)
	if err != nil {
		return window{}, nil, fmt.Errorf("%s: %w", p.name, err)
	}
	if p.dims == 1 {
		return win, []int{x[0], x[1], wo}, nil
	}
	return win, []int{x[0], x[1], ho, wo}, nil
}

// OutputShape is the shape of the output for an input of shape in, or the error Forward
// would return.
func (p *pool) OutputShape(in []int) ([]int, error) {
	_, out, err := p.geometry(in)
	return out, err
}

// Forward adds the pooling of x to b's graph.
func (p *pool) Forward(b *graph.Builder, x *gorgonia.Node) (*gorgonia.Node, error) {
	if x == nil {
		return nil, fmt.Errorf("%s: nil input", p.name)
	}
	win, _, err := p.geometry(x.Shape())
	if err != nil {
		return nil, err
	}
	op := poolOp{kind: p.kind, win: win, rank: p.dims + 2, excludePad: p.excludePad}
	y, err := applyOp(op, b.Name(p.name), x)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", p.name, err)
	}
	return y, nil
}

// MaxPool2D takes the maximum over each window of each channel of an NCHW image (PyTorch's
// MaxPool2d): for an input (B, C, H, W),
//
//	y[n, c, i, j] = max over (p, q) of x[n, c, i·s_h - pad_top + p·d_h, j·s_w - pad_left + q·d_w]
//
// where padding never wins (it counts as -∞). The output is (B, C, H_out, W_out), sized as a
// convolution's (ConvOutputSize); the stride defaults to the kernel size. The gradient goes
// to the first maximum of each window (row by row), as in PyTorch. Padding may be different
// on each side but at most half the kernel.
type MaxPool2D struct{ pool }

// NewMaxPool2D returns a max pooling layer with a square window of size kernel. Options:
// Stride, Padding, SamePadding, Dilation, KernelSize.
func NewMaxPool2D(name string, kernel int, opts ...PoolOption) (*MaxPool2D, error) {
	p, err := newPool(name, maxPool, 2, kernel, opts)
	if err != nil {
		return nil, err
	}
	return &MaxPool2D{p}, nil
}

// MaxPool1D is MaxPool2D over sequences laid out (B, C, L) (PyTorch's MaxPool1d).
type MaxPool1D struct{ pool }

// NewMaxPool1D returns a 1-D max pooling layer with a window of size kernel. Options: Stride,
// Padding, SamePadding, Dilation.
func NewMaxPool1D(name string, kernel int, opts ...PoolOption) (*MaxPool1D, error) {
	p, err := newPool(name, maxPool, 1, kernel, opts)
	if err != nil {
		return nil, err
	}
	return &MaxPool1D{p}, nil
}

// AvgPool2D averages each window of each channel of an NCHW image (PyTorch's AvgPool2d):
//
//	y[n, c, i, j] = (1/D) Σ_p Σ_q x[n, c, i·s_h - pad_top + p, j·s_w - pad_left + q]
//
// with padding counting as zeros and D = k_h·k_w, PyTorch's default (count_include_pad); with
// ExcludePadding, D is the number of input elements in the window. The gradient spreads each
// output's gradient evenly, dy/D, over its window. The stride defaults to the kernel size.
type AvgPool2D struct{ pool }

// NewAvgPool2D returns an average pooling layer with a square window of size kernel. Options:
// Stride, Padding, SamePadding, KernelSize, ExcludePadding.
func NewAvgPool2D(name string, kernel int, opts ...PoolOption) (*AvgPool2D, error) {
	p, err := newPool(name, avgPool, 2, kernel, opts)
	if err != nil {
		return nil, err
	}
	return &AvgPool2D{p}, nil
}

// AvgPool1D is AvgPool2D over sequences laid out (B, C, L) (PyTorch's AvgPool1d).
type AvgPool1D struct{ pool }

// NewAvgPool1D returns a 1-D average pooling layer with a window of size kernel. Options:
// Stride, Padding, SamePadding, ExcludePadding.
func NewAvgPool1D(name string, kernel int, opts ...PoolOption) (*AvgPool1D, error) {
	p, err := newPool(name, avgPool, 1, kernel, opts)
	if err != nil {
		return nil, err
	}
	return &AvgPool1D{p}, nil
}

// poolOp is max or average pooling: input x (N, C, H, W), or (N, C, L) with rank 3; output
// (N, C, Ho, Wo). Its attributes, all in its hash: the kind, the window, the rank and, for
// average pooling, whether padding is left out of the divisor.
type poolOp struct {
	pure
	kind       poolKind
	win        window
	rank       int
	excludePad bool
}

func (op poolOp) Arity() int { return 1 }
func (op poolOp) Type() hm.Type {
	t := tensorOf(op.rank)
	return hm.NewFnType(t, t)
}
func (op poolOp) String() string {
	return fmt.Sprintf("%v %dd(%v, exclude padding %v)", op.kind, op.rank-2, op.win, op.excludePad)
}
func (op poolOp) WriteHash(h hash.Hash) {
	fmt.Fprintf(h, "unroll.pool kind=%d rank=%d excludepad=%v %v", op.kind, op.rank, op.excludePad, op.win)
}
func (op poolOp) Hashcode() uint32 { return hashOf(op) }

// poolDims are the sizes of one pooling: planes n·c, input h x w, output ho x wo.
type poolDims struct {
	planes, h, w, ho, wo int
}

func poolSizes(op fmt.Stringer, win window, rank int, xs []int) (poolDims, error) {
	if len(xs) != rank {
		return poolDims{}, fmt.Errorf("%v: input has shape %v", op, tensor.Shape(xs))
	}
	d := poolDims{planes: xs[0] * xs[1]}
	d.h, d.w = spatial(xs)
	var err error
	d.ho, d.wo, err = win.outSize(d.h, d.w, rank == 3)
	return d, err
}

func (d poolDims) shape(xs []int) []int {
	if len(xs) == 3 {
		return []int{xs[0], xs[1], d.wo}
	}
	return []int{xs[0], xs[1], d.ho, d.wo}
}

func (op poolOp) InferShape(in ...gorgonia.DimSizer) (tensor.Shape, error) {
	xs, err := shapeOf(op, in, 0)
	if err != nil {
		return nil, err
	}
	d, err := poolSizes(op, op.win, op.rank, xs)
	if err != nil {
		return nil, err
	}
	return d.shape(xs), nil
}

func (op poolOp) Do(in ...gorgonia.Value) (gorgonia.Value, error) {
	ts, dt, err := denseInputs(op, in, 1)
	if err != nil {
		return nil, err
	}
	xs := ts[0].Shape()
	d, err := poolSizes(op, op.win, op.rank, xs)
	if err != nil {
		return nil, err
	}
	if dt == tensor.Float32 {
		out := newDense[float32](d.shape(xs)...)
		poolForward(op, d, data[float32](ts[0]), data[float32](out))
		return out, nil
	}
	out := newDense[float64](d.shape(xs)...)
	poolForward(op, d, data[float64](ts[0]), data[float64](out))
	return out, nil
}

// windowRange returns the kernel offsets [lo, hi) whose input position
// start + k·dilation lies in [0, size).
func windowRange(start, dilation, kernel, size int) (int, int) {
	return validRange(start, dilation, size, kernel)
}

func poolForward[T float](op poolOp, d poolDims, x, y []T) {
	win := op.win
	negInf := T(math.Inf(-1))
	for pl := 0; pl < d.planes; pl++ {
		xp := x[pl*d.h*d.w : (pl+1)*d.h*d.w]
		yp := y[pl*d.ho*d.wo : (pl+1)*d.ho*d.wo]
		for i := 0; i < d.ho; i++ {
			y0 := i*win.sh - win.pt
			plo, phi := windowRange(y0, win.dh, win.kh, d.h)
			for j := 0; j < d.wo; j++ {
				x0 := j*win.sw - win.pl
				qlo, qhi := windowRange(x0, win.dw, win.kw, d.w)
				if op.kind == maxPool {
					best := negInf
					for p := plo; p < phi; p++ {
						row := xp[(y0+p*win.dh)*d.w:]
						for q := qlo; q < qhi; q++ {
							if v := row[x0+q*win.dw]; v > best || v != v {
								best = v
							}
						}
					}
					yp[i*d.wo+j] = best
					continue
				}
				var s T
				for p := plo; p < phi; p++ {
					row := xp[(y0+p*win.dh)*d.w:]
					for q := qlo; q < qhi; q++ {
						s += row[x0+q*win.dw]
					}
				}
				yp[i*d.wo+j] = s / T(op.divisor(phi-plo, qhi-qlo))
			}
		}
	}
}

// divisor is what an average divides by, given the number of rows and columns of the window
// inside the input.
func (op poolOp) divisor(rows, cols int) int {
	if op.excludePad {
		return max(rows*cols, 1)
	}
	return op.win.kh * op.win.kw
}

func (op poolOp) DiffWRT(int) []bool { return []bool{true} }

func (op poolOp) SymDiff(in gorgonia.Nodes, out, grad *gorgonia.Node) (gorgonia.Nodes, error) {
	if len(in) != 1 {
		return nil, fmt.Errorf("%v: expected 1 input, got %d", op, len(in))
	}
	dx, err := applyOp(poolGradOp{fwd: op}, gradName(out, "x"), in[0], grad)
	if err != nil {
		return nil, err
	}
	return gorgonia.Nodes{dx}, nil
}

// poolGradOp is the gradient of a pooling: inputs x and dy, output dx of x's shape. Max
// pooling finds each window's first maximum again in x and adds dy there; average pooling
// adds dy/D to every input element of the window.
type poolGradOp struct {
	pure
	backwardOnly
	fwd poolOp
}

func (op poolGradOp) Arity() int { return 2 }
func (op poolGradOp) Type() hm.Type {
	t := tensorOf(op.fwd.rank)
	return hm.NewFnType(t, t, t)
}
func (op poolGradOp) String() string { return fmt.Sprintf("d(%v)", op.fwd) }
func (op poolGradOp) WriteHash(h hash.Hash) {
	fmt.Fprint(h, "unroll.pool.dx ")
	op.fwd.WriteHash(h)
}
func (op poolGradOp) Hashcode() uint32 { return hashOf(op) }

func (op poolGradOp) check(xs, dys []int) (poolDims, error) {
	d, err := poolSizes(op, op.fwd.win, op.fwd.rank, xs)
	if err != nil {
		return d, err
	}
	if !tensor.Shape(dys).Eq(tensor.Shape(d.shape(xs))) {
		return d, fmt.Errorf("%v: gradient %v does not match the input %v", op, tensor.Shape(dys), tensor.Shape(xs))
	}
	return d, nil
}

func (op poolGradOp) InferShape(in ...gorgonia.DimSizer) (tensor.Shape, error) {
	xs, err := shapeOf(op, in, 0)
	if err != nil {
		return nil, err
	}
	dys, err := shapeOf(op, in, 1)
	if err != nil {
		return nil, err
	}
	if _, err := op.check(xs, dys); err != nil {
		return nil, err
	}
	return xs.Clone(), nil
}

func (op poolGradOp) Do(in ...gorgonia.Value) (gorgonia.Value, error) {
	ts, dt, err := denseInputs(op, in, 2)
	if err != nil {
		return nil, err
	}
	xs := ts[0].Shape()
	d, err := op.check(xs, ts[1].Shape())
	if err != nil {
		return nil, err
	}
	if dt == tensor.Float32 {
		out := newDense[float32](xs...)
		poolBackward(op.fwd, d, data[float32](ts[0]), data[float32](ts[1]), data[float32](out))
		return out, nil
	}
	out := newDense[float64](xs...)
	poolBackward(op.fwd, d, data[float64](ts[0]), data[float64](ts[1]), data[float64](out))
	return out, nil
}

func poolBackward[T float](op poolOp, d poolDims, x, dy, dx []T) {
	win := op.win
	for pl := 0; pl < d.planes; pl++ {
		xp := x[pl*d.h*d.w : (pl+1)*d.h*d.w]
		dxp := dx[pl*d.h*d.w : (pl+1)*d.h*d.w]
		dyp := dy[pl*d.ho*d.wo : (pl+1)*d.ho*d.wo]
		for i := 0; i < d.ho; i++ {
			y0 := i*win.sh - win.pt
			plo, phi := windowRange(y0, win.dh, win.kh, d.h)
			for j := 0; j < d.wo; j++ {
				x0 := j*win.sw - win.pl
				qlo, qhi := windowRange(x0, win.dw, win.kw, d.w)
				g := dyp[i*d.wo+j]
				if op.kind == maxPool {
					at := -1
					var best T
					for p := plo; p < phi; p++ {
						base := (y0 + p*win.dh) * d.w
						for q := qlo; q < qhi; q++ {
							k := base + x0 + q*win.dw
							if v := xp[k]; at < 0 || v > best || v != v {
								best, at = v, k
							}
						}
					}
					if at >= 0 {
						dxp[at] += g
					}
					continue
				}
				g /= T(op.divisor(phi-plo, qhi-qlo))
				for p := plo; p < phi; p++ {
					row := dxp[(y0+p*win.dh)*d.w:]
					for q := qlo; q < qhi; q++ {
						row[x0+q*win.dw] += g
					}
				}
			}
		}
	}
}

// GlobalAvgPool2D averages each channel of an NCHW image over all its positions:
//
//	y[n, c] = (1/(H·W)) Σ_i Σ_j x[n, c, i, j]
//
// mapping (B, C, H, W) to (B, C), ready for a Dense layer (PyTorch's AdaptiveAvgPool2d(1)
// followed by a flatten). The gradient is dy[n, c]/(H·W) at every position.
type GlobalAvgPool2D struct{ name string }

// NewGlobalAvgPool2D returns a global average pooling layer.
func NewGlobalAvgPool2D(name string) *GlobalAvgPool2D { return &GlobalAvgPool2D{name: name} }

// Name is the layer's name.
func (g *GlobalAvgPool2D) Name() string { return g.name }

// Forward maps x (B, C, H, W) to (B, C).
func (g *GlobalAvgPool2D) Forward(b *graph.Builder, x *gorgonia.Node) (*gorgonia.Node, error) {
	if x == nil {
		return nil, fmt.Errorf("%s: nil input", g.name)
	}
	if x.Dims() != 4 {
		return nil, fmt.Errorf("%s: input must be (batch, channels, height, width), has shape %v", g.name, x.Shape())
	}
	y, err := applyOp(globalAvgOp{}, b.Name(g.name), x)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", g.name, err)
	}
	return y, nil
}

// globalAvgOp averages (N, C, H, W) over H and W, giving (N, C).
type globalAvgOp struct{ pure }

func (op globalAvgOp) Arity() int            { return 1 }
func (op globalAvgOp) Type() hm.Type         { return hm.NewFnType(tensorOf(4), tensorOf(2)) }
func (op globalAvgOp) String() string        { return "global avg pool" }
func (op globalAvgOp) WriteHash(h hash.Hash) { fmt.Fprint(h, "unroll.globalavgpool") }
func (op globalAvgOp) Hashcode() uint32      { return hashOf(op) }
func (op globalAvgOp) DiffWRT(n int) []bool  { return []bool{true} }
func (op globalAvgOp) checkShape(s []int) error {
	if len(s) != 4 {
		return fmt.Errorf("%v: input has shape %v", op, tensor.Shape(s))
	}
	return nil
}

func (op globalAvgOp) InferShape(in ...gorgonia.DimSizer) (tensor.Shape, error) {
	xs, err := shapeOf(op, in, 0)
	if err != nil {
		return nil, err
	}
	if err := op.checkShape(xs); err != nil {
		return nil, err
	}
	return tensor.Shape{xs[0], xs[1]}, nil
}

func (op globalAvgOp) Do(in ...gorgonia.Value) (gorgonia.Value, error) {
	ts, dt, err := denseInputs(op, in, 1)
	if err != nil {
		return nil, err
	}
	xs := ts[0].Shape()
	if err := op.checkShape(xs); err != nil {
		return nil, err
	}
	if dt == tensor.Float32 {
		return globalAvg(data[float32](ts[0]), xs[0], xs[1], xs[2]*xs[3]), nil
	}
	return globalAvg(data[float64](ts[0]), xs[0], xs[1], xs[2]*xs[3]), nil
}

func globalAvg[T float](x []T, n, c, hw int) *tensor.Dense {
	out := newDense[T](n, c)
	y := data[T](out)
	for i := range y {
		var s T
		for _, v := range x[i*hw : (i+1)*hw] {
			s += v
		}
		y[i] = s / T(hw)
	}
	return out
}

func (op globalAvgOp) SymDiff(in gorgonia.Nodes, out, grad *gorgonia.Node) (gorgonia.Nodes, error) {
	if len(in) != 1 || in[0].Dims() != 4 {
		return nil, fmt.Errorf("%v: expected one 4-D input", op)
	}
	s := in[0].Shape()
	dx, err := applyOp(globalAvgGradOp{h: s[2], w: s[3]}, gradName(out, "x"), grad)
	if err != nil {
		return nil, err
	}
	return gorgonia.Nodes{dx}, nil
}

// globalAvgGradOp spreads dy (N, C) evenly over (N, C, h, w).
type globalAvgGradOp struct {
	pure
	backwardOnly
	h, w int
}

func (op globalAvgGradOp) Arity() int    { return 1 }
func (op globalAvgGradOp) Type() hm.Type { return hm.NewFnType(tensorOf(2), tensorOf(4)) }
func (op globalAvgGradOp) String() string {
	return fmt.Sprintf("d(global avg pool %dx%d)", op.h, op.w)
}
func (op globalAvgGradOp) WriteHash(h hash.Hash) {
	fmt.Fprintf(h, "unroll.globalavgpool.dx %dx%d", op.h, op.w)
}
func (op globalAvgGradOp) Hashcode() uint32 { return hashOf(op) }

func (op globalAvgGradOp) InferShape(in ...gorgonia.DimSizer) (tensor.Shape, error) {
	s, err := shapeOf(op, in, 0)
	if err != nil {
		return nil, err
	}
	if len(s) != 2 {
		return nil, fmt.Errorf("%v: gradient has shape %v", op, s)
	}
	return tensor.Shape{s[0], s[1], op.h, op.w}, nil
}

func (op globalAvgGradOp) Do(in ...gorgonia.Value) (gorgonia.Value, error) {
	ts, dt, err := denseInputs(op, in, 1)
	if err != nil {
		return nil, err
	}
	s := ts[0].Shape()
	if len(s) != 2 {
		return nil, fmt.Errorf("%v: gradient has shape %v", op, s)
	}
	if dt == tensor.Float32 {
		return spread(data[float32](ts[0]), s[0], s[1], op.h, op.w), nil
	}
	return spread(data[float64](ts[0]), s[0], s[1], op.h, op.w), nil
}

func spread[T float](dy []T, n, c, h, w int) *tensor.Dense {
	out := newDense[T](n, c, h, w)
	dx := data[T](out)
	hw := h * w
	for i, g := range dy {
		g /= T(hw)
		plane := dx[i*hw : (i+1)*hw]
		for j := range plane {
			plane[j] = g
		}
	}
	return out
}
