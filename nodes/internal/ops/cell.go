package ops

import (
	"fmt"
	"hash"

	"github.com/chewxy/hm"
	"gorgonia.org/gorgonia"
	"gorgonia.org/tensor"

	"github.com/unroll-ml/unroll/internal/compute"
	"github.com/unroll-ml/unroll/nodes/gemm"
)

// The fused recurrent cells.
//
// Forward. One recurrent step is one node: cellStepOp computes the gate pre-activations with
// two matrix products (x W_ihᵀ and h W_hhᵀ, added to the biases), then every gate
// nonlinearity and the state update in one loop over the (B, H) elements. Its output is h'
// (B, H) for RNN and GRU cells; a Gorgonia op has one output, so an LSTM step packs h' and c'
// row by row into one (B, 2H) tensor, which two column cuts take apart. The gates after their
// nonlinearity (i, f, g, o and tanh(c') for an LSTM; r, z, W_hn h + b_hn and n for a GRU) stay
// in the op's reserve buffer, as cuDNN's reserve space does, for the backward op of the same
// run, which therefore needs no second pair of matrix products.
//
// Weights of a run. Every step of a cell multiplies by the same weights, which change only
// between runs. One cellWeightsOp node per cell and graph, which every step takes as an input,
// prepares them once a run: its value is W_ihᵀ (In, G·H), whose row id is x W_ihᵀ for a one-hot
// row id, and in float32 it also keeps, in its buffer, W_ihᵀ and W_hhᵀ packed for
// gemm.SgemmPacked (and W_hh for the backward products of a training graph), so that the
// products of a step pack only the few rows of state.
//
// One-hot inputs. When every row of x holds a single 1 and zeros elsewhere (or only zeros), as
// a character model's input does, x W_ihᵀ is column id of W_ih: the step adds that row of
// W_ihᵀ instead of multiplying (the same network and the same sums, without the products by
// zero); the weight gradient dW_ih = Σ dG_iᵀ x is then a scatter-add of the rows of dG_i into
// the columns of the inputs' ids. Inputs of any other kind take the matrix products.
//
// Backward (cell_grad.go). A step's SymDiff adds its backward node, which reads the reserve
// and returns dh, dc and the gradients of the pre-activations dG_i and dG_h; the input
// gradient dx = dG_i W_ih, a node that runs only when something needs dx; and the step's own
// gradients of the weights, dW_ih = dG_iᵀ x, dW_hh = dG_hᵀ h, db = Σ_b dG. Gorgonia adds the
// weight gradients of the T steps of a cell up, T weight-sized products and T-1 sums; the
// step op is a graph.JointGradOp, so after gorgonia.Grad graph replaces that sum by one node
// computing the same sum with one matrix product over the stacked steps (JointGrad). The
// per-step nodes then feed nothing unroll's executor runs.
//
// Threads. The matrix products use package gemm's threads. The elementwise loops of a step run
// on all threads, split by batch rows (cellRows), when a step is large enough to gain from it;
// every element is computed by the same code whatever the split. The sums over rows of a whole
// sequence (bias gradients, the one-hot scatter-add) are split by columns, each column summed in
// row order. Results are therefore bit-identical for any number of threads.

// CellKind names the recurrence a fused step computes.
type CellKind uint8

// The recurrent cells.
const (
	RNNTanh CellKind = iota
	RNNReLU
	LSTM
	GRU
)

func (k CellKind) String() string {
	switch k {
	case RNNReLU:
		return "rnn_relu"
	case LSTM:
		return "lstm"
	case GRU:
		return "gru"
	}
	return "rnn_tanh"
}

// Gates is G, the number of gate blocks of H rows in W_ih and W_hh.
func (k CellKind) Gates() int {
	switch k {
	case LSTM:
		return 4
	case GRU:
		return 3
	}
	return 1
}

// packed is P, the width of the step's output in units of H: h', and c' for an LSTM.
func (k CellKind) packed() int {
	if k == LSTM {
		return 2
	}
	return 1
}

