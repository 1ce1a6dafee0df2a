package nodes

import (
	"fmt"

	"github.com/unroll-ml/unroll/nodes/internal/ops"
)

// input size.
type windowSpec struct {
	ops.Window
	same bool
}

// resolve fixes the padding for an h x w input.
func (s windowSpec) resolve(h, w int) ops.Window {
	win := s.Window
	if s.same {
		win.PT, win.PB = ops.SamePad(h, win.KH, win.SH, win.DH)
		win.PL, win.PR = ops.SamePad(w, win.KW, win.SW, win.DW)
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

// SamePadding pads so that the output size is ceil(input size / stride): TensorFlow's padding
// "SAME". The total padding along an axis is max((out-1)·stride + dilation·(kernel-1) + 1 - in,
// 0); when it is odd, the extra element goes after (bottom, right). With stride 1 the output
// has the input's size and this is also PyTorch's padding="same"; PyTorch refuses "same" for
// a stride above 1, so with stride 2 or more only TensorFlow's definition applies.
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
	s.KH, s.KW = kernel, kernel
	if dims == 1 {
		s.KH = 1
	}
	if c.kernel != nil {
		if dims == 1 {
			return s, fmt.Errorf("a 1-D layer takes one kernel size, got KernelSize%v", sizes(c.kernel))
		}
		if c.kernel[0] < 1 || c.kernel[1] < 1 {
			return s, fmt.Errorf("kernel size must be positive, got %dx%d", c.kernel[0], c.kernel[1])
		}
		s.KH, s.KW = c.kernel[0], c.kernel[1]
	}

	var err error
	if len(c.stride) == 0 && strideIsKernel {
		s.SH, s.SW = s.KH, s.KW
	} else if s.SH, s.SW, err = axisPair("stride", c.stride, dims); err != nil {
		return s, err
	}
	if s.DH, s.DW, err = axisPair("dilation", c.dilation, dims); err != nil {
		return s, err
	}

	p := c.padding
	switch {
	case len(p) == 0:
	case c.same:
		return s, fmt.Errorf("padding %s and same padding are both given", sizes(p))
	case len(p) == 1 && dims == 1:
		s.PL, s.PR = p[0], p[0]
	case len(p) == 2 && dims == 1:
		s.PL, s.PR = p[0], p[1]
	case len(p) == 1:
		s.PT, s.PB, s.PL, s.PR = p[0], p[0], p[0], p[0]
	case len(p) == 2:
		s.PT, s.PB, s.PL, s.PR = p[0], p[0], p[1], p[1]
	case len(p) == 4:
		s.PT, s.PB, s.PL, s.PR = p[0], p[1], p[2], p[3]
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

// axisPair reads a stride or dilation option of a layer with dims spatial axes: none (1, 1),
// one value for every axis, or one an axis; a 1-D layer's one value is its width's.
func axisPair(what string, v []int, dims int) (h, w int, err error) {
	h, w = 1, 1
	switch {
	case len(v) == 0:
	case len(v) == 1 && dims == 1:
		w = v[0]
	case len(v) == 1:
		h, w = v[0], v[0]
	case len(v) == 2 && dims == 2:
		h, w = v[0], v[1]
	default:
		return 0, 0, fmt.Errorf("%s takes %s, got %d: %s", what, valueCounts(dims, false), len(v), sizes(v))
	}
	if h < 1 || w < 1 {
		return 0, 0, fmt.Errorf("%s must be at least 1, got %s", what, sizes(v))
	}
	return h, w, nil
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
