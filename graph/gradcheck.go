package graph

import (
	"fmt"
	"math"
	"math/rand/v2"

	"gorgonia.org/gorgonia"
	"gorgonia.org/tensor"
)

// GradReport is the outcome of a gradient check.
type GradReport struct {
	Checked int         // number of elements compared
	Worst   GradElement // the element furthest outside the tolerance (or closest to it)
}

// GradElement is one compared element of a gradient.
type GradElement struct {
	Tensor   string  // parameter or input name
	Index    []int   // position in the tensor
	Analytic float64 // from the symbolic gradient
	Numeric  float64 // from central differences
	AbsErr   float64 // |Analytic - Numeric|
	RelErr   float64 // AbsErr / max(|Analytic|, |Numeric|), 0 when both are 0
	ratio    float64 // AbsErr / (atol + rtol*|Numeric|): above 1 fails
}

func (e GradElement) String() string {
	return fmt.Sprintf("%s%v: analytic %.8g, numeric %.8g, relative error %.3g", e.Tensor, e.Index, e.Analytic, e.Numeric, e.RelErr)
}

// CheckOption configures GradCheck.
type CheckOption func(*checkConfig)

type checkConfig struct {
	inputs     []string
	eps        float64
	atol, rtol float64
	maxPer     int
	mode       Mode
}

// WithRespectTo also checks the gradient with respect to these fed inputs.
func WithRespectTo(inputs ...string) CheckOption {
	return func(c *checkConfig) { c.inputs = append(c.inputs, inputs...) }
}

// Eps sets the finite-difference step (default 1e-6).
func Eps(eps float64) CheckOption { return func(c *checkConfig) { c.eps = eps } }

// Tolerance sets the pass rule |analytic - numeric| <= atol + rtol*|numeric|
// (defaults 1e-6 and 1e-4, stricter than torch.autograd.gradcheck's 1e-5 and 1e-3).
func Tolerance(atol, rtol float64) CheckOption {
	return func(c *checkConfig) { c.atol, c.rtol = atol, rtol }
}

// MaxPerTensor compares at most n elements of each tensor, chosen at random with a fixed seed
// (default 400); 0 compares all.
func MaxPerTensor(n int) CheckOption { return func(c *checkConfig) { c.maxPer = n } }

// CheckMode builds the checked graph in mode m (default Train).
func CheckMode(m Mode) CheckOption { return func(c *checkConfig) { c.mode = m } }

// GradCheck compares the symbolic gradients of a graph with central finite differences in
// float64, as torch.autograd.gradcheck does. build adds the nodes under test to a builder and
// returns one node: a scalar is used as the loss; any other node y is reduced to the loss
// sum(y * R) with a fixed random R, so every element of y's gradient is exercised.
//
// The check runs on a float64 copy of ps (ps itself is not changed) with the given feeds, which
// must feed every input build declares. It compares the gradient of every trainable parameter
// the graph binds, and of the inputs named by WithRespectTo. Noise inputs (dropout masks) are
// drawn once and held fixed. It returns the report, and an error when an element fails the
// tolerance or the graph cannot be built or run.
func GradCheck(ps *Params, build func(b *Builder) (*gorgonia.Node, error), feeds Feeds, opts ...CheckOption) (*GradReport, error) {
	cfg := checkConfig{eps: 1e-6, atol: 1e-6, rtol: 1e-4, maxPer: 400}
	for _, o := range opts {
		o(&cfg)
	}
	ps64 := ps.Clone(tensor.Float64)
	feeds64 := Feeds{}
	for name, v := range feeds {
		if v == nil {
			return nil, fmt.Errorf("gradcheck: input %q: nil value", name)
		}
		feeds64[name] = Convert(v, tensor.Float64)
	}

	// Graph A gives the symbolic gradients; graph B, built the same way over the same
	// parameters, gives the loss at perturbed points.
	bA := NewBuilder(ps64, cfg.mode)
	lossA, proj, err := checkLoss(bA, build)
	if err != nil {
		return nil, err
	}
	bB := NewBuilder(ps64, cfg.mode)
	lossB, _, err := checkLoss(bB, build)
	if err != nil {
		return nil, err
	}
	if proj != nil {
		feeds64[projectionInput] = proj
	}
	fillUnfed(bA, feeds64)
	progA, err := compile(bA, nil, lossA, cfg.inputs, compileConfig{vm: defaultVM})
	if err != nil {
		return nil, fmt.Errorf("gradcheck: %w", err)
	}
	defer progA.Close()
	progB, err := compile(bB, map[string]*gorgonia.Node{"loss": lossB}, nil, nil, compileConfig{vm: defaultVM})
	if err != nil {
		return nil, fmt.Errorf("gradcheck: %w", err)
	}
	defer progB.Close()
	if _, err := progA.run(feeds64, nil); err != nil {
		return nil, fmt.Errorf("gradcheck: %w", err)
	}
	rep, err := checkElements(progA, progB, feeds64, cfg)
	if err != nil {
		return nil, err
	}
	if rep.Worst.ratio > 1 {
		return rep, fmt.Errorf("gradcheck: gradient mismatch at %s", rep.Worst)
	}
	return rep, nil
}

