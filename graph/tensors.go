package graph

import (
	"fmt"
	"math"

	"github.com/unroll-ml/unroll/internal/compute"
	"gorgonia.org/tensor"
)

// NewTensor returns a dense tensor of dtype (Float32 or Float64) and shape holding vals
// (converted), or zeros when vals is nil.
func NewTensor(dtype tensor.Dtype, shape []int, vals []float64) *tensor.Dense {
	n := 1
	for _, d := range shape {
		n *= d
	}
	var backing any
	if dtype == tensor.Float64 {
		b := make([]float64, n)
		copy(b, vals)
		backing = b
	} else {
		b := make([]float32, n)
		for i, v := range vals {
			b[i] = float32(v)
		}
		backing = b
	}
	return tensor.New(tensor.WithShape(shape...), tensor.WithBacking(backing))
}

// Float64s returns a tensor's values as a new float64 slice (from float32 or float64).
func Float64s(t *tensor.Dense) []float64 {
	switch d := t.Data().(type) {
	case []float64:
		out := make([]float64, len(d))
		copy(out, d)
		return out
	case []float32:
		out := make([]float64, len(d))
		for i, v := range d {
			out[i] = float64(v)
		}
		return out
	case float64:
		return []float64{d}
	case float32:
		return []float64{float64(d)}
	}
	return nil
}

// Convert returns a copy of t with elements of dtype (Float32 or Float64).
func Convert(t *tensor.Dense, dtype tensor.Dtype) *tensor.Dense {
	return NewTensor(dtype, t.Shape().Clone(), Float64s(t))
}

// CopyInto copies src's values into dst in place; shapes must match, dtypes may differ.
func CopyInto(dst, src *tensor.Dense) error {
	if !dst.Shape().Eq(src.Shape()) {
		return fmt.Errorf("shape %v, want %v", src.Shape(), dst.Shape())
	}
	switch d := dst.Data().(type) {
	case []float64:
		return convertInto(d, src)
	case []float32:
		return convertInto(d, src)
	}
	return fmt.Errorf("dtype %v is not float", dst.Dtype())
}

// convertInto copies src's float32 or float64 values into d, converting them.
func convertInto[D float32 | float64](d []D, src *tensor.Dense) error {
	switch s := src.Data().(type) {
	case []float64:
		for i, v := range s {
			d[i] = D(v)
		}
	case []float32:
		for i, v := range s {
			d[i] = D(v)
		}
	default:
		return fmt.Errorf("dtype %v is not float", src.Dtype())
	}
	return nil
}

// Scalar returns the single value of a one-element tensor as float64.
func Scalar(t *tensor.Dense) (float64, error) {
	if t == nil || t.Shape().TotalSize() != 1 {
		return 0, fmt.Errorf("not a one-element tensor")
	}
	return Float64s(t)[0], nil
}

// firstNonFinite returns the index of the first NaN or Inf in a float tensor, or -1; large
// tensors are read on all the threads (compute.FirstNonFinite).
func firstNonFinite(t *tensor.Dense) int {
	switch d := t.Data().(type) {
	case []float32:
		return compute.FirstNonFinite(d)
	case []float64:
		return compute.FirstNonFinite(d)
	case float32:
		if f := float64(d); math.IsNaN(f) || math.IsInf(f, 0) {
			return 0
		}
	case float64:
		if math.IsNaN(d) || math.IsInf(d, 0) {
			return 0
		}
	}
	return -1
}

// cloneDense copies a value out of the VM into a tensor the caller owns, always at least 1-D:
// Gorgonia returns reductions as scalar tensors of shape ().
func cloneDense(v any) (*tensor.Dense, error) {
	switch x := v.(type) {
	case *tensor.Dense:
		c := x.Clone().(*tensor.Dense)
		if c.Shape().IsScalar() {
			c.Reshape(1)
		}
		return c, nil
	case interface{ Data() any }:
		switch d := x.Data().(type) {
		case float64:
			return tensor.New(tensor.WithShape(1), tensor.WithBacking([]float64{d})), nil
		case float32:
			return tensor.New(tensor.WithShape(1), tensor.WithBacking([]float32{d})), nil
		}
	}
	return nil, fmt.Errorf("unsupported value %T", v)
}