// reserved is the width of what the forward pass keeps for the backward pass, in units of H:
// the LSTM's four gates and tanh(c'), the GRU's three gates and W_hn h + b_hn.
func (k CellKind) reserved() int {
	switch k {
	case LSTM:
		return 5
	case GRU:
		return 4
	}
	return 0
}

// HasCell reports whether the state has a memory cell C (LSTM).
func (k CellKind) HasCell() bool { return k == LSTM }

// cellDims are the sizes a step op is built for.
type cellDims struct {
	kind              CellKind
	batch, in, hidden int
}

func (d cellDims) writeHash(h hash.Hash, tag string) {
	fmt.Fprintf(h, "unroll.%s{%v b=%d in=%d h=%d}", tag, d.kind, d.batch, d.in, d.hidden)
}

// g is G·H, the width of the pre-activations.
func (d cellDims) g() int { return d.kind.Gates() * d.hidden }

// states is the number of state inputs (h, and c for an LSTM).
func (d cellDims) states() int {
	if d.kind.HasCell() {
		return 2
	}
	return 1
}

// stepShapes lists the shapes of a step's inputs: x, h, [c], W_ih, W_hh, b_ih, b_hh, W_ihᵀ.
func (d cellDims) stepShapes() []tensor.Shape {
	s := []tensor.Shape{{d.batch, d.in}, {d.batch, d.hidden}}
	if d.kind.HasCell() {
		s = append(s, tensor.Shape{d.batch, d.hidden})
	}
	return append(s, tensor.Shape{d.g(), d.in}, tensor.Shape{d.g(), d.hidden}, tensor.Shape{d.g()}, tensor.Shape{d.g()},
		tensor.Shape{d.in, d.g()})
}

// outShape is the shape of the packed step output.
func (d cellDims) outShape() tensor.Shape {
	return tensor.Shape{d.batch, d.kind.packed() * d.hidden}
}

// cellBuf is a scratch slice of either element type, kept between runs.
type cellBuf struct {
	f32 []float32
	f64 []float64
}

// cellBufOf returns b's slice of element type T resized to n elements (its contents are kept
// when the size does not change).
func cellBufOf[T Float](b *cellBuf, n int) []T {
	var r any
	switch any(T(0)).(type) {
	case float32:
		if cap(b.f32) < n {
			b.f32 = make([]float32, n)
		}
		b.f32 = b.f32[:n]
		r = b.f32
	default:
		if cap(b.f64) < n {
			b.f64 = make([]float64, n)
		}
		b.f64 = b.f64[:n]
		r = b.f64
	}
	return r.([]T)
}

// cellMinParallel is the number of elements below which a step's elementwise loop runs on the
// calling goroutine: the loops run eight values at a time, faster than another goroutine wakes
// up, and a step is short (hidden 256 and batch 32 make 40,960 elements).
const cellMinParallel = 1 << 17

// cellRows calls body(lo, hi) on parts of the batch rows [0, rows) that together cover them, in
// parallel when the rows hold at least cellMinParallel elements of perRow each. Every row is
// computed by the same code whatever the split.
func cellRows(rows, perRow int, body func(lo, hi int)) {
	if rows*perRow < cellMinParallel {
		body(0, rows)
		return
	}
	compute.For(rows, rows*perRow, body)
}

// cellOneHot reports whether every row of x (B, In) holds at most one non-zero value and
// that value is 1, and if so writes each row's column of the 1 (or -1 for a zero row) into ids.
func cellOneHot[T Float](x []T, batch, in int, ids []int32) bool {
	for b := 0; b < batch; b++ {
		id := int32(-1)
		for i, v := range x[b*in : (b+1)*in] {
			if v == 0 {
				continue
			}
			if v != 1 || id >= 0 {
				return false
			}
			id = int32(i)
		}
		ids[b] = id
	}
	return true
}

// cellWeights is what a cellWeightsOp prepares once a run for the steps of its cell, in
// float32: W_ihᵀ and W_hhᵀ packed for the forward products, and W_hh packed for the backward
// products of a training graph.
type cellWeights struct {
	train               bool // packB is made: the graph is for training
	packX, packF, packB gemm.PackedB
}

