package nodes

import (
	"fmt"

	"gorgonia.org/gorgonia"
	"gorgonia.org/tensor"

	"github.com/unroll-ml/unroll/graph"
	"github.com/unroll-ml/unroll/nodes/internal/ops"
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

// pool is what the max and average pooling layers share.
type pool struct {
	name       string
	kind       ops.PoolKind
	dims       int // spatial axes: 1 or 2
	spec       windowSpec
	excludePad bool
}

func newPool(name string, kind ops.PoolKind, dims, kernel int, opts []PoolOption) (pool, error) {
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
	if kind == ops.AvgPool && (spec.DH > 1 || spec.DW > 1) {
		return pool{}, fmt.Errorf("%s: average pooling takes no dilation, got %s", name, sizes(cfg.dilation))
	}
	if kind == ops.MaxPool && cfg.excludePad {
		return pool{}, fmt.Errorf("%s: ExcludePadding applies to average pooling only", name)
	}
	if err := checkPoolPad(spec.Window); err != nil {
		return pool{}, fmt.Errorf("%s: %w", name, err)
	}
	return pool{name: name, kind: kind, dims: dims, spec: spec, excludePad: cfg.excludePad}, nil
}

// checkPoolPad refuses padding above half the kernel size, as PyTorch does: a window could
// then hold padding only.
func checkPoolPad(w ops.Window) error {
	if w.PT > w.KH/2 || w.PB > w.KH/2 || w.PL > w.KW/2 || w.PR > w.KW/2 {
		return fmt.Errorf("padding (%d, %d, %d, %d) is more than half the kernel %dx%d", w.PT, w.PB, w.PL, w.PR, w.KH, w.KW)
	}
	return nil
}

// Name is the layer's name.
func (p *pool) Name() string { return p.name }

func (p *pool) geometry(x []int) (ops.Window, []int, error) {
	if p.dims == 1 && len(x) != 3 {
		return ops.Window{}, nil, fmt.Errorf("%s: input must be (batch, channels, length), has shape %v", p.name, tensor.Shape(x))
	}
	if p.dims == 2 && len(x) != 4 {
		return ops.Window{}, nil, fmt.Errorf("%s: input must be (batch, channels, height, width), has shape %v", p.name, tensor.Shape(x))
	}
	h, w := spatialOf(x)
	win := p.spec.resolve(h, w)
	if err := checkPoolPad(win); err != nil {
		return ops.Window{}, nil, fmt.Errorf("%s: %w", p.name, err)
	}
	ho, wo, err := win.OutSize(h, w, p.dims == 1)
	if err != nil {
		return ops.Window{}, nil, fmt.Errorf("%s: %w", p.name, err)
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
	y, err := ops.PoolFused(p.kind, win, p.dims+2, p.excludePad, !b.Training(), b.Name(p.name), x)
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
	p, err := newPool(name, ops.MaxPool, 2, kernel, opts)
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
	p, err := newPool(name, ops.MaxPool, 1, kernel, opts)
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
	p, err := newPool(name, ops.AvgPool, 2, kernel, opts)
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
	p, err := newPool(name, ops.AvgPool, 1, kernel, opts)
	if err != nil {
		return nil, err
	}
	return &AvgPool1D{p}, nil
}

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
	y, err := ops.GlobalAvgPool(b.Name(g.name), x)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", g.name, err)
	}
	return y, nil
}

// spatialOf reads (h, w) from an NCHW shape, or (1, L) from an NCL shape.
func spatialOf(s []int) (int, int) {
	if len(s) == 3 {
		return 1, s[2]
	}
	return s[2], s[3]
}
