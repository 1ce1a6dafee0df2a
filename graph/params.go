package graph

import (
	"fmt"
	"math/rand/v2"
	"slices"

	"gorgonia.org/tensor"
)

// Params is the ordered set of a model's named values, kept outside any graph: trainable
// parameters (weights, biases) and non-trainable buffers (BatchNorm running statistics). It also
// owns the model's one random source, a seeded PCG, from which initialisers, dropout masks and
// data shuffling draw, so one seed fixes a whole run.
//
// Layers add their parameters when they are constructed; Builder.Param binds a parameter into a
// graph by name, so the same Params serves any number of graphs (training, evaluation with
// another batch size, gradient check). A bound node shares the parameter's tensor: a solver
// update is seen by every graph at once.
type Params struct {
	dtype  tensor.Dtype
	src    *rand.PCG
	rng    *rand.Rand
	noise  *rand.PCG // this rank's own stream for noise inputs in a data-parallel run, or nil
	order  []string
	byName map[string]*Entry
}

// noiseRand is the source noise inputs (dropout masks) are drawn from: the model's, or in a
// data-parallel run the rank's own stream.
func (p *Params) noiseRand() *rand.Rand {
	if p.noise != nil {
		return rand.New(p.noise)
	}
	return p.rng
}

// Entry is one named value in a Params set.
type Entry struct {
	Name      string
	Value     *tensor.Dense
	Trainable bool // false for buffers
}

// ParamsOption configures NewParams.
type ParamsOption func(*Params)

// Seed seeds the random source (a PCG with state (seed, seed)). The default seed is 1.
func Seed(seed uint64) ParamsOption {
	return func(p *Params) { p.src.Seed(seed, seed) }
}

// Dtype sets the element type of every value: tensor.Float32 (the default) or tensor.Float64
// (gradient checks). Any other type is replaced by Float32.
func Dtype(dt tensor.Dtype) ParamsOption {
	return func(p *Params) {
		if dt == tensor.Float64 {
			p.dtype = tensor.Float64
		} else {
			p.dtype = tensor.Float32
		}
	}
}

// NewParams returns an empty set with a seeded random source.
func NewParams(opts ...ParamsOption) *Params {
	src := rand.NewPCG(1, 1)
	p := &Params{dtype: tensor.Float32, src: src, rng: rand.New(src), byName: map[string]*Entry{}}
	for _, o := range opts {
		o(p)
	}
	return p
}

// Dtype is the element type of every value in the set.
func (p *Params) Dtype() tensor.Dtype { return p.dtype }

// Rand is the model's random source. Draw from it only in a fixed order, so that the same seed
// gives the same run.
func (p *Params) Rand() *rand.Rand { return p.rng }

// RandState returns the state of the random source, for checkpoints.
func (p *Params) RandState() ([]byte, error) { return p.src.MarshalBinary() }

// SetRandState restores a state returned by RandState.
func (p *Params) SetRandState(b []byte) error {
	if err := p.src.UnmarshalBinary(b); err != nil {
		return fmt.Errorf("random source state: %w", err)
	}
	return nil
}

// Add creates a trainable parameter of the given shape, filled by init (drawing from the set's
// random source). A name already in the set, an empty name or a non-positive size is an error.
func (p *Params) Add(name string, shape []int, init Init) (*tensor.Dense, error) {
	return p.add(name, shape, init, true)
}

// AddBuffer creates a non-trainable buffer, such as a running mean. Solvers never see it;
// checkpoints save it.
func (p *Params) AddBuffer(name string, shape []int, init Init) (*tensor.Dense, error) {
	return p.add(name, shape, init, false)
}

func (p *Params) add(name string, shape []int, init Init, trainable bool) (*tensor.Dense, error) {
	if name == "" {
		return nil, fmt.Errorf("params: empty name")
	}
	if _, dup := p.byName[name]; dup {
		return nil, fmt.Errorf("params: %q already exists", name)
	}
	if len(shape) == 0 {
		return nil, fmt.Errorf("params: %s: empty shape", name)
	}
	n := 1
	for _, d := range shape {
		if d < 1 {
			return nil, fmt.Errorf("params: %s: shape %v has a size below 1", name, shape)
		}
		n *= d
	}
	if init == nil {
		init = Zeros()
	}
	vals := make([]float64, n)
	init(p.rng, shape, vals)
	t := NewTensor(p.dtype, shape, vals)
	p.byName[name] = &Entry{Name: name, Value: t, Trainable: trainable}
	p.order = append(p.order, name)
	return t, nil
}

// Get returns the named entry, or nil if there is none.
func (p *Params) Get(name string) *Entry { return p.byName[name] }

// Value returns the named value, or nil if there is none.
func (p *Params) Value(name string) *tensor.Dense {
	if e := p.byName[name]; e != nil {
		return e.Value
	}
	return nil
}

// Names lists every entry (parameters and buffers) in the order they were added.
func (p *Params) Names() []string { return slices.Clone(p.order) }

// Entries lists every entry in the order they were added.
func (p *Params) Entries() []*Entry {
	out := make([]*Entry, len(p.order))
	for i, n := range p.order {
		out[i] = p.byName[n]
	}
	return out
}

// Trainable lists the trainable parameters' names in order.
func (p *Params) Trainable() []string {
	var out []string
	for _, n := range p.order {
		if p.byName[n].Trainable {
			out = append(out, n)
		}
	}
	return out
}

// Len is the number of entries.
func (p *Params) Len() int { return len(p.order) }

// Clone returns a deep copy with values converted to dtype (Float32 or Float64) and a copy of
// the random source's state. Gradient checks use it to get a float64 twin of a float32 model.
func (p *Params) Clone(dtype tensor.Dtype) *Params {
	q := NewParams(Dtype(dtype))
	if st, err := p.src.MarshalBinary(); err == nil {
		_ = q.src.UnmarshalBinary(st) // a PCG always reads its own state
	}
	for _, n := range p.order {
		e := p.byName[n]
		q.byName[n] = &Entry{Name: n, Value: Convert(e.Value, q.dtype), Trainable: e.Trainable}
		q.order = append(q.order, n)
	}
	return q
}

// CopyValuesFrom copies every value of src into p (same names and shapes; dtypes may differ).
func (p *Params) CopyValuesFrom(src *Params) error {
	for _, n := range p.order {
		s := src.byName[n]
		if s == nil {
			return fmt.Errorf("params: %s missing from source", n)
		}
		if err := CopyInto(p.byName[n].Value, s.Value); err != nil {
			return fmt.Errorf("params: %s: %w", n, err)
		}
	}
	return nil
}
