package graph

import (
	"math"
	"math/rand/v2"
)

// Init fills dst (a tensor of the given shape, row-major) with initial values drawn from r.
// Initialisers work in float64; Params converts to its dtype, so a float32 and a float64 model
// built with the same seed start from the same numbers (up to rounding).
type Init func(r *rand.Rand, shape []int, dst []float64)

// Fans returns PyTorch's fan-in and fan-out of a weight shape: for (out, in, k...) they are
// in*prod(k) and out*prod(k); for a 1-D shape both are its length.
func Fans(shape []int) (fanIn, fanOut int) {
	if len(shape) == 1 {
		return shape[0], shape[0]
	}
	recept := 1
	for _, d := range shape[2:] {
		recept *= d
	}
	return shape[1] * recept, shape[0] * recept
}

// Zeros fills with 0.
func Zeros() Init { return Constant(0) }

// Constant fills with v.
func Constant(v float64) Init {
	return func(_ *rand.Rand, _ []int, dst []float64) {
		for i := range dst {
			dst[i] = v
		}
	}
}

// Uniform draws from U(lo, hi).
func Uniform(lo, hi float64) Init {
	return func(r *rand.Rand, _ []int, dst []float64) {
		for i := range dst {
			dst[i] = lo + (hi-lo)*r.Float64()
		}
	}
}

// Normal draws from N(mean, std²).
func Normal(mean, std float64) Init {
	return func(r *rand.Rand, _ []int, dst []float64) {
		for i := range dst {
			dst[i] = mean + std*r.NormFloat64()
		}
	}
}

// GlorotUniform (Xavier) draws from U(-a, a) with a = sqrt(6 / (fanIn + fanOut)).
func GlorotUniform() Init {
	return func(r *rand.Rand, shape []int, dst []float64) {
		in, out := Fans(shape)
		a := math.Sqrt(6 / float64(in+out))
		Uniform(-a, a)(r, shape, dst)
	}
}

// GlorotNormal (Xavier) draws from N(0, 2 / (fanIn + fanOut)).
func GlorotNormal() Init {
	return func(r *rand.Rand, shape []int, dst []float64) {
		in, out := Fans(shape)
		Normal(0, math.Sqrt(2/float64(in+out)))(r, shape, dst)
	}
}

// HeUniform (Kaiming, for ReLU) draws from U(-a, a) with a = sqrt(6 / fanIn).
func HeUniform() Init {
	return func(r *rand.Rand, shape []int, dst []float64) {
		in, _ := Fans(shape)
		a := math.Sqrt(6 / float64(in))
		Uniform(-a, a)(r, shape, dst)
	}
}

// HeNormal (Kaiming, for ReLU) draws from N(0, 2 / fanIn).
func HeNormal() Init {
	return func(r *rand.Rand, shape []int, dst []float64) {
		in, _ := Fans(shape)
		Normal(0, math.Sqrt(2/float64(in)))(r, shape, dst)
	}
}

// TorchWeight is PyTorch's default for Linear and Conv weights, kaiming_uniform with
// a = sqrt(5), which is U(-1/sqrt(fanIn), 1/sqrt(fanIn)).
func TorchWeight() Init {
	return func(r *rand.Rand, shape []int, dst []float64) {
		in, _ := Fans(shape)
		a := 1 / math.Sqrt(float64(in))
		Uniform(-a, a)(r, shape, dst)
	}
}

// TorchBias is PyTorch's default for Linear and Conv biases: U(-1/sqrt(fanIn), 1/sqrt(fanIn)),
// where fanIn is the fan-in of the layer's weight.
func TorchBias(fanIn int) Init {
	a := 1 / math.Sqrt(float64(fanIn))
	return Uniform(-a, a)
}

// TorchRNN is PyTorch's default for every weight and bias of RNN, LSTM and GRU cells:
// U(-1/sqrt(hidden), 1/sqrt(hidden)).
func TorchRNN(hidden int) Init {
	a := 1 / math.Sqrt(float64(hidden))
	return Uniform(-a, a)
}
