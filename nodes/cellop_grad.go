package nodes

import (
	"fmt"
	"hash"

	"github.com/chewxy/hm"
	"gorgonia.org/gorgonia"
	"gorgonia.org/tensor"
)

// The backward ops of the fused cells (see cellop.go).

// cellGradOp is the backward of one cellStepOp, fwd, whose reserve it reads. Inputs: x, h, [c],
// W_ih, W_hh, the step's output and the gradient of the output. Output, flat:
// [dx | dh | dc (LSTM) | dG_i | dG_h (GRU)].
type cellGradOp struct {
	cellDims
	fwd *cellStepOp
}

// size is the length of the packed gradient vector.
func (op *cellGradOp) size() int {
	B, G := op.batch, op.kind.gates()*op.hidden
	n := B*op.in + op.states()*B*op.hidden + B*G
	if op.kind == cellGRU {
		n += B * G
	}
	return n
}

func (op *cellGradOp) Arity() int { return op.states() + 5 }

func (op *cellGradOp) Type() hm.Type {
	a := hm.TypeVariable('a')
	m := gorgonia.TensorType{Dims: 2, Of: a}
	ts := make([]hm.Type, op.Arity(), op.Arity()+1)
	for i := range ts {
		ts[i] = m
	}
	return hm.NewFnType(append(ts, gorgonia.TensorType{Dims: 1, Of: a})...)
}

// argShapes are the shapes of the backward op's inputs.
func (op *cellGradOp) argShapes() []tensor.Shape {
	s := op.inputShapes()
	s = s[:len(s)-2]
	return append(s, op.outShape(), op.outShape())
}

func (op *cellGradOp) InferShape(ds ...gorgonia.DimSizer) (tensor.Shape, error) {
	if err := checkCellShapes(op, op.argShapes(), ds); err != nil {
		return nil, err
	}
	return tensor.Shape{op.size()}, nil
}

func (op *cellGradOp) ReturnsPtr() bool      { return false }
func (op *cellGradOp) CallsExtern() bool     { return false }
func (op *cellGradOp) OverwritesInput() int  { return -1 }
func (op *cellGradOp) WriteHash(h hash.Hash) { op.writeHash(h, "cellGrad") }
func (op *cellGradOp) Hashcode() uint32      { return cellHash(op) }
func (op *cellGradOp) String() string {
	return fmt.Sprintf("%vStepGrad(b=%d, in=%d, h=%d)", op.kind, op.batch, op.in, op.hidden)
}

func (op *cellGradOp) Do(vs ...gorgonia.Value) (gorgonia.Value, error) {
	dt, err := cellDtype(op, vs, op.Arity())
	if err != nil {
		return nil, err
	}
	return op.DoInto(tensor.New(tensor.Of(dt), tensor.WithShape(op.size())), vs...)
}

// DoInto computes the packed gradients into out, a vector of op.size() elements.
func (op *cellGradOp) DoInto(out *tensor.Dense, vs ...gorgonia.Value) (gorgonia.Value, error) {
	if err := checkCellValues(op, op.argShapes(), vs, out, tensor.Shape{op.size()}); err != nil {
		return nil, err
	}
	switch o := out.Data().(type) {
	case []float32:
		in, err := cellSlices[float32](op, vs)
		if err != nil {
			return nil, err
		}
		cellBackward(op.cellDims, o, in, cellReserve[float32](op.fwd))
	case []float64:
		in, err := cellSlices[float64](op, vs)
		if err != nil {
			return nil, err
		}
		cellBackward(op.cellDims, o, in, cellReserve[float64](op.fwd))
	default:
		return nil, fmt.Errorf("%v: unsupported dtype %v", op, out.Dtype())
	}
	return out, nil
}

// cellChainGradOp computes the weight gradients of a chain of steps. Inputs, for each step:
// its cellGradOp output, its input x (B, In) and its state input h (B, H). Output, flat:
// [dW_ih (G·H·In) | dW_hh (G·H·H) | db_ih (G·H) | db_hh (G·H)], with
//
//	dW_ih = Σ_t dG_i,tᵀ x_t,   dW_hh = Σ_t dG_h,tᵀ h_t,   db_ih = Σ_t Σ_b dG_i,t,   db_hh = Σ_t Σ_b dG_h,t
//
// each computed as one matrix product over the stacked steps (inner dimension steps·B).
type cellChainGradOp struct {
	cellDims
	steps int
	// scratch for the stacked operands, kept between runs (one op per node, run by one
	// program at a time).
	f32 [4][]float32
	f64 [4][]float64
}

