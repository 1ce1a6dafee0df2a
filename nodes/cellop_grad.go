package nodes

import (
	"fmt"
	"hash"
	"reflect"
	"sync"

	"github.com/chewxy/hm"
	"github.com/unroll-ml/unroll/internal/compute"
	"gorgonia.org/gorgonia"
	"gorgonia.org/tensor"
)

// The backward ops of the fused cells (see cellop.go).

// cellGradOp is the backward of one cellStepOp, fwd, whose reserve it reads. Inputs: h, [c],
// W_hh, the step's output, then the contributions to the gradient of the output, which the op
// adds up itself (terms, see cellGradTerms). Output, flat: [dh | dc (LSTM)]; dG_i and dG_h go
// to the chain's stacked buffers (cellChainDG), at the rows of fwd's index.
type cellGradOp struct {
	cellDims
	fwd   *cellStepOp
	terms []cellGradTerm
	gout  cellBuf // the summed output gradient, (B, P·H)
}

// size is the length of the packed gradient vector.
func (op *cellGradOp) size() int { return op.states() * op.batch * op.hidden }

func (op *cellGradOp) Arity() int { return op.states() + 2 + len(op.terms) }

func (op *cellGradOp) Type() hm.Type {
	a := hm.TypeVariable('a')
	ts := make([]hm.Type, 0, op.Arity()+1)
	for _, s := range op.argShapes() {
		ts = append(ts, gorgonia.TensorType{Dims: len(s), Of: a})
	}
	return hm.NewFnType(append(ts, gorgonia.TensorType{Dims: 1, Of: a})...)
}

// argShapes are the shapes of the backward op's inputs; a term's input has the shape of the
// value it was found in.
func (op *cellGradOp) argShapes() []tensor.Shape {
	s := op.inputShapes()[1 : op.states()+1] // h, [c]
	s = append(s, tensor.Shape{op.kind.gates() * op.hidden, op.hidden}, op.outShape())
	for _, t := range op.terms {
		s = append(s, t.shape.Clone())
	}
	return s
}

func (op *cellGradOp) InferShape(ds ...gorgonia.DimSizer) (tensor.Shape, error) {
	if err := checkCellShapes(op, op.argShapes(), ds); err != nil {
		return nil, err
	}
	return tensor.Shape{op.size()}, nil
}

func (op *cellGradOp) ReturnsPtr() bool     { return false }
func (op *cellGradOp) CallsExtern() bool    { return false }
func (op *cellGradOp) OverwritesInput() int { return -1 }
func (op *cellGradOp) WriteHash(h hash.Hash) {
	op.writeHash(h, "cellGrad")
	for _, t := range op.terms {
		fmt.Fprintf(h, "+%v[%d:%d/%d→%d]", t.shape, t.off, t.width, t.stride, t.col)
	}
}
func (op *cellGradOp) Hashcode() uint32 { return cellHash(op) }
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
		return out, cellGradDo(op, o, vs)
	case []float64:
		return out, cellGradDo(op, o, vs)
	}
	return nil, fmt.Errorf("%v: unsupported dtype %v", op, out.Dtype())
}

func cellGradDo[T cellFloat](op *cellGradOp, res []T, vs []gorgonia.Value) error {
	in, err := cellSlices[T](op, vs)
	if err != nil {
		return err
	}
	n := op.states() + 2
	W := op.outShape()[1]
	if err := cellCheckTerms(op, op.batch, W, op.terms, in[n:]); err != nil {
		return err
	}
	gout := cellBufOf[T](&op.gout, op.batch*W)
	dgi, dgh := cellChainDG[T](op.fwd.chain)
	rows := op.batch * op.kind.gates() * op.hidden
	at := op.fwd.index * rows
	cellBackward(op.fwd.chain, res, in[:n], op.terms, in[n:], gout, cellReserve[T](op.fwd), dgi[at:at+rows], dgh[at:at+rows])
	return nil
}

// cellInputGradOp computes the gradient of the input of step index of chain, dx = dG_i W_ih
// (B, In), from the step's dG_i in the chain's buffer and W_ih (G·H, In). Inputs: the step's
// backward node (which writes dG_i) and W_ih. It is a node of its own so that it runs only when
// something needs dx.
type cellInputGradOp struct {
	cellDims
	chain *cellChain
	index int
}

