package nodes

import (
	"fmt"
	"math"

	"gorgonia.org/gorgonia"

	"github.com/unroll-ml/unroll/graph"
	"github.com/unroll-ml/unroll/nodes/internal/ops"
)

// BatchNormOption configures NewBatchNorm2D and NewBatchNorm1D: Momentum, Epsilon.
type BatchNormOption func(*bnConfig)

type bnConfig struct {
	momentum, eps float64
}

// Momentum sets the weight of the current batch in the running statistics (PyTorch's
// momentum, default 0.1), in [0, 1].
func Momentum(m float64) BatchNormOption { return func(c *bnConfig) { c.momentum = m } }

// Epsilon sets the value added to the variance before its square root (default 1e-5).
func Epsilon(eps float64) BatchNormOption { return func(c *bnConfig) { c.eps = eps } }

// batchNorm is what BatchNorm2D and BatchNorm1D share.
type batchNorm struct {
	name          string
	dims          int // 2 for images (N, C, H, W); 1 for (N, C) or (N, C, L)
	channels      int
	momentum, eps float64
}

func newBatchNorm(ps *graph.Params, name string, dims, channels int, opts []BatchNormOption) (batchNorm, error) {
	if channels < 1 {
		return batchNorm{}, fmt.Errorf("%s: channels must be positive, got %d", name, channels)
	}
	cfg := bnConfig{momentum: 0.1, eps: 1e-5}
	for _, o := range opts {
		if o != nil {
			o(&cfg)
		}
	}
	if !(cfg.momentum >= 0 && cfg.momentum <= 1) {
		return batchNorm{}, fmt.Errorf("%s: momentum must be in [0, 1], got %v", name, cfg.momentum)
	}
	if !(cfg.eps > 0) || math.IsInf(cfg.eps, 1) {
		return batchNorm{}, fmt.Errorf("%s: epsilon must be a positive number, got %v", name, cfg.eps)
	}
	shape := []int{channels}
	for _, p := range []struct {
		suffix string
		init   graph.Init
		buffer bool
	}{
		{".weight", graph.Constant(1), false},
		{".bias", graph.Zeros(), false},
		{".running_mean", graph.Zeros(), true},
		{".running_var", graph.Constant(1), true},
	} {
		var err error
		if p.buffer {
			_, err = ps.AddBuffer(name+p.suffix, shape, p.init)
		} else {
			_, err = ps.Add(name+p.suffix, shape, p.init)
		}
		if err != nil {
			return batchNorm{}, fmt.Errorf("%s: %w", name, err)
		}
	}
	return batchNorm{name: name, dims: dims, channels: channels, momentum: cfg.momentum, eps: cfg.eps}, nil
}

// Name is the layer's name, the prefix of its parameters and buffers.
func (bn *batchNorm) Name() string { return bn.name }

// Forward normalises x with the batch's statistics in a training graph (and updates the
// running statistics after each run), with the running statistics in an evaluation graph.
func (bn *batchNorm) Forward(b *graph.Builder, x *gorgonia.Node) (*gorgonia.Node, error) {
	if x == nil {
		return nil, fmt.Errorf("%s: nil input", bn.name)
	}
	s := x.Shape()
	switch {
	case bn.dims == 2 && len(s) != 4:
		return nil, fmt.Errorf("%s: input must be (batch, channels, height, width), has shape %v", bn.name, s)
	case bn.dims == 1 && len(s) != 2 && len(s) != 3:
		return nil, fmt.Errorf("%s: input must be (batch, channels) or (batch, channels, length), has shape %v", bn.name, s)
	case s[1] != bn.channels:
		return nil, fmt.Errorf("%s: expects %d channels, input has %d", bn.name, bn.channels, s[1])
	}
	train := b.Training()
	if values := s.TotalSize() / s[1]; train && values < 2 {
		return nil, fmt.Errorf("%s: training needs more than 1 value per channel, input has shape %v", bn.name, s)
	}
	var ns [4]*gorgonia.Node // weight, bias, running_mean, running_var
	for i, suffix := range []string{".weight", ".bias", ".running_mean", ".running_var"} {
		var err error
		if i < 2 {
			ns[i], err = b.Param(bn.name + suffix)
		} else {
			ns[i], err = b.Buffer(bn.name + suffix)
		}
		if err != nil {
			return nil, fmt.Errorf("%s: %w", bn.name, err)
		}
	}
	y, err := ops.BatchNorm(train, bn.eps, b.Name(bn.name), x, ns[0], ns[1], ns[2], ns[3])
	if err != nil {
		return nil, fmt.Errorf("%s: %w", bn.name, err)
	}
	if !train {
		return y, nil
	}
	for i, suffix := range []string{".running_mean", ".running_var"} {
		next, err := ops.RunningStat(i == 1, bn.momentum, b.Name(bn.name+suffix+".next"), x, ns[2+i])
		if err != nil {
			return nil, fmt.Errorf("%s: %w", bn.name, err)
		}
		if err := b.UpdateBuffer(bn.name+suffix, next); err != nil {
			return nil, fmt.Errorf("%s: %w", bn.name, err)
		}
	}
	return y, nil
}

// BatchNorm2D normalises each channel of NCHW images (PyTorch's BatchNorm2d). In training,
// over the M = B·H·W values of channel c in the batch,
//
//	μ_c = (1/M) Σ x,   σ²_c = (1/M) Σ (x - μ_c)²,   x̂ = (x - μ_c) / sqrt(σ²_c + ε),   y = γ_c x̂ + β_c
//
// and after each training run the running statistics move towards the batch's:
//
//	running_mean ← (1 - m)·running_mean + m·μ_c
//	running_var  ← (1 - m)·running_var  + m·σ²_c·M/(M - 1)   (the unbiased variance)
//
// with momentum m = 0.1 and ε = 1e-5 by default, as in PyTorch. In evaluation the running
// statistics replace μ and σ². The gradients in training, with g = dy:
//
//	dγ_c = Σ g·x̂,   dβ_c = Σ g,   dx = γ_c / (M·sqrt(σ²_c + ε)) · (M·g - Σ g - x̂·Σ g·x̂)
//
// Parameters "<name>.weight" (γ, ones) and "<name>.bias" (β, zeros), shape (C); buffers
// "<name>.running_mean" (zeros) and "<name>.running_var" (ones), saved in checkpoints.
// Gorgonia's own BatchNorm keeps its statistics inside the op, where an evaluation graph
// never sees them; these live in the model's Params.
type BatchNorm2D struct{ batchNorm }

// NewBatchNorm2D returns a batch normalisation of channels channels. Options: Momentum,
// Epsilon.
func NewBatchNorm2D(ps *graph.Params, name string, channels int, opts ...BatchNormOption) (*BatchNorm2D, error) {
	bn, err := newBatchNorm(ps, name, 2, channels, opts)
	if err != nil {
		return nil, err
	}
	return &BatchNorm2D{bn}, nil
}

// BatchNorm1D is BatchNorm2D for inputs (B, C), normalised over the batch, or (B, C, L),
// normalised over the batch and the positions (PyTorch's BatchNorm1d).
type BatchNorm1D struct{ batchNorm }

// NewBatchNorm1D returns a batch normalisation of channels features. Options: Momentum,
// Epsilon.
func NewBatchNorm1D(ps *graph.Params, name string, channels int, opts ...BatchNormOption) (*BatchNorm1D, error) {
	bn, err := newBatchNorm(ps, name, 1, channels, opts)
	if err != nil {
		return nil, err
	}
	return &BatchNorm1D{bn}, nil
}