func (op *cellChainGradOp) size() int {
	G := op.kind.gates() * op.hidden
	return G*op.in + G*op.hidden + 2*G
}

func (op *cellChainGradOp) Arity() int { return 3 * op.steps }

func (op *cellChainGradOp) Type() hm.Type {
	a := hm.TypeVariable('a')
	v := gorgonia.TensorType{Dims: 1, Of: a}
	m := gorgonia.TensorType{Dims: 2, Of: a}
	ts := make([]hm.Type, 0, op.Arity()+1)
	for i := 0; i < op.steps; i++ {
		ts = append(ts, v, m, m)
	}
	return hm.NewFnType(append(ts, v)...)
}

func (op *cellChainGradOp) argShapes() []tensor.Shape {
	bw := tensor.Shape{(&cellGradOp{cellDims: op.cellDims}).size()}
	var s []tensor.Shape
	for i := 0; i < op.steps; i++ {
		s = append(s, bw, tensor.Shape{op.batch, op.in}, tensor.Shape{op.batch, op.hidden})
	}
	return s
}

func (op *cellChainGradOp) InferShape(ds ...gorgonia.DimSizer) (tensor.Shape, error) {
	if err := checkCellShapes(op, op.argShapes(), ds); err != nil {
		return nil, err
	}
	return tensor.Shape{op.size()}, nil
}

func (op *cellChainGradOp) ReturnsPtr() bool     { return false }
func (op *cellChainGradOp) CallsExtern() bool    { return false }
func (op *cellChainGradOp) OverwritesInput() int { return -1 }
func (op *cellChainGradOp) WriteHash(h hash.Hash) {
	op.writeHash(h, "cellChainGrad")
	fmt.Fprintf(h, "×%d", op.steps)
}
func (op *cellChainGradOp) Hashcode() uint32 { return cellHash(op) }
func (op *cellChainGradOp) String() string {
	return fmt.Sprintf("%vWeightGrad(%d steps, b=%d, in=%d, h=%d)", op.kind, op.steps, op.batch, op.in, op.hidden)
}

func (op *cellChainGradOp) Do(vs ...gorgonia.Value) (gorgonia.Value, error) {
	dt, err := cellDtype(op, vs, op.Arity())
	if err != nil {
		return nil, err
	}
	return op.DoInto(tensor.New(tensor.Of(dt), tensor.WithShape(op.size())), vs...)
}

// DoInto computes the weight gradients into out, a vector of op.size() elements.
func (op *cellChainGradOp) DoInto(out *tensor.Dense, vs ...gorgonia.Value) (gorgonia.Value, error) {
	if err := checkCellValues(op, op.argShapes(), vs, out, tensor.Shape{op.size()}); err != nil {
		return nil, err
	}
	switch o := out.Data().(type) {
	case []float32:
		in, err := cellSlices[float32](op, vs)
		if err != nil {
			return nil, err
		}
		cellWeightGrads(op.cellDims, op.steps, o, in, &op.f32)
	case []float64:
		in, err := cellSlices[float64](op, vs)
		if err != nil {
			return nil, err
		}
		cellWeightGrads(op.cellDims, op.steps, o, in, &op.f64)
	default:
		return nil, fmt.Errorf("%v: unsupported dtype %v", op, out.Dtype())
	}
	return out, nil
}

