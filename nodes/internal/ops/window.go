package ops

import "fmt"

// OutputSize is the length of a convolution's output along one axis (pooling uses the same
// rule), as PyTorch computes it:
//
//	out = floor((in + padBefore + padAfter - dilation·(kernel-1) - 1) / stride) + 1
//
// dilation·(kernel-1) + 1 is the span of the dilated kernel. With no padding, stride 1 and
// dilation 1 this is in - kernel + 1: a 28x28 input and a 3x3 kernel give 26x26. A size,
// stride or dilation below 1, a negative padding, or a kernel that spans more than the padded
// input is an error.
func OutputSize(in, kernel, stride, padBefore, padAfter, dilation int) (int, error) {
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

// Window is the geometry of a Window sliding over the two spatial axes of an NCHW tensor
// (a convolution's kernel or a pooling Window). A 1-D Window has kh = 1 and works on H = 1.
type Window struct {
	KH, KW         int // kernel size
	SH, SW         int // stride
	PT, PB, PL, PR int // padding: top, bottom, left, right
	DH, DW         int // dilation
}

func (w Window) String() string {
	return fmt.Sprintf("kernel %dx%d stride (%d, %d) padding (%d, %d, %d, %d) dilation (%d, %d)",
		w.KH, w.KW, w.SH, w.SW, w.PT, w.PB, w.PL, w.PR, w.DH, w.DW)
}

// OutSize is the output size for an h x w input, or an error naming the numbers.
func (w Window) OutSize(h, wd int, oneD bool) (int, int, error) {
	ho, errH := OutputSize(h, w.KH, w.SH, w.PT, w.PB, w.DH)
	wo, errW := OutputSize(wd, w.KW, w.SW, w.PL, w.PR, w.DW)
	if errH == nil && errW == nil {
		return ho, wo, nil
	}
	if oneD {
		return 0, 0, errW
	}
	spanH, spanW := w.DH*(w.KH-1)+1, w.DW*(w.KW-1)+1
	ph, pw := h+w.PT+w.PB, wd+w.PL+w.PR
	if spanH > ph || spanW > pw {
		if w.DH > 1 || w.DW > 1 {
			return 0, 0, fmt.Errorf("kernel %dx%d (spanning %dx%d with dilation (%d, %d)) is larger than the padded input %dx%d",
				w.KH, w.KW, spanH, spanW, w.DH, w.DW, ph, pw)
		}
		return 0, 0, fmt.Errorf("kernel %dx%d is larger than the padded input %dx%d", w.KH, w.KW, ph, pw)
	}
	if errH != nil {
		return 0, 0, errH
	}
	return 0, 0, errW
}

// SamePad returns the padding (before, after) that makes out = ceil(in/stride): the total
// max((out-1)·stride + span - in, 0), split with the odd element after (TensorFlow's "SAME";
// for stride 1 it is PyTorch's padding="same").
func SamePad(in, kernel, stride, dilation int) (int, int) {
	out := (in + stride - 1) / stride
	total := max((out-1)*stride+dilation*(kernel-1)+1-in, 0)
	return total / 2, total - total/2
}

// windowSpec is a Window as the options gave it, before "same" padding is resolved for an
