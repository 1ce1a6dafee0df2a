package ops

import (
	"fmt"
	"hash"

	"github.com/chewxy/hm"
	"gorgonia.org/gorgonia"
	"gorgonia.org/tensor"

	"github.com/unroll-ml/unroll/internal/compute"
)

// cellWeightGradOp computes the weight gradients of steps steps of one cell. Inputs, for each
// step: its backward output (cellGradSize, holding dG_i and dG_h), its input x (B, In) and its
// state input h (B, H). Output, flat: [dW_ih (G·H·In) | dW_hh (G·H·H) | db_ih (G·H) | db_hh (G·H)],
//
//	dW_ih = Σ_t dG_i,tᵀ x_t,   dW_hh = Σ_t dG_h,tᵀ h_t,   db_ih = Σ_t Σ_b dG_i,t,   db_hh = Σ_t Σ_b dG_h,t
//
// each computed as one matrix product over the steps stacked (inner dimension steps·B), or for
// dW_ih, when every x_t is one-hot, as the scatter-add of the rows of dG_i into the columns of
// their ids. One step is the gradient a step's SymDiff returns; all the steps of a cell is the
// node JointGrad adds.
type cellWeightGradOp struct {
	base
	backward
	cellDims
	steps int
	// scratch for the stacked operands, kept between runs (one op per node, run by one program
	// at a time).
	scratch [5]cellBuf
	ids     []int32
}

func (op *cellWeightGradOp) size() int {
	G := op.g()
	return G*op.in + G*op.hidden + 2*G
}

func (op *cellWeightGradOp) Arity() int { return 3 * op.steps }
func (op *cellWeightGradOp) Type() hm.Type {
	ranks := make([]int, 0, op.Arity())
	for i := 0; i < op.steps; i++ {
		ranks = append(ranks, 1, 2, 2)
	}
	return fnType(1, ranks...)
}

func (op *cellWeightGradOp) argShapes() []tensor.Shape {
	bw := tensor.Shape{cellGradSize(op.cellDims)}
	var s []tensor.Shape
	for i := 0; i < op.steps; i++ {
		s = append(s, bw, tensor.Shape{op.batch, op.in}, tensor.Shape{op.batch, op.hidden})
	}
	return s
}

func (op *cellWeightGradOp) InferShape(ds ...gorgonia.DimSizer) (tensor.Shape, error) {
	if err := checkShapes(op, op.argShapes(), ds); err != nil {
		return nil, err
	}
	return tensor.Shape{op.size()}, nil
}

func (op *cellWeightGradOp) WriteHash(h hash.Hash) {
	op.writeHash(h, "cellWeightGrad")
	fmt.Fprintf(h, "×%d", op.steps)
}
func (op *cellWeightGradOp) Hashcode() uint32 { return hashOf(op) }
func (op *cellWeightGradOp) String() string {
	return fmt.Sprintf("%vWeightGrad(%d steps, b=%d, in=%d, h=%d)", op.kind, op.steps, op.batch, op.in, op.hidden)
}

func (op *cellWeightGradOp) Do(vs ...gorgonia.Value) (gorgonia.Value, error) {
	return op.DoInto(nil, vs...)
}

// DoInto computes the weight gradients into out, a vector of op.size() elements.
func (op *cellWeightGradOp) DoInto(out *tensor.Dense, vs ...gorgonia.Value) (gorgonia.Value, error) {
	ts, out, dt, err := sizedInto(op, out, vs, op.argShapes(), []int{op.size()})
	if err != nil {
		return nil, err
	}
	return computeInto(dt, out, ts,
		func(o []float32, in [][]float32) error { cellWeightGradKernel(op, o, in); return nil },
		func(o []float64, in [][]float64) error { cellWeightGradKernel(op, o, in); return nil })
}