// cellWeightGrads stacks the steps' dG_i, dG_h, x and h into (steps·B)-row matrices (in
// scratch) and computes the weight gradients into res.
func cellWeightGrads[T cellFloat](d cellDims, steps int, res []T, in [][]T, scratch *[4][]T) {
	B, I, H := d.batch, d.in, d.hidden
	G := d.kind.gates() * H
	N := steps * B
	grow := func(i, n int) []T {
		if cap(scratch[i]) < n {
			scratch[i] = make([]T, n)
		}
		return scratch[i][:n]
	}
	dgi, xs, hs := grow(0, N*G), grow(1, N*I), grow(2, N*H)
	dgh := dgi
	if d.kind == cellGRU {
		dgh = grow(3, N*G)
	}
	off := B*I + d.states()*B*H // where dG_i starts in a step's packed gradient
	for t := 0; t < steps; t++ {
		bw, x, h := in[3*t], in[3*t+1], in[3*t+2]
		copy(dgi[t*B*G:(t+1)*B*G], bw[off:off+B*G])
		if d.kind == cellGRU {
			copy(dgh[t*B*G:(t+1)*B*G], bw[off+B*G:off+2*B*G])
		}
		copy(xs[t*B*I:(t+1)*B*I], x)
		copy(hs[t*B*H:(t+1)*B*H], h)
	}
	dwih, dwhh := res[:G*I], res[G*I:G*I+G*H]
	dbih, dbhh := res[G*I+G*H:G*I+G*H+G], res[G*I+G*H+G:]
	cellGemm(true, false, G, I, N, dgi, G, xs, I, false, dwih, I)
	cellGemm(true, false, G, H, N, dgh, G, hs, H, false, dwhh, H)
	cellColSums(dbih, dgi, N, G)
	cellColSums(dbhh, dgh, N, G)
}

// cellColSums writes the column sums of the (rows, cols) matrix m into dst, summing in float64.
func cellColSums[T cellFloat](dst, m []T, rows, cols int) {
	acc := make([]float64, cols)
	for r := 0; r < rows; r++ {
		row := m[r*cols : (r+1)*cols]
		for j, v := range row {
			acc[j] += float64(v)
		}
	}
	for j, v := range acc {
		dst[j] = T(v)
	}
}

// cellPartOp copies elements [offset, offset+size(shape)) of a flat vector of total elements
// into a tensor of the given shape: it cuts a packed gradient into its parts.
type cellPartOp struct {
	offset, total int
	shape         tensor.Shape
}

func (op *cellPartOp) Arity() int { return 1 }
func (op *cellPartOp) Type() hm.Type {
	a := hm.TypeVariable('a')
	return hm.NewFnType(gorgonia.TensorType{Dims: 1, Of: a}, gorgonia.TensorType{Dims: len(op.shape), Of: a})
}
func (op *cellPartOp) InferShape(ds ...gorgonia.DimSizer) (tensor.Shape, error) {
	if err := checkCellShapes(op, []tensor.Shape{{op.total}}, ds); err != nil {
		return nil, err
	}
	return op.shape.Clone(), nil
}
func (op *cellPartOp) ReturnsPtr() bool     { return false }
func (op *cellPartOp) CallsExtern() bool    { return false }
func (op *cellPartOp) OverwritesInput() int { return -1 }
func (op *cellPartOp) WriteHash(h hash.Hash) {
	fmt.Fprintf(h, "cellPart{%d of %d as %v}", op.offset, op.total, op.shape)
}
func (op *cellPartOp) Hashcode() uint32 { return cellHash(op) }
func (op *cellPartOp) String() string {
	return fmt.Sprintf("part(%d:%d as %v)", op.offset, op.offset+op.shape.TotalSize(), op.shape)
}

func (op *cellPartOp) Do(vs ...gorgonia.Value) (gorgonia.Value, error) {
	dt, err := cellDtype(op, vs, 1)
	if err != nil {
		return nil, err
	}
	return op.DoInto(tensor.New(tensor.Of(dt), tensor.WithShape(op.shape...)), vs...)
}

// DoInto copies the part into out, a tensor of op's shape.
func (op *cellPartOp) DoInto(out *tensor.Dense, vs ...gorgonia.Value) (gorgonia.Value, error) {
	if err := checkCellValues(op, []tensor.Shape{{op.total}}, vs, out, op.shape); err != nil {
		return nil, err
	}
	n := op.shape.TotalSize()
	switch o := out.Data().(type) {
	case []float32:
		in, err := cellSlices[float32](op, vs)
		if err != nil {
			return nil, err
		}
		copy(o, in[0][op.offset:op.offset+n])
	case []float64:
		in, err := cellSlices[float64](op, vs)
		if err != nil {
			return nil, err
		}
		copy(o, in[0][op.offset:op.offset+n])
	default:
		return nil, fmt.Errorf("%v: unsupported dtype %v", op, out.Dtype())
	}
	return out, nil
}