func (op *cellInputGradOp) argShapes() []tensor.Shape {
	return []tensor.Shape{{(&cellGradOp{cellDims: op.cellDims}).size()}, {op.kind.gates() * op.hidden, op.in}}
}
func (op *cellInputGradOp) Arity() int { return 2 }
func (op *cellInputGradOp) Type() hm.Type {
	a := hm.TypeVariable('a')
	m := gorgonia.TensorType{Dims: 2, Of: a}
	return hm.NewFnType(gorgonia.TensorType{Dims: 1, Of: a}, m, m)
}
func (op *cellInputGradOp) InferShape(ds ...gorgonia.DimSizer) (tensor.Shape, error) {
	if err := checkCellShapes(op, op.argShapes(), ds); err != nil {
		return nil, err
	}
	return tensor.Shape{op.batch, op.in}, nil
}
func (op *cellInputGradOp) ReturnsPtr() bool     { return false }
func (op *cellInputGradOp) CallsExtern() bool    { return false }
func (op *cellInputGradOp) OverwritesInput() int { return -1 }
func (op *cellInputGradOp) WriteHash(h hash.Hash) {
	op.writeHash(h, "cellInputGrad")
	fmt.Fprintf(h, "#%d", op.index)
}
func (op *cellInputGradOp) Hashcode() uint32 { return cellHash(op) }
func (op *cellInputGradOp) String() string {
	return fmt.Sprintf("%vInputGrad(b=%d, in=%d, h=%d)", op.kind, op.batch, op.in, op.hidden)
}

func (op *cellInputGradOp) Do(vs ...gorgonia.Value) (gorgonia.Value, error) {
	dt, err := cellDtype(op, vs, 2)
	if err != nil {
		return nil, err
	}
	return op.DoInto(tensor.New(tensor.Of(dt), tensor.WithShape(op.batch, op.in)), vs...)
}

// DoInto computes dx into out (B, In).
func (op *cellInputGradOp) DoInto(out *tensor.Dense, vs ...gorgonia.Value) (gorgonia.Value, error) {
	if err := checkCellValues(op, op.argShapes(), vs, out, tensor.Shape{op.batch, op.in}); err != nil {
		return nil, err
	}
	switch o := out.Data().(type) {
	case []float32:
		return out, cellInputGrad(op, o, vs)
	case []float64:
		return out, cellInputGrad(op, o, vs)
	}
	return nil, fmt.Errorf("%v: unsupported dtype %v", op, out.Dtype())
}

func cellInputGrad[T cellFloat](op *cellInputGradOp, dx []T, vs []gorgonia.Value) error {
	in, err := cellSlices[T](op, vs)
	if err != nil {
		return err
	}
	B, I, G := op.batch, op.in, op.kind.gates()*op.hidden
	dgi, _ := cellChainDG[T](op.chain)
	cellGemm(false, false, B, I, G, dgi[op.index*B*G:(op.index+1)*B*G], G, in[1], I, false, dx, I)
	return nil
}

// cellChainGradOp computes the weight gradients of a chain of steps. Inputs, for each step:
// its cellGradOp output, its input x (B, In) and its state input h (B, H). Output, flat:
// [dW_ih (G·H·In) | dW_hh (G·H·H) | db_ih (G·H) | db_hh (G·H)], with
//
//	dW_ih = Σ_t dG_i,tᵀ x_t,   dW_hh = Σ_t dG_h,tᵀ h_t,   db_ih = Σ_t Σ_b dG_i,t,   db_hh = Σ_t Σ_b dG_h,t
//
// each computed as one matrix product over the stacked steps (inner dimension steps·B), or
// for dW_ih, when every x_t is one-hot, as the scatter-add of the rows of dG_i into the columns
// of their ids.
type cellChainGradOp struct {
	cellDims
	steps   int
	chain   *cellChain // whose stacked dG_i and dG_h it reads
	indices []int      // the chain indices of the steps, in order
	// scratch for the stacked operands, kept between runs (one op per node, run by one
	// program at a time).
	scratch [5]cellBuf
	ids     []int32
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
	fmt.Fprintf(h, "×%d%v", op.steps, op.indices)
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
		cellWeightGrads(op, o, in)
	case []float64:
		in, err := cellSlices[float64](op, vs)
		if err != nil {
			return nil, err
		}
		cellWeightGrads(op, o, in)
	default:
		return nil, fmt.Errorf("%v: unsupported dtype %v", op, out.Dtype())
	}
	return out, nil
}