// CellWeights adds the node that prepares the weights W_ih (G·H, In) and W_hh (G·H, H) of a
// cell for its steps once a run; train also prepares the backward products. Every step of the
// cell in the graph takes this one node (see CellStep).
func CellWeights(kind CellKind, wih, whh *gorgonia.Node, train bool, name string) (*gorgonia.Node, error) {
	ws, hs := wih.Shape(), whh.Shape()
	if len(ws) != 2 || len(hs) != 2 || ws[0] != hs[0] || ws[0]%kind.Gates() != 0 {
		return nil, fmt.Errorf("%v weights: W_ih %v and W_hh %v do not fit", kind, ws, hs)
	}
	d := cellDims{kind: kind, in: ws[1], hidden: ws[0] / kind.Gates()}
	return Apply(cellWeightsOp{cellDims: d, w: &cellWeights{train: train}}, name, wih, whh)
}

// cellWeightsOp prepares a cell's weights for its steps: inputs W_ih (G·H, In) and W_hh
// (G·H, H); output W_ihᵀ (In, G·H); in float32 its buffer w keeps the packed weights of the run.
type cellWeightsOp struct {
	base
	backward
	cellDims // batch unused
	w        *cellWeights
}

func (op cellWeightsOp) Arity() int    { return 2 }
func (op cellWeightsOp) Type() hm.Type { return fnType(2, 2, 2) }
func (op cellWeightsOp) shapes() []tensor.Shape {
	return []tensor.Shape{{op.g(), op.in}, {op.g(), op.hidden}}
}
func (op cellWeightsOp) InferShape(ds ...gorgonia.DimSizer) (tensor.Shape, error) {
	if err := checkShapes(op, op.shapes(), ds); err != nil {
		return nil, err
	}
	return tensor.Shape{op.in, op.g()}, nil
}
func (op cellWeightsOp) WriteHash(h hash.Hash) {
	op.writeHash(h, "cellWeights")
	fmt.Fprintf(h, " train=%v", op.w.train)
}
func (op cellWeightsOp) Hashcode() uint32 { return hashOf(op) }
func (op cellWeightsOp) String() string {
	return fmt.Sprintf("%vWeights(in=%d, h=%d)", op.kind, op.in, op.hidden)
}

func (op cellWeightsOp) Do(vs ...gorgonia.Value) (gorgonia.Value, error) {
	return op.DoInto(nil, vs...)
}

// DoInto writes W_ihᵀ into out and, in float32, packs the weights into the op's buffer.
func (op cellWeightsOp) DoInto(out *tensor.Dense, vs ...gorgonia.Value) (gorgonia.Value, error) {
	ts, out, dt, err := sizedInto(op, out, vs, op.shapes(), []int{op.in, op.g()})
	if err != nil {
		return nil, err
	}
	return computeInto(dt, out, ts, cellPrepare[float32](op), cellPrepare[float64](op))
}

func cellPrepare[T Float](op cellWeightsOp) func(wT []T, in [][]T) error {
	return func(wT []T, in [][]T) error {
		wih, whh := in[0], in[1]
		G, I, H := op.g(), op.in, op.hidden
		transposeInto(wT, wih, G, I)
		if w32, ok := any(wih).([]float32); ok {
			h32 := any(whh).([]float32)
			op.w.packX.Pack(true, I, G, w32, I)
			op.w.packF.Pack(true, H, G, h32, H)
			if op.w.train {
				op.w.packB.Pack(false, G, H, h32, H)
			}
		}
		return nil
	}
}

// transposeInto sets dst (cols x rows) to the transpose of src (rows x cols), in square blocks
// whose rows and columns stay in the first-level cache: element by element, the writes of one
// source row would touch cols different lines of dst, each rows·4 or ·8 bytes apart.
func transposeInto[T Float](dst, src []T, rows, cols int) {
	const b = 16
	for r0 := 0; r0 < rows; r0 += b {
		r1 := min(r0+b, rows)
		for c0 := 0; c0 < cols; c0 += b {
			c1 := min(c0+b, cols)
			for r := r0; r < r1; r++ {
				for c, v := range src[r*cols+c0 : r*cols+c1] {
					dst[(c0+c)*rows+r] = v
				}
			}
		}
	}
}