// cellBackward computes one step's packed gradients into res; in holds x, h, [c], W_ih,
// W_hh, the step's output and its gradient, and gates the reserve of its forward run.
func cellBackward[T cellFloat](d cellDims, res []T, in [][]T, gates []T) {
	B, I, H := d.batch, d.in, d.hidden
	G := d.kind.gates() * H
	h := in[1]
	k := 2
	var c []T
	if d.kind.hasCell() {
		c = in[2]
		k = 3
	}
	wih, whh, out, gout := in[k], in[k+1], in[k+2], in[k+3]

	off := 0
	next := func(n int) []T {
		s := res[off : off+n]
		off += n
		return s
	}
	dx, dh := next(B*I), next(B*H)
	var dc []T
	if d.kind.hasCell() {
		dc = next(B * H)
	}
	// dgi and dgh are the gradients of the pre-activations x W_ihᵀ + b_ih and
	// h W_hhᵀ + b_hh, (B, G); they are the same except in the GRU.
	dgi := next(B * G)
	dgh := dgi
	if d.kind == cellGRU {
		dgh = next(B * G)
	}
	switch d.kind {
	case cellRNNTanh:
		for i, v := range out {
			dgi[i] = gout[i] * (1 - v*v)
		}
	case cellRNNReLU:
		for i, v := range out {
			if v > 0 {
				dgi[i] = gout[i]
			} else {
				dgi[i] = 0
			}
		}
	case cellLSTM:
		for b := 0; b < B; b++ {
			g4 := gates[b*G : (b+1)*G]
			ig, fg, gg, og := g4[:H], g4[H:2*H], g4[2*H:3*H], g4[3*H:]
			dhn, dcn := gout[b*2*H:b*2*H+H], gout[b*2*H+H:(b+1)*2*H]
			cp := c[b*H : b*H+H]
			dg := dgi[b*G : b*G+G]
			dcp := dc[b*H : b*H+H]
			copy(dcp, out[b*2*H+H:(b+1)*2*H]) // tanh(c') first, overwritten by dc element by element
			cellTanhs(dcp)
			for j := 0; j < H; j++ {
				i, f, g, o := float64(ig[j]), float64(fg[j]), float64(gg[j]), float64(og[j])
				tc := float64(dcp[j])
				dho := float64(dhn[j])
				dct := float64(dcn[j]) + dho*o*(1-tc*tc) // ∂/∂c' through c' and h'
				dg[j] = T(dct * g * i * (1 - i))
				dg[H+j] = T(dct * float64(cp[j]) * f * (1 - f))
				dg[2*H+j] = T(dct * i * (1 - g*g))
				dg[3*H+j] = T(dho * tc * o * (1 - o))
				dcp[j] = T(dct * f)
			}
		}
	case cellGRU:
		R := 4 * H
		for b := 0; b < B; b++ {
			row := gates[b*R : (b+1)*R]
			rg, zg, ng, hg := row[:H], row[H:2*H], row[2*H:3*H], row[3*H:]
			grow := gout[b*H : (b+1)*H]
			hp := h[b*H : b*H+H]
			dgib, dghb := dgi[b*G:b*G+G], dgh[b*G:b*G+G]
			dhp := dh[b*H : b*H+H]
			for j := 0; j < H; j++ {
				r, z, n, hnv := float64(rg[j]), float64(zg[j]), float64(ng[j]), float64(hg[j])
				dho := float64(grow[j])
				dn := dho * (1 - z) * (1 - n*n) // gradient of n's pre-activation
				dz := dho * (float64(hp[j]) - n) * z * (1 - z)
				dr := dn * hnv * r * (1 - r)
				dgib[j], dgib[H+j], dgib[2*H+j] = T(dr), T(dz), T(dn)
				dghb[j], dghb[H+j], dghb[2*H+j] = T(dr), T(dz), T(dn*r)
				dhp[j] = T(dho * z) // the direct path h -> h'; the product is added below
			}
		}
	}
	// dx = dgi W_ih, dh (+)= dgh W_hh.
	cellGemm(false, false, B, I, G, dgi, G, wih, I, false, dx, I)
	cellGemm(false, false, B, H, G, dgh, G, whh, H, d.kind == cellGRU, dh, H)
}