// cellWeightGrads stacks the steps' h (and x when it is not one-hot) into (steps·B)-row
// matrices (in the op's scratch) and computes the weight gradients into res from them and the
// chain's stacked dG_i and dG_h.
func cellWeightGrads[T cellFloat](op *cellChainGradOp, res []T, in [][]T) {
	d, steps := op.cellDims, op.steps
	B, I, H := d.batch, d.in, d.hidden
	G := d.kind.gates() * H
	N := steps * B
	dgi, dgh := cellChainDG[T](op.chain)
	if steps != op.chain.steps { // some steps were never differentiated: gather the others' rows
		gi := cellBufOf[T](&op.scratch[0], N*G)
		gh := gi
		if d.kind == cellGRU {
			gh = cellBufOf[T](&op.scratch[1], N*G)
		}
		for t, i := range op.indices {
			copy(gi[t*B*G:(t+1)*B*G], dgi[i*B*G:(i+1)*B*G])
			copy(gh[t*B*G:(t+1)*B*G], dgh[i*B*G:(i+1)*B*G])
		}
		dgi, dgh = gi, gh
	}
	hs := cellBufOf[T](&op.scratch[2], N*H)
	if len(op.ids) != N {
		op.ids = make([]int32, N)
	}
	oneHot := true
	for t := 0; t < steps; t++ {
		x, h := in[3*t+1], in[3*t+2]
		copy(hs[t*B*H:(t+1)*B*H], h)
		oneHot = oneHot && cellOneHot(x, B, I, op.ids[t*B:(t+1)*B])
	}
	dwih, dwhh := res[:G*I], res[G*I:G*I+G*H]
	dbih, dbhh := res[G*I+G*H:G*I+G*H+G], res[G*I+G*H+G:]
	if oneHot {
		// dW_ihᵀ (In, G): row id receives every row of dG_i whose input is id, in row order;
		// the columns are shared among the threads.
		dwT := cellBufOf[T](&op.scratch[4], I*G)
		compute.For((G+cellColBlock-1)/cellColBlock, N*G, func(lo, hi int) {
			c0, c1 := lo*cellColBlock, min(hi*cellColBlock, G)
			if c0 >= c1 {
				return
			}
			for i := 0; i < I; i++ {
				clear(dwT[i*G+c0 : i*G+c1])
			}
			for r, id := range op.ids {
				if id < 0 {
					continue
				}
				dst, src := dwT[int(id)*G+c0:int(id)*G+c1], dgi[r*G+c0:r*G+c1]
				for j, v := range src {
					dst[j] += v
				}
			}
			for j := c0; j < c1; j++ {
				row := dwih[j*I : (j+1)*I]
				for i := range row {
					row[i] = dwT[i*G+j]
				}
			}
		})
	} else {
		xs := cellBufOf[T](&op.scratch[3], N*I)
		for t := 0; t < steps; t++ {
			copy(xs[t*B*I:(t+1)*B*I], in[3*t+1])
		}
		cellGemm(true, false, G, I, N, dgi, G, xs, I, false, dwih, I)
	}
	cellGemm(true, false, G, H, N, dgh, G, hs, H, false, dwhh, H)
	cellColSums(dbih, dgi, N, G)
	if d.kind == cellGRU {
		cellColSums(dbhh, dgh, N, G)
	} else {
		copy(dbhh, dbih) // the same pre-activation gradient
	}
}

// cellColBlock is the number of columns one goroutine takes at a time in the loops that sum
// over rows (a multiple of 16, so that no two goroutines write one cache line).
const cellColBlock = 64