// CellStep adds one fused step of a cell of the given kind to x's graph: inputs x (B, In), h
// (B, H), c (B, H) for an LSTM only, W_ih (G·H, In), W_hh (G·H, H), b_ih (G·H), b_hh (G·H) and
// the cell's weights node (CellWeights); output h' (B, H), or [h', c'] (B, 2H) for an LSTM.
func CellStep(kind CellKind, name string, inputs ...*gorgonia.Node) (*gorgonia.Node, error) {
	d := cellDims{kind: kind}
	if len(inputs) != d.states()+6 {
		return nil, fmt.Errorf("%v step: %d inputs, want %d", kind, len(inputs), d.states()+6)
	}
	xs, ws := inputs[0].Shape(), inputs[d.states()+1].Shape()
	if len(xs) != 2 || len(ws) != 2 || ws[0]%kind.Gates() != 0 {
		return nil, fmt.Errorf("%v step: input %v and W_ih %v do not fit", kind, xs, ws)
	}
	d.batch, d.in, d.hidden = xs[0], xs[1], ws[0]/kind.Gates()
	prep, ok := inputs[len(inputs)-1].Op().(cellWeightsOp)
	if !ok || prep.cellDims != (cellDims{kind: kind, in: d.in, hidden: d.hidden}) {
		return nil, fmt.Errorf("%v step: the last input is not the weights node of this cell", kind)
	}
	return Apply(&cellStepOp{cellDims: d, w: prep.w}, name, inputs...)
}

// cellStepOp is one fused recurrent step (see CellStep for its inputs). w is the buffer of the
// cell's weights op; res is the reserve: the gates of the last run (and tanh(c')), for the
// backward op. The op is a pointer, so that its reserve stays one.
type cellStepOp struct {
	base
	cellDims
	w   *cellWeights
	res cellBuf
	ids []int32 // the ids of a one-hot input, (B)
	xw  cellBuf // x W_ihᵀ for an input that is not one-hot, (B, G·H)
}

// cellReserve returns op's reserve buffer of element type T.
func cellReserve[T Float](op *cellStepOp) []T {
	return cellBufOf[T](&op.res, op.batch*op.kind.reserved()*op.hidden)
}

func (op *cellStepOp) Arity() int { return op.states() + 6 }

func (op *cellStepOp) Type() hm.Type {
	ranks := []int{2, 2}
	if op.kind.HasCell() {
		ranks = append(ranks, 2)
	}
	return fnType(2, append(ranks, 2, 2, 1, 1, 2)...)
}

func (op *cellStepOp) InferShape(ds ...gorgonia.DimSizer) (tensor.Shape, error) {
	if err := checkShapes(op, op.stepShapes(), ds); err != nil {
		return nil, err
	}
	return op.outShape(), nil
}

func (op *cellStepOp) WriteHash(h hash.Hash) { op.writeHash(h, "cellStep") }
func (op *cellStepOp) Hashcode() uint32      { return hashOf(op) }
func (op *cellStepOp) String() string {
	return fmt.Sprintf("%vStep(b=%d, in=%d, h=%d)", op.kind, op.batch, op.in, op.hidden)
}

func (op *cellStepOp) Do(vs ...gorgonia.Value) (gorgonia.Value, error) { return op.DoInto(nil, vs...) }

// DoInto computes the step into out, a (B, P·H) tensor of the inputs' dtype.
func (op *cellStepOp) DoInto(out *tensor.Dense, vs ...gorgonia.Value) (gorgonia.Value, error) {
	ts, out, dt, err := sizedInto(op, out, vs, op.stepShapes(), op.outShape())
	if err != nil {
		return nil, err
	}
	return computeInto(dt, out, ts,
		func(o []float32, in [][]float32) error { cellForward(op, o, in, cellReserve[float32](op)); return nil },
		func(o []float64, in [][]float64) error { cellForward(op, o, in, cellReserve[float64](op)); return nil })
}