// fillUnfed feeds the noise inputs of b that feeds64 lacks with a fixed draw and its state
// inputs with zeros, so that both graphs of a check see the same values.
func fillUnfed(b *Builder, feeds64 Feeds) {
	draw := rand.New(rand.NewPCG(3, 5))
	for _, in := range b.inputs {
		if _, fed := feeds64[in.name]; fed {
			continue
		}
		switch in.kind {
		case noiseInput:
			v := make([]float64, in.node.Shape().TotalSize())
			in.sampler(draw, v)
			feeds64[in.name] = NewTensor(tensor.Float64, in.node.Shape().Clone(), v)
		case stateInput:
			feeds64[in.name] = NewTensor(tensor.Float64, in.node.Shape().Clone(), nil)
		}
	}
}

// checkElements compares the analytic gradients progA computes with central differences of
// the loss progB computes, element by element (a sample of maxPer per tensor when set).
func checkElements(progA, progB *Program, feeds64 Feeds, cfg checkConfig) (*GradReport, error) {
	lossAt := func() (float64, error) {
		r, err := progB.run(feeds64, progB.outputs)
		if err != nil {
			return 0, fmt.Errorf("gradcheck: %w", err)
		}
		return Float64s(r.outputs["loss"])[0], nil
	}

	rep := &GradReport{Worst: GradElement{ratio: -1}}
	pick := rand.New(rand.NewPCG(11, 13))
	for _, g := range progA.grads {
		var x *tensor.Dense
		if g.param != nil {
			x = g.param.Value
		} else {
			x = feeds64[g.name]
		}
		xs := x.Data().([]float64)
		an := g.value.Data().([]float64)
		idx := make([]int, len(xs))
		for i := range idx {
			idx[i] = i
		}
		if cfg.maxPer > 0 && len(idx) > cfg.maxPer {
			pick.Shuffle(len(idx), func(i, j int) { idx[i], idx[j] = idx[j], idx[i] })
			idx = idx[:cfg.maxPer]
		}
		for _, i := range idx {
			x0 := xs[i]
			xs[i] = x0 + cfg.eps
			lp, err := lossAt()
			if err != nil {
				return nil, err
			}
			xs[i] = x0 - cfg.eps
			lm, err := lossAt()
			xs[i] = x0
			if err != nil {
				return nil, err
			}
			e := compare(an[i], (lp-lm)/(2*cfg.eps), cfg.atol, cfg.rtol)
			e.Tensor = g.name
			e.Index = unravel(i, x.Shape())
			rep.Checked++
			if e.ratio > rep.Worst.ratio {
				rep.Worst = e
			}
		}
	}
	return rep, nil
}

const projectionInput = "gradcheck.projection"

// checkLoss builds the node under test and, when it is not a scalar, reduces it to a scalar
// with a fixed random projection (returned, to be fed).
func checkLoss(b *Builder, build func(b *Builder) (*gorgonia.Node, error)) (*gorgonia.Node, *tensor.Dense, error) {
	y, err := build(b)
	if err != nil {
		return nil, nil, fmt.Errorf("gradcheck: build: %w", err)
	}
	if y == nil {
		return nil, nil, fmt.Errorf("gradcheck: build returned no node")
	}
	if y.IsScalar() {
		return y, nil, nil
	}
	shape := y.Shape().Clone()
	r, err := b.Input(projectionInput, shape...)
	if err != nil {
		return nil, nil, fmt.Errorf("gradcheck: %w", err)
	}
	prod, err := gorgonia.HadamardProd(y, r)
	if err != nil {
		return nil, nil, fmt.Errorf("gradcheck: projection: %w", err)
	}
	loss, err := gorgonia.Sum(prod)
	if err != nil {
		return nil, nil, fmt.Errorf("gradcheck: projection: %w", err)
	}
	rng := rand.New(rand.NewPCG(17, 19))
	vals := make([]float64, shape.TotalSize())
	for i := range vals {
		vals[i] = rng.Float64()*2 - 1
	}
	return loss, NewTensor(tensor.Float64, shape, vals), nil
}

func compare(an, num, atol, rtol float64) GradElement {
	abs := math.Abs(an - num)
	e := GradElement{Analytic: an, Numeric: num, AbsErr: abs, ratio: abs / (atol + rtol*math.Abs(num))}
	if den := math.Max(math.Abs(an), math.Abs(num)); den > 0 {
		e.RelErr = abs / den
	}
	if math.IsNaN(an) || math.IsNaN(num) {
		e.ratio = math.Inf(1)
	}
	return e
}

func unravel(i int, shape tensor.Shape) []int {
	idx := make([]int, len(shape))
	for d := len(shape) - 1; d >= 0; d-- {
		idx[d] = i % shape[d]
		i /= shape[d]
	}
	return idx
}