// cellWeightGradKernel stacks the steps' dG_i, dG_h, h (and x when it is not one-hot) into
// (steps·B)-row matrices (in the op's scratch) and computes the weight gradients into res.
func cellWeightGradKernel[T Float](op *cellWeightGradOp, res []T, in [][]T) {
	d, steps := op.cellDims, op.steps
	B, I, H, G := d.batch, d.in, d.hidden, d.g()
	N := steps * B
	dgi := cellBufOf[T](&op.scratch[0], N*G)
	dgh := dgi
	if d.kind == GRU {
		dgh = cellBufOf[T](&op.scratch[1], N*G)
	}
	hs := cellBufOf[T](&op.scratch[2], N*H)
	if len(op.ids) != N {
		op.ids = make([]int32, N)
	}
	oneHot := true
	for t := 0; t < steps; t++ {
		_, _, gi, gh := cellGradParts(d, in[3*t])
		x, h := in[3*t+1], in[3*t+2]
		copy(dgi[t*B*G:(t+1)*B*G], gi)
		if d.kind == GRU {
			copy(dgh[t*B*G:(t+1)*B*G], gh)
		}
		copy(hs[t*B*H:(t+1)*B*H], h)
		oneHot = oneHot && cellOneHot(x, B, I, op.ids[t*B:(t+1)*B])
	}
	dwih, dwhh := res[:G*I], res[G*I:G*I+G*H]
	dbih, dbhh := res[G*I+G*H:G*I+G*H+G], res[G*I+G*H+G:]
	if oneHot {
		cellScatterIDs(op.ids, dgi, dwih, cellBufOf[T](&op.scratch[4], I*G), I, G)
	} else {
		xs := cellBufOf[T](&op.scratch[3], N*I)
		for t := 0; t < steps; t++ {
			copy(xs[t*B*I:(t+1)*B*I], in[3*t+1])
		}
		matmul(true, false, G, I, N, dgi, G, xs, I, 0, dwih, I)
	}
	matmul(true, false, G, H, N, dgh, G, hs, H, 0, dwhh, H)
	cellColSums(dbih, dgi, N, G)
	if d.kind == GRU {
		cellColSums(dbhh, dgh, N, G)
	} else {
		copy(dbhh, dbih) // the same pre-activation gradient
	}
}

// cellColBlock is the number of columns one goroutine takes at a time in the loops that sum
// over rows (a multiple of 16, so that no two goroutines write one cache line).
const cellColBlock = 64

// cellScatterIDs sets dwih (G, In) = Σ_r dG_i[r]ᵀ e_ids[r], for one-hot inputs: row id of dwT
// (In, G) receives every row of dgi whose input is id, in row order; the columns are shared
// among the threads.
func cellScatterIDs[T Float](ids []int32, dgi, dwih, dwT []T, I, G int) {
	compute.For((G+cellColBlock-1)/cellColBlock, len(ids)*G, func(lo, hi int) {
		c0, c1 := lo*cellColBlock, min(hi*cellColBlock, G)
		if c0 >= c1 {
			return
		}
		for i := 0; i < I; i++ {
			clear(dwT[i*G+c0 : i*G+c1])
		}
		for r, id := range ids {
			if id < 0 {
				continue
			}
			dst, src := dwT[int(id)*G+c0:int(id)*G+c1], dgi[r*G+c0:r*G+c1]
			if is32[T]() {
				add32(f32s(dst), f32s(dst), f32s(src))
				continue
			}
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
}

// cellColSums writes the column sums of the (rows, cols) matrix m into dst, summing each
// column in row order in float64; the columns are shared among the threads.
func cellColSums[T Float](dst, m []T, rows, cols int) {
	compute.For((cols+cellColBlock-1)/cellColBlock, rows*cols, func(lo, hi int) {
		var buf [cellColBlock]float64
		for b0 := lo * cellColBlock; b0 < min(hi*cellColBlock, cols); b0 += cellColBlock {
			b1 := min(b0+cellColBlock, cols)
			acc := buf[:b1-b0]
			clear(acc)
			if m32, ok := any(m).([]float32); ok && len(acc) == cellColBlock &&
				colSums32((*[32]float64)(acc[:32]), m32[b0:], rows, cols) &&
				colSums32((*[32]float64)(acc[32:]), m32[b0+32:], rows, cols) {
				for j, v := range acc { // the same sums in vector loops
					dst[b0+j] = T(v)
				}
				continue
			}
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