// cellColSums writes the column sums of the (rows, cols) matrix m into dst, summing each
// column in row order in float64; the columns are shared among the threads.
func cellColSums[T cellFloat](dst, m []T, rows, cols int) {
	compute.For((cols+cellColBlock-1)/cellColBlock, rows*cols, func(lo, hi int) {
		var buf [cellColBlock]float64
		for b0 := lo * cellColBlock; b0 < min(hi*cellColBlock, cols); b0 += cellColBlock {
			b1 := min(b0+cellColBlock, cols)
			acc := buf[:b1-b0]
			clear(acc)
			r := 0
			for ; r+4 <= rows; r += 4 { // four rows at a time, each column still in row order
				r0 := m[r*cols+b0 : r*cols+b1]
				r1 := m[(r+1)*cols+b0 : (r+1)*cols+b1]
				r2 := m[(r+2)*cols+b0 : (r+2)*cols+b1]
				r3 := m[(r+3)*cols+b0 : (r+3)*cols+b1]
				for j := range acc {
					acc[j] = acc[j] + float64(r0[j]) + float64(r1[j]) + float64(r2[j]) + float64(r3[j])
				}
			}
			for ; r < rows; r++ {
				row := m[r*cols+b0 : r*cols+b1]
				for j, v := range row {
					acc[j] += float64(v)
				}
			}
			for j, v := range acc {
				dst[b0+j] = T(v)
			}
		}
	})
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

// cellBackward computes one step's gradients: dh and dc into res, the pre-activation
// gradients into dgi and dgh (B, G·H), the same slice except for a GRU; in holds h, [c], W_hh
// and the step's output, terms and vals the contributions to the gradient of the output, which
// it sums into gout (B, P·H), and gates is the reserve of the step's forward run.
func cellBackward[T cellFloat](chain *cellChain, res []T, in [][]T, terms []cellGradTerm, vals [][]T, gout, gates, dgi, dgh []T) {
	d := chain.dims
	B, H := d.batch, d.hidden
	G := d.kind.gates() * H
	h := in[0]
	k := 1
	var c []T
	if d.kind.hasCell() {
		c = in[1]
		k = 2
	}
	whh, out := in[k], in[k+1]

	off := 0
	next := func(n int) []T {
		s := res[off : off+n]
		off += n
		return s
	}
	dh := next(B * H)
	var dc []T
	if d.kind.hasCell() {
		dc = next(B * H)
	}
	cellPrepareGrad(chain, whh)
	W := d.kind.packed() * H
	cellRows(B, max(d.kind.reserved(), 1)*H, func(lo, hi int) {
		cellSumTerms(gout, lo, hi, W, terms, vals)
		switch d.kind {
		case cellRNNTanh, cellRNNReLU:
			for i := lo * H; i < hi*H; i++ {
				switch v := out[i]; {
				case d.kind == cellRNNTanh:
					dgi[i] = gout[i] * (1 - v*v)
				case v > 0:
					dgi[i] = gout[i]
				default:
					dgi[i] = 0
				}
			}
		case cellLSTM:
			for b := lo; b < hi; b++ {
				g4 := gates[b*G : (b+1)*G]
				ig, fg, gg, og := g4[:H], g4[H:2*H], g4[2*H:3*H], g4[3*H:]
				dhn, dcn := gout[b*2*H:b*2*H+H], gout[b*2*H+H:(b+1)*2*H]
				cp, tcs := c[b*H:b*H+H], gates[B*G+b*H:B*G+b*H+H]
				dg := dgi[b*G : b*G+G]
				dcp := dc[b*H : b*H+H]
				done := 0
				if f, ok := any(g4).([]float32); ok {
					done = lstmBackwardRow32(f, any(tcs).([]float32), any(cp).([]float32),
						any(gout[b*2*H:(b+1)*2*H]).([]float32), any(dg).([]float32), any(dcp).([]float32), H)
				}
				for j := done; j < H; j++ {
					i, f, g, o := float64(ig[j]), float64(fg[j]), float64(gg[j]), float64(og[j])
					tc := float64(tcs[j])
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
			for b := lo; b < hi; b++ {
				row := gates[b*R : (b+1)*R]
				rg, zg, hg, ng := row[:H], row[H:2*H], row[2*H:3*H], row[3*H:]
				grow := gout[b*H : (b+1)*H]
				hp := h[b*H : b*H+H]
				dgib, dghb := dgi[b*G:b*G+G], dgh[b*G:b*G+G]
				dhp := dh[b*H : b*H+H]
				done := 0
				if f, ok := any(row).([]float32); ok {
					done = gruBackwardRow32(f, any(grow).([]float32), any(hp).([]float32),
						any(dgib).([]float32), any(dghb).([]float32), any(dhp).([]float32), H)
				}
				for j := done; j < H; j++ {
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
	})
	// dh (+)= dgh W_hh.
	cellRecurrentGrad(chain, dgh, whh, d.kind == cellGRU, dh)
}

// cellGradTerm is one contribution to the gradient of a step's output (B, W), read from an
// input of the backward op whose value has the given shape: element off + b·stride + j of the
// value is added to element (b, col + j) of the gradient, for b < B and j < width.
type cellGradTerm struct {
	shape                   tensor.Shape
	off, stride, width, col int
}

// cellGradTerms finds the values whose sum Gorgonia made the gradient grad (B, W) of a step's
// output: it looks through additions of equal shapes (Gorgonia's sum of the gradients a node
// receives), column scatters (cellColsGradOp, the gradient of the cut of h' or c'), cuts of a
// packed gradient (cellPartOp, the next step's dh and dc) and row blocks (the gradient of
// ConcatRows, the layer's output as the head reads it). Anything else is a value of shape
// (B, W) added as it is. The backward op then reads each contribution where it was computed.
func cellGradTerms(grad *gorgonia.Node, batch, width int) (gorgonia.Nodes, []cellGradTerm) {
	var nodes gorgonia.Nodes
	var terms []cellGradTerm
	add := func(n *gorgonia.Node, t cellGradTerm) {
		t.shape = n.Shape()
		nodes = append(nodes, n)
		terms = append(terms, t)
	}
	var walk func(n *gorgonia.Node, t cellGradTerm)
	walk = func(n *gorgonia.Node, t cellGradTerm) {
		// Only a whole (B, width) value, read from its start, is looked through.
		whole := t.off == 0 && t.stride == t.width && n.Shape().Eq(tensor.Shape{batch, t.width})
		kids := cellChildren(n)
		if whole && len(kids) == 1 {
			switch op := n.Op().(type) {
			case *cellPartOp:
				add(kids[0], cellGradTerm{off: op.offset, stride: t.width, width: t.width, col: t.col})
				return
			case *cellColsGradOp:
				w := op.cols.to - op.cols.from
				walk(kids[0], cellGradTerm{stride: w, width: w, col: t.col + op.cols.from})
				return
			case *rowsPartOp:
				add(kids[0], cellGradTerm{off: op.index * batch * t.width, stride: t.width, width: t.width, col: t.col})
				return
			}
		}
		if whole && len(kids) == 2 && cellIsAdd(n) && kids[0].Shape().Eq(n.Shape()) && kids[1].Shape().Eq(n.Shape()) {
			walk(kids[0], t)
			walk(kids[1], t)
			return
		}
		add(n, t)
	}
	walk(grad, cellGradTerm{stride: width, width: width})
	return nodes, terms
}

// cellCheckTerms checks that every term reads inside its value.
func cellCheckTerms[T cellFloat](op fmt.Stringer, batch, width int, terms []cellGradTerm, vals [][]T) error {
	for i, t := range terms {
		if t.col < 0 || t.col+t.width > width || t.off < 0 || t.off+(batch-1)*t.stride+t.width > len(vals[i]) {
			return fmt.Errorf("%v: gradient term %d does not fit its value of %d elements", op, i, len(vals[i]))
		}
	}
	return nil
}

// cellSumTerms writes the sum of the terms, read from vals (checked by cellCheckTerms), into
// rows [lo, hi) of gout (B, W).
func cellSumTerms[T cellFloat](gout []T, lo, hi, width int, terms []cellGradTerm, vals [][]T) {
	clear(gout[lo*width : hi*width])
	for i, t := range terms {
		v := vals[i]
		for b := lo; b < hi; b++ {
			dst, src := gout[b*width+t.col:b*width+t.col+t.width], v[t.off+b*t.stride:t.off+b*t.stride+t.width]
			for j, x := range src {
				dst[j] += x
			}
		}
	}
}

// cellChildren returns n's inputs in order.
func cellChildren(n *gorgonia.Node) gorgonia.Nodes {
	var out gorgonia.Nodes
	it := n.Graph().From(n.ID())
	for it != nil && it.Next() {
		out = append(out, it.Node().(*gorgonia.Node))
	}
	return out
}

// cellAddOp is the type and name of the operation of gorgonia.Add on two tensors of one shape.
var cellAddOp = sync.OnceValues(func() (reflect.Type, string) {
	g := gorgonia.NewGraph()
	a := gorgonia.NewMatrix(g, tensor.Float64, gorgonia.WithShape(1, 1), gorgonia.WithName("a"))
	s, err := gorgonia.Add(a, a)
	if err != nil {
		return nil, ""
	}
	return reflect.TypeOf(s.Op()), s.Op().String()
})

// cellIsAdd reports whether n is the elementwise sum of two nodes, as Gorgonia's gradient adds
// them.
func cellIsAdd(n *gorgonia.Node) bool {
	t, name := cellAddOp()
	op := n.Op()
	return op != nil && t != nil && reflect.TypeOf(op) == t && op.String() == name && op.Arity() == 2
}