// cellProduct sets dst (B rows of stride ldd) to a W_ihᵀ, the input product, or with
// recurrent adds a W_hhᵀ, the recurrent product (a of stride lda): the products of a step's
// forward pass, from the cell's packed weights for float32.
func cellProduct[T Float](op *cellStepOp, recurrent bool, a []T, lda int, w []T, dst []T, ldd int) {
	B, H, G, I := op.batch, op.hidden, op.g(), op.in
	k, p := I, &op.w.packX
	if recurrent {
		k, p = H, &op.w.packF
	}
	var beta T
	if recurrent {
		beta = 1
	}
	a32, ok := any(a).([]float32)
	if !ok {
		matmul(false, true, B, G, k, a, lda, w, k, beta, dst, ldd)
		return
	}
	gemm.SgemmPacked(false, B, 1, a32, lda, p, float32(beta), any(dst).([]float32), ldd)
}

// cellForward computes one step of op into out (B, P·H) and the reserve into res; in holds x,
// h, [c], W_ih, W_hh, b_ih, b_hh, W_ihᵀ.
func cellForward[T Float](op *cellStepOp, out []T, in [][]T, res []T) {
	d := op.cellDims
	B, I, H, G := d.batch, d.in, d.hidden, d.g()
	x, h := in[0], in[1]
	k := 2
	var c []T
	if d.kind.HasCell() {
		c = in[2]
		k = 3
	}
	wih, whh, bih, bhh, wT := in[k], in[k+1], in[k+2], in[k+3], in[k+4]
	if len(op.ids) != B {
		op.ids = make([]int32, B)
	}
	// With a one-hot input, row id of wT is x W_ihᵀ; otherwise xw receives x W_ihᵀ.
	var xw []T
	if !cellOneHot(x, B, I, op.ids) {
		xw = cellBufOf[T](&op.xw, B*G)
		cellProduct(op, false, x, I, wih, xw, G)
	}
	// input returns x W_ihᵀ for row b, columns [from, to), or nil for a zero one-hot row.
	input := func(b, from, to int) []T {
		if xw != nil {
			return xw[b*G+from : b*G+to]
		}
		if id := int(op.ids[b]); id >= 0 {
			return wT[id*G+from : id*G+to]
		}
		return nil
	}
	rowWork := max(d.kind.reserved(), 1) * H // per batch row: the elements of the reserve
	switch d.kind {
	case RNNTanh, RNNReLU:
		// out (B, H) = x W_ihᵀ + b_ih + h W_hhᵀ + b_hh, then the nonlinearity in place.
		for b := 0; b < B; b++ {
			biasRow(out[b*H:(b+1)*H], bih, bhh, input(b, 0, H))
		}
		cellProduct(op, true, h, H, whh, out, H)
		cellRows(B, rowWork, func(lo, hi int) { rnnRows(d.kind, out[lo*H:hi*H]) })
	case LSTM:
		// The gate pre-activations (B, 4H) = x W_ihᵀ + b_ih + h W_hhᵀ + b_hh go into the
		// reserve, followed by tanh(c') (B, H); out rows are [h', c'].
		for b := 0; b < B; b++ {
			biasRow(res[b*G:(b+1)*G], bih, bhh, input(b, 0, G))
		}
		cellProduct(op, true, h, H, whh, res, G)
		cellRows(B, rowWork, func(lo, hi int) { lstmRows(H, res, c, out, lo, hi, B) })
	case GRU:
		// Reserve rows: [r, z, W_hn h + b_hn, n]. Columns 0..2H receive x W_irᵀ + b_ir +
		// h W_hrᵀ + b_hr and likewise for z, columns 2H..3H h W_hnᵀ + b_hn (h W_hhᵀ is one
		// product into columns 0..3H), columns 3H..4H x W_inᵀ + b_in.
		R := 4 * H
		for b := 0; b < B; b++ {
			row := res[b*R : (b+1)*R]
			biasRow(row[:2*H], bih[:2*H], bhh[:2*H], input(b, 0, 2*H))
			copy(row[2*H:3*H], bhh[2*H:])
			biasRow(row[3*H:], bih[2*H:], nil, input(b, 2*H, 3*H))
		}
		cellProduct(op, true, h, H, whh, res, R)
		cellRows(B, rowWork, func(lo, hi int) { gruRows(H, res, h, out, lo, hi) })
	}
}

// biasRow sets dst to the sum of the biases src1 + src2 (src2 may be nil) and the input part
// xin (nil for a zero one-hot row).
func biasRow[T Float](dst, src1, src2, xin []T) {
	if is32[T]() {
		d := f32s(dst)
		if src2 != nil {
			add32(d, f32s(src1), f32s(src2))
		} else {
			copy(d, f32s(src1))
		}
		if len(xin) > 0 {
			add32(d[:len(xin)], d[:len(xin)], f32s(xin))
		}
		return
	}
	if src2 != nil {
		for j := range dst {
			dst[j] = src1[j] + src2[j]
		}
	} else {
		copy(dst, src1)
	}
	for j, v := range xin {
		dst[j] += v
	}
}

// rnnRows applies an RNN cell's nonlinearity to its pre-activations o in place.
func rnnRows[T Float](kind CellKind, o []T) {
	if kind == RNNReLU {
		for i, v := range o {
			if v < 0 {
				o[i] = 0
			}
		}
		return
	}
	cellTanhs(o)
}

// lstmRows finishes rows [lo, hi) of an LSTM step: the gate nonlinearities on the reserve
// res (B, 4H) (followed by tanh(c') (B, H)), then c' = f ⊙ c + i ⊙ g and h' = o ⊙ tanh(c')
// into out (B, 2H).
func lstmRows[T Float](H int, res, c, out []T, lo, hi, B int) {
	G := 4 * H
	tanhC := res[B*G:]
	for b := lo; b < hi; b++ {
		gates := res[b*G : (b+1)*G]
		ig, fg, gg, og := gates[:H], gates[H:2*H], gates[2*H:3*H], gates[3*H:]
		cellSigmoids(gates[:2*H]) // i, f
		cellTanhs(gg)             // g
		cellSigmoids(og)          // o
		hn, cn := out[b*2*H:b*2*H+H], out[b*2*H+H:(b+1)*2*H]
		cp, tc := c[b*H:b*H+H], tanhC[b*H:b*H+H]
		if is32[T]() { // the same sums in vector loops where the processor allows
			mulAdd32(f32s(cn), f32s(fg), f32s(cp), f32s(ig), f32s(gg))
			copy(tc, cn)
			cellTanhs(tc)
			mul32(f32s(hn), f32s(og), f32s(tc))
			continue
		}
		for j := range cn {
			cn[j] = fg[j]*cp[j] + ig[j]*gg[j] // c' = f ⊙ c + i ⊙ g
		}
		copy(tc, cn)
		cellTanhs(tc)
		for j := range hn {
			hn[j] = og[j] * tc[j] // h' = o ⊙ tanh(c')
		}
	}
}

// gruRows finishes rows [lo, hi) of a GRU step from its reserve res (B, 4H) and the previous
// state h into out (B, H).
func gruRows[T Float](H int, res, h, out []T, lo, hi int) {
	R := 4 * H
	for b := lo; b < hi; b++ {
		row := res[b*R : (b+1)*R]
		rg, zg, hg, ng := row[:H], row[H:2*H], row[2*H:3*H], row[3*H:]
		cellSigmoids(row[:2*H]) // r, z
		hn, hp := out[b*H:(b+1)*H], h[b*H:(b+1)*H]
		if is32[T]() { // the same sums in vector loops where the processor allows
			addMul32(f32s(ng), f32s(ng), f32s(rg), f32s(hg))
			cellTanhs(ng)
			lerp32(f32s(hn), f32s(ng), f32s(zg), f32s(hp))
			continue
		}
		for j := range ng {
			ng[j] += rg[j] * hg[j]
		}
		cellTanhs(ng) // n = tanh(W_in x + b_in + r ⊙ (W_hn h + b_hn))
		for j := range hn {
			hn[j] = ng[j] + zg[j]*(hp[j]-ng[j]) // h' = (1 - z) ⊙ n + z ⊙ h
		}
	}
}
