package nodes

import (
	"fmt"
	"hash"
	"hash/fnv"

	"github.com/chewxy/hm"
	"gorgonia.org/gorgonia"
	"gorgonia.org/tensor"

	"github.com/unroll-ml/unroll/internal/compute"
	"github.com/unroll-ml/unroll/nodes/gemm"
)

// The fused cell ops.
//
// Forward. One recurrent step is one Gorgonia node: cellStepOp computes the gate
// pre-activations with two matrix products (x W_ihᵀ and h W_hhᵀ, added to the biases), then
// every gate nonlinearity and the state update in one loop over the (B, H) elements. Its
// output is h' (B, H) for RNN and GRU cells; a Gorgonia op has one output, so an LSTM step
// packs h' and c' row by row into one (B, 2H) tensor, which two cellColsOp nodes cut apart.
// The gates after their nonlinearity (i, f, g, o and tanh(c') for an LSTM; r, z, W_hn h + b_hn
// and n for a GRU) stay in the op's reserve buffer, as cuDNN's reserve space does, for the
// backward pass of the same run, which therefore needs no second pair of matrix products.
//
// Weights of a run. The steps of a chain multiply by the same weights, which change only
// between runs: the chain's first step to need them prepares them once a run, W_hh (and W_ih
// for inputs that are not one-hot) packed for gemm.SgemmPacked in float32, so that the
// products of a step pack only the few rows of state.
//
// One-hot inputs. When every row of x holds a single 1 and zeros elsewhere (or only zeros), as
// a character model's input does, x W_ihᵀ is column id of W_ih: the step adds that column
// instead of multiplying (the same network and the same sums, without the products by zero).
// The chain's first step transposes W_ih once a run, so that each column is a contiguous row;
// the weight gradient dW_ih = Σ dG_iᵀ x is then a scatter-add of the rows of dG_i into the
// columns of the inputs' ids. Inputs of any other kind take the matrix products.
//
// Backward, per step. cellGradOp takes the step's state inputs, W_hh, its output and the
// gradient of its output (and reads the reserve) and returns [dh (B·H) | dc (B·H, LSTM)],
// which cellPartOp nodes cut apart. It writes dG_i and dG_h, the gradients of the
// pre-activations x W_ihᵀ + b_ih and h W_hhᵀ + b_hh (the same for RNN and LSTM), (B, G·H) each,
// into the chain's stacked buffers at the step's rows, where the weight gradient reads them
// without a copy; a cellInputGradOp computes dx = dG_i W_ih from them, and the executor runs it
// only when something needs dx (not for a graph input such as a one-hot character). The graph
// edges order these reads after the writes: each reader takes the step's backward node as an
// input.
//
// The gradient of a step's output is a sum: Gorgonia adds what the next step and the layer's
// output (the head) send back, each placed into its columns of a zero (B, P·H) matrix. The
// backward op does that sum itself: it looks through the additions, column scatters and cuts
// that lead to the gradient (cellGradTerms) and reads each contribution where it was
// computed, so those nodes are not run (the executor runs only what the outputs need; the
// TapeMachine runs them all and gets the same values).
//
// Backward, weights. The weights are shared by every step, so their gradient is a sum over
// steps, dW_ih = Σ_t dG_i,tᵀ x_t, dW_hh = Σ_t dG_h,tᵀ h_{t-1}, db = Σ_t Σ_b dG_t. Left to
// Gorgonia, every step would return its own weight-sized gradient and the graph would add T of
// them up (about 40% of a training step, and T weight-sized buffers). Instead the consecutive
// steps of one cell form a chain: each step records its gradient node in the chain and
// declares no gradient for the weights, except the chain's first step, which returns the
// gradient of the whole chain, computed by one cellChainGradOp from every step's dG, x and h
// with one matrix product per weight. Gorgonia differentiates in reverse topological order,
// and every later step depends on the first through the state, so the first step's SymDiff
// runs after all the others have recorded their gradient nodes. A step continues a chain when
// its state comes from the previous step of the same cell (through cellColsOp and maskOp);
// any other step starts a chain of its own.
//
// Threads. The matrix products use package gemm's threads. The elementwise loops of a step run
// on up to compute.Threads() goroutines, split by batch rows (cellRows), when a step is large
// enough to gain from it; every element is computed by the same code whatever the split. The
// sums over rows of a whole chain (bias gradients, the one-hot scatter-add) are split by
// columns, each column summed in row order. Results are therefore bit-identical for any number
// of threads.
//
// All ops work in float32 and float64, use package gemm for the products, allocate nothing per
// element and can write into buffers the executor keeps (DoInto).

// cellKind names the recurrence a fused step computes.
type cellKind uint8

const (
	cellRNNTanh cellKind = iota
	cellRNNReLU
	cellLSTM
	cellGRU
)

func (k cellKind) String() string {
	switch k {
	case cellRNNReLU:
		return "rnn_relu"
	case cellLSTM:
		return "lstm"
	case cellGRU:
		return "gru"
	}
	return "rnn_tanh"
}

// gates is G, the number of gate blocks of H rows in W_ih and W_hh.
func (k cellKind) gates() int {
	switch k {
	case cellLSTM:
		return 4
	case cellGRU:
		return 3
	}
	return 1
}

// packed is P, the width of the step's output in units of H: h', and c' for an LSTM.
func (k cellKind) packed() int {
	if k == cellLSTM {
		return 2
	}
	return 1
}

// reserved is the width of what the forward pass keeps for the backward pass, in units of H:
// the LSTM's four gates and tanh(c'), the GRU's three gates and W_hn h + b_hn.
func (k cellKind) reserved() int {
	switch k {
	case cellLSTM:
		return 5
	case cellGRU:
		return 4
	}
	return 0
}

func (k cellKind) hasCell() bool { return k == cellLSTM }

// cellDims are the sizes a step op is built for.
type cellDims struct {
	kind              cellKind
	batch, in, hidden int
}

func (d cellDims) writeHash(h hash.Hash, tag string) {
	fmt.Fprintf(h, "%s{%v b=%d in=%d h=%d}", tag, d.kind, d.batch, d.in, d.hidden)
}

// inputShapes lists the shapes of the step's inputs: x, h, [c], W_ih, W_hh, b_ih, b_hh.
func (d cellDims) inputShapes() []tensor.Shape {
	g := d.kind.gates() * d.hidden
	s := []tensor.Shape{{d.batch, d.in}, {d.batch, d.hidden}}
	if d.kind.hasCell() {
		s = append(s, tensor.Shape{d.batch, d.hidden})
	}
	return append(s, tensor.Shape{g, d.in}, tensor.Shape{g, d.hidden}, tensor.Shape{g}, tensor.Shape{g})
}

// states is the number of state inputs (h, and c for an LSTM).
func (d cellDims) states() int {
	if d.kind.hasCell() {
		return 2
	}
	return 1
}

// outShape is the shape of the packed step output.
func (d cellDims) outShape() tensor.Shape {
	return tensor.Shape{d.batch, d.kind.packed() * d.hidden}
}

// cellLabel names a value in errors.
type cellLabel string

func (l cellLabel) String() string { return string(l) }

// cellFloat is the element type of the fused ops' values.
type cellFloat interface{ ~float32 | ~float64 }

// cellChain groups consecutive steps of one cell for the weight gradient (see above). It is
// filled while the graph is built (steps) and differentiated (grads). While the graph runs it
// holds what the steps of one run share: the run count, advanced by the chain's first step,
// the weights as the products of every step want them, made by the first step of a run that
// needs them, and the stacked pre-activation gradients.
type cellChain struct {
	owner *cellBase // the cell whose steps may join
	dims  cellDims
	steps int
	grads []cellChainStep // by step index; entries stay empty for steps never differentiated
	done  bool            // the first step has built the chain's weight gradient

	run int // forward runs of the chain's first step
	// W_ihᵀ (In, G·H), whose row id is x W_ihᵀ for a one-hot row id, and, in float32, W_ihᵀ,
	// W_hhᵀ and W_hh packed for the products x W_ihᵀ and h W_hhᵀ (forward) and dG_h W_hh
	// (backward); each with the run it was made in (0: never).
	wT                      cellBuf
	packX, packF, packB     gemm.PackedB
	wTRun, xRun, fRun, bRun int
	// dG_i and dG_h of every step, (steps·B, G·H) with the rows of step i at i·B: each step's
	// backward op writes its rows, the input and weight gradients read them.
	dgi, dgh cellBuf
}

// cellChainStep is what one step contributes to the weight gradient: its gradient node and its
// input and state nodes.
type cellChainStep struct {
	bw, x, h *gorgonia.Node
}

func (c *cellChain) record(i int, s cellChainStep) {
	for len(c.grads) <= i {
		c.grads = append(c.grads, cellChainStep{})
	}
	c.grads[i] = s
}

// cellChainDG returns the chain's stacked dG_i and dG_h (the same slice except for a GRU).
func cellChainDG[T cellFloat](c *cellChain) (dgi, dgh []T) {
	n := c.steps * c.dims.batch * c.dims.kind.gates() * c.dims.hidden
	dgi = cellBufOf[T](&c.dgi, n)
	dgh = dgi
	if c.dims.kind == cellGRU {
		dgh = cellBufOf[T](&c.dgh, n)
	}
	return dgi, dgh
}

// cellTransposedInput returns W_ihᵀ (In, G·H) for this run, transposing wih (G·H, In) on the
// first call of the run.
func cellTransposedInput[T cellFloat](c *cellChain, wih []T) []T {
	G, I := c.dims.kind.gates()*c.dims.hidden, c.dims.in
	wT := cellBufOf[T](&c.wT, I*G)
	if c.wTRun != c.run {
		for j := 0; j < G; j++ {
			row := wih[j*I : (j+1)*I]
			for i, v := range row {
				wT[i*G+j] = v
			}
		}
		c.wTRun = c.run
	}
	return wT
}

// cellPacked returns p packed with op(B), k x n, for this run: packed on the first call of
// the run (*at records it).
func cellPacked(c *cellChain, p *gemm.PackedB, at *int, transB bool, k, n int, b []float32, ldb int) *gemm.PackedB {
	if *at != c.run {
		p.Pack(transB, k, n, b, ldb)
		*at = c.run
	}
	return p
}

// cellProduct sets dst (B rows of stride ldd) to a W_ihᵀ, the input product, or with
// recurrent adds a W_hhᵀ, the recurrent product (a of stride lda): the products of a step's
// forward pass, from the chain's packed weights for float32.
func cellProduct[T cellFloat](c *cellChain, recurrent bool, a []T, lda int, w []T, dst []T, ldd int) {
	B, H, G, I := c.dims.batch, c.dims.hidden, c.dims.kind.gates()*c.dims.hidden, c.dims.in
	k, p := I, &c.packX
	if recurrent {
		k, p = H, &c.packF
	}
	a32, ok := any(a).([]float32)
	if !ok {
		cellGemm(false, true, B, G, k, a, lda, w, k, recurrent, dst, ldd)
		return
	}
	beta := float32(0)
	if recurrent {
		beta = 1
	}
	gemm.SgemmPacked(false, B, 1, a32, lda, p, beta, any(dst).([]float32), ldd)
}

// cellPrepare makes, on the first step of a run that needs them, the packed weights of the
// step's products in float32: W_ihᵀ unless the input is one-hot, and W_hhᵀ.
func cellPrepare[T cellFloat](c *cellChain, wih, whh []T, oneHot bool) {
	w32, ok := any(wih).([]float32)
	if !ok {
		return
	}
	H, G, I := c.dims.hidden, c.dims.kind.gates()*c.dims.hidden, c.dims.in
	if !oneHot {
		cellPacked(c, &c.packX, &c.xRun, true, I, G, w32, I)
	}
	cellPacked(c, &c.packF, &c.fRun, true, H, G, any(whh).([]float32), H)
}

// cellRecurrentGrad sets dh to dgh W_hh, or adds it with accumulate: the backward product of a
// step, with W_hh packed once a run for float32 (cellPrepareGrad).
func cellRecurrentGrad[T cellFloat](c *cellChain, dgh, whh []T, accumulate bool, dh []T) {
	B, H, G := c.dims.batch, c.dims.hidden, c.dims.kind.gates()*c.dims.hidden
	g32, ok := any(dgh).([]float32)
	if !ok {
		cellGemm(false, false, B, H, G, dgh, G, whh, H, accumulate, dh, H)
		return
	}
	beta := float32(0)
	if accumulate {
		beta = 1
	}
	gemm.SgemmPacked(false, B, 1, g32, G, &c.packB, beta, any(dh).([]float32), H)
}

// cellPrepareGrad packs W_hh for the backward products of this run, in float32.
func cellPrepareGrad[T cellFloat](c *cellChain, whh []T) {
	if w32, ok := any(whh).([]float32); ok {
		H, G := c.dims.hidden, c.dims.kind.gates()*c.dims.hidden
		cellPacked(c, &c.packB, &c.bRun, false, G, H, w32, H)
	}
}

// cellBuf is a scratch slice of either element type, kept between runs.
type cellBuf struct {
	f32 []float32
	f64 []float64
}

// cellBufOf returns b's slice of element type T resized to n elements (its contents are kept
// when the size does not change).
func cellBufOf[T cellFloat](b *cellBuf, n int) []T {
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
// parallel (parallelFor) when the rows hold at least cellMinParallel elements of perRow each.
// Every row is computed by the same code whatever the split.
func cellRows(rows, perRow int, body func(lo, hi int)) {
	if rows*perRow < cellMinParallel {
		body(0, rows)
		return
	}
	compute.For(rows, rows*perRow, body)
}

// cellOneHot reports whether every row of x (B, In) holds at most one non-zero value and
// that value is 1, and if so writes each row's column of the 1 (or -1 for a zero row) into ids.
func cellOneHot[T cellFloat](x []T, batch, in int, ids []int32) bool {
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

// cellStepOp is one fused recurrent step. Inputs: x (B, In), h (B, H), c (B, H) for an LSTM
// only, W_ih (G·H, In), W_hh (G·H, H), b_ih (G·H), b_hh (G·H). Output: h' (B, H), or [h', c']
// (B, 2H) for an LSTM. index is the step's position in its chain, 0 for the chain's first
// step. res is the reserve: the gates of the last run (and tanh(c')), for the backward op.
type cellStepOp struct {
	cellDims
	chain *cellChain
	index int
	res   cellBuf
	ids   []int32 // the ids of a one-hot input, (B)
	xw    cellBuf // x W_ihᵀ for an input that is not one-hot, (B, G·H)
}

// cellReserve returns op's reserve buffer of element type T.
func cellReserve[T cellFloat](op *cellStepOp) []T {
	return cellBufOf[T](&op.res, op.batch*op.kind.reserved()*op.hidden)
}

func (op *cellStepOp) Arity() int { return op.states() + 5 }

func (op *cellStepOp) Type() hm.Type {
	a := hm.TypeVariable('a')
	m := gorgonia.TensorType{Dims: 2, Of: a}
	v := gorgonia.TensorType{Dims: 1, Of: a}
	ts := []hm.Type{m, m}
	if op.kind.hasCell() {
		ts = append(ts, m)
	}
	ts = append(ts, m, m, v, v, m)
	return hm.NewFnType(ts...)
}

func checkCellShapes(what fmt.Stringer, want []tensor.Shape, got []gorgonia.DimSizer) error {
	if len(got) != len(want) {
		return fmt.Errorf("%s: %d inputs, want %d", what, len(got), len(want))
	}
	for i, w := range want {
		s, ok := got[i].(tensor.Shape)
		if !ok || !s.Eq(w) {
			return fmt.Errorf("%s: input %d has shape %v, want %v", what, i, got[i], w)
		}
	}
	return nil
}

func (op *cellStepOp) InferShape(ds ...gorgonia.DimSizer) (tensor.Shape, error) {
	if err := checkCellShapes(op, op.inputShapes(), ds); err != nil {
		return nil, err
	}
	return op.outShape(), nil
}

func (op *cellStepOp) ReturnsPtr() bool     { return false }
func (op *cellStepOp) CallsExtern() bool    { return false }
func (op *cellStepOp) OverwritesInput() int { return -1 }
func (op *cellStepOp) WriteHash(h hash.Hash) {
	op.writeHash(h, "cellStep")
	fmt.Fprintf(h, "#%d", op.index)
}
func (op *cellStepOp) Hashcode() uint32 { return cellHash(op) }
func (op *cellStepOp) String() string {
	return fmt.Sprintf("%vStep(b=%d, in=%d, h=%d)", op.kind, op.batch, op.in, op.hidden)
}

func cellHash(op interface{ WriteHash(hash.Hash) }) uint32 {
	h := fnv.New32a()
	op.WriteHash(h)
	return h.Sum32()
}

func (op *cellStepOp) Do(vs ...gorgonia.Value) (gorgonia.Value, error) {
	dt, err := cellDtype(op, vs, op.Arity())
	if err != nil {
		return nil, err
	}
	return op.DoInto(tensor.New(tensor.Of(dt), tensor.WithShape(op.outShape()...)), vs...)
}

// DoInto computes the step into out, a (B, P·H) tensor of the inputs' dtype.
func (op *cellStepOp) DoInto(out *tensor.Dense, vs ...gorgonia.Value) (gorgonia.Value, error) {
	if err := checkCellValues(op, op.inputShapes(), vs, out, op.outShape()); err != nil {
		return nil, err
	}
	switch o := out.Data().(type) {
	case []float32:
		in, err := cellSlices[float32](op, vs)
		if err != nil {
			return nil, err
		}
		cellForward(op, o, in, cellReserve[float32](op))
	case []float64:
		in, err := cellSlices[float64](op, vs)
		if err != nil {
			return nil, err
		}
		cellForward(op, o, in, cellReserve[float64](op))
	default:
		return nil, fmt.Errorf("%v: unsupported dtype %v", op, out.Dtype())
	}
	return out, nil
}

// DiffWRT: x and the state always; the weights only for the first step of a chain, which
// returns the whole chain's weight gradient.
func (op *cellStepOp) DiffWRT(n int) []bool {
	w := make([]bool, n)
	for i := range w {
		w[i] = i <= op.states() || op.index == 0
	}
	return w
}

// SymDiff adds the step's backward op (which reads the contributions to the output gradient
// in place, see cellGradTerms), the cuts of dh (and dc) and the input gradient, records the
// backward op in the chain and, for the chain's first step, adds the chain's weight gradient.
func (op *cellStepOp) SymDiff(inputs gorgonia.Nodes, output, grad *gorgonia.Node) (gorgonia.Nodes, error) {
	if len(inputs) != op.Arity() {
		return nil, fmt.Errorf("%v: symdiff with %d inputs, want %d", op, len(inputs), op.Arity())
	}
	ns := op.states()
	termNodes, terms := cellGradTerms(grad, op.batch, op.outShape()[1])
	args := append(gorgonia.Nodes{}, inputs[1:ns+1]...) // h, [c]
	args = append(args, inputs[ns+2], output)           // W_hh, the output
	args = append(args, termNodes...)
	bwOp := &cellGradOp{cellDims: op.cellDims, fwd: op, terms: terms}
	bw, err := gorgonia.ApplyOp(bwOp, args...)
	if err != nil {
		return nil, fmt.Errorf("%v: backward: %w", op, err)
	}
	grads := make(gorgonia.Nodes, len(inputs))
	if grads[0], err = gorgonia.ApplyOp(&cellInputGradOp{cellDims: op.cellDims, chain: op.chain, index: op.index}, bw, inputs[ns+1]); err != nil {
		return nil, fmt.Errorf("%v: input gradient: %w", op, err)
	}
	shapes := op.inputShapes()
	off := 0
	for i := 1; i <= ns; i++ { // dh, [dc]
		if grads[i], err = cellPart(bw, bwOp.size(), off, shapes[i]); err != nil {
			return nil, fmt.Errorf("%v: %w", op, err)
		}
		off += shapes[i].TotalSize()
	}
	if op.chain.done {
		// Cannot happen in reverse topological order; refuse rather than drop a gradient.
		return nil, fmt.Errorf("%v: step %d of a chain differentiated after its first step", op, op.index)
	}
	op.chain.record(op.index, cellChainStep{bw: bw, x: inputs[0], h: inputs[1]})
	if op.index != 0 {
		return grads, nil
	}
	op.chain.done = true
	// The first step: every other step of the chain has recorded its gradient node.
	cg := &cellChainGradOp{cellDims: op.cellDims, chain: op.chain}
	var cargs gorgonia.Nodes
	for i, s := range op.chain.grads {
		if s.bw != nil {
			cargs = append(cargs, s.bw, s.x, s.h)
			cg.indices = append(cg.indices, i)
			cg.steps++
		}
	}
	wg, err := gorgonia.ApplyOp(cg, cargs...)
	if err != nil {
		return nil, fmt.Errorf("%v: weight gradient: %w", op, err)
	}
	off = 0
	for i := ns + 1; i < len(inputs); i++ { // W_ih, W_hh, b_ih, b_hh
		if grads[i], err = cellPart(wg, cg.size(), off, shapes[i]); err != nil {
			return nil, fmt.Errorf("%v: %w", op, err)
		}
		off += shapes[i].TotalSize()
	}
	return grads, nil
}

// cellPart adds a node holding elements [off, off+size(shape)) of the flat node v of total
// elements, shaped as shape.
func cellPart(v *gorgonia.Node, total, off int, shape tensor.Shape) (*gorgonia.Node, error) {
	return gorgonia.ApplyOp(&cellPartOp{offset: off, total: total, shape: shape.Clone()}, v)
}

// cellStepOf returns the step op that produced a state node, looking through the column cuts
// and masks of the cells, or nil.
func cellStepOf(n *gorgonia.Node) *cellStepOp {
	if n == nil {
		return nil
	}
	switch op := n.Op().(type) {
	case *cellStepOp:
		return op
	case *cellColsOp:
		return op.src
	case *maskOp:
		return op.src
	}
	return nil
}

// cellColsOp copies columns [from, to) of a (B, N) matrix: it cuts h' and c' out of a packed
// step output. src is the step that produced the matrix (graph-building information only).
type cellColsOp struct {
	batch, width, from, to int
	src                    *cellStepOp
}

func (op *cellColsOp) Arity() int { return 1 }
func (op *cellColsOp) Type() hm.Type {
	m := gorgonia.TensorType{Dims: 2, Of: hm.TypeVariable('a')}
	return hm.NewFnType(m, m)
}
func (op *cellColsOp) outShape() tensor.Shape { return tensor.Shape{op.batch, op.to - op.from} }
func (op *cellColsOp) InferShape(ds ...gorgonia.DimSizer) (tensor.Shape, error) {
	if err := checkCellShapes(op, []tensor.Shape{{op.batch, op.width}}, ds); err != nil {
		return nil, err
	}
	return op.outShape(), nil
}
func (op *cellColsOp) ReturnsPtr() bool     { return false }
func (op *cellColsOp) CallsExtern() bool    { return false }
func (op *cellColsOp) OverwritesInput() int { return -1 }
func (op *cellColsOp) WriteHash(h hash.Hash) {
	fmt.Fprintf(h, "cellCols{b=%d n=%d [%d, %d)}", op.batch, op.width, op.from, op.to)
}
func (op *cellColsOp) Hashcode() uint32 { return cellHash(op) }
func (op *cellColsOp) String() string   { return fmt.Sprintf("cols[%d:%d]", op.from, op.to) }

func (op *cellColsOp) Do(vs ...gorgonia.Value) (gorgonia.Value, error) {
	dt, err := cellDtype(op, vs, 1)
	if err != nil {
		return nil, err
	}
	return op.DoInto(tensor.New(tensor.Of(dt), tensor.WithShape(op.outShape()...)), vs...)
}

// DoInto copies the columns into out (B, to-from).
func (op *cellColsOp) DoInto(out *tensor.Dense, vs ...gorgonia.Value) (gorgonia.Value, error) {
	if err := checkCellValues(op, []tensor.Shape{{op.batch, op.width}}, vs, out, op.outShape()); err != nil {
		return nil, err
	}
	var err error
	switch o := out.Data().(type) {
	case []float32:
		err = cellCopyCols(o, vs, op.batch, op.width, op.from, op.to, false)
	case []float64:
		err = cellCopyCols(o, vs, op.batch, op.width, op.from, op.to, false)
	default:
		err = fmt.Errorf("%v: unsupported dtype %v", op, out.Dtype())
	}
	if err != nil {
		return nil, err
	}
	return out, nil
}

// cellCopyCols copies columns [from, to) of the (B, N) value vs[0] into out (B, to-from), or,
// with scatter, the (B, to-from) value into those columns of out (B, N), zero elsewhere.
func cellCopyCols[T cellFloat](out []T, vs []gorgonia.Value, batch, width, from, to int, scatter bool) error {
	in, err := cellSlices[T](cellLabel("cols"), vs)
	if err != nil {
		return err
	}
	src, w := in[0], to-from
	if scatter {
		clear(out)
	}
	for b := 0; b < batch; b++ {
		if scatter {
			copy(out[b*width+from:b*width+to], src[b*w:(b+1)*w])
		} else {
			copy(out[b*w:(b+1)*w], src[b*width+from:b*width+to])
		}
	}
	return nil
}

func (op *cellColsOp) DiffWRT(int) []bool { return []bool{true} }

// SymDiff places the gradient back into its columns of a zero (B, N) matrix.
func (op *cellColsOp) SymDiff(inputs gorgonia.Nodes, output, grad *gorgonia.Node) (gorgonia.Nodes, error) {
	g, err := gorgonia.ApplyOp(&cellColsGradOp{cols: *op}, grad)
	if err != nil {
		return nil, fmt.Errorf("%v: backward: %w", op, err)
	}
	return gorgonia.Nodes{g}, nil
}

// cellColsGradOp is cellColsOp's backward: (B, to-from) into (B, N), zero elsewhere.
type cellColsGradOp struct{ cols cellColsOp }

func (op *cellColsGradOp) Arity() int { return 1 }
func (op *cellColsGradOp) Type() hm.Type {
	m := gorgonia.TensorType{Dims: 2, Of: hm.TypeVariable('a')}
	return hm.NewFnType(m, m)
}
func (op *cellColsGradOp) InferShape(ds ...gorgonia.DimSizer) (tensor.Shape, error) {
	if err := checkCellShapes(op, []tensor.Shape{op.cols.outShape()}, ds); err != nil {
		return nil, err
	}
	return tensor.Shape{op.cols.batch, op.cols.width}, nil
}
func (op *cellColsGradOp) ReturnsPtr() bool     { return false }
func (op *cellColsGradOp) CallsExtern() bool    { return false }
func (op *cellColsGradOp) OverwritesInput() int { return -1 }
func (op *cellColsGradOp) WriteHash(h hash.Hash) {
	fmt.Fprint(h, "cellColsGrad")
	op.cols.WriteHash(h)
}
func (op *cellColsGradOp) Hashcode() uint32 { return cellHash(op) }
func (op *cellColsGradOp) String() string {
	return fmt.Sprintf("∂cols[%d:%d]", op.cols.from, op.cols.to)
}

func (op *cellColsGradOp) Do(vs ...gorgonia.Value) (gorgonia.Value, error) {
	dt, err := cellDtype(op, vs, 1)
	if err != nil {
		return nil, err
	}
	return op.DoInto(tensor.New(tensor.Of(dt), tensor.WithShape(op.cols.batch, op.cols.width)), vs...)
}

// DoInto writes the gradient into its columns of out (B, N), zero elsewhere.
func (op *cellColsGradOp) DoInto(out *tensor.Dense, vs ...gorgonia.Value) (gorgonia.Value, error) {
	c := op.cols
	if err := checkCellValues(op, []tensor.Shape{c.outShape()}, vs, out, tensor.Shape{c.batch, c.width}); err != nil {
		return nil, err
	}
	var err error
	switch o := out.Data().(type) {
	case []float32:
		err = cellCopyCols(o, vs, c.batch, c.width, c.from, c.to, true)
	case []float64:
		err = cellCopyCols(o, vs, c.batch, c.width, c.from, c.to, true)
	default:
		err = fmt.Errorf("%v: unsupported dtype %v", op, out.Dtype())
	}
	if err != nil {
		return nil, err
	}
	return out, nil
}

// cellDtype checks the number of values and returns their common dtype.
func cellDtype(what fmt.Stringer, vs []gorgonia.Value, arity int) (tensor.Dtype, error) {
	if len(vs) != arity {
		return tensor.Dtype{}, fmt.Errorf("%s: %d inputs, want %d", what, len(vs), arity)
	}
	var dt tensor.Dtype
	for i, v := range vs {
		if v == nil {
			return tensor.Dtype{}, fmt.Errorf("%s: input %d has no value", what, i)
		}
		if i == 0 {
			dt = v.Dtype()
		} else if v.Dtype() != dt {
			return tensor.Dtype{}, fmt.Errorf("%s: input %d is %v, input 0 is %v", what, i, v.Dtype(), dt)
		}
	}
	if dt != tensor.Float32 && dt != tensor.Float64 {
		return tensor.Dtype{}, fmt.Errorf("%s: unsupported dtype %v (float32 or float64)", what, dt)
	}
	return dt, nil
}

// checkCellValues checks the values' count, dtypes and sizes and the output's shape.
func checkCellValues(what fmt.Stringer, want []tensor.Shape, vs []gorgonia.Value, out *tensor.Dense, outShape tensor.Shape) error {
	dt, err := cellDtype(what, vs, len(want))
	if err != nil {
		return err
	}
	for i, w := range want {
		if vs[i].Shape().TotalSize() != w.TotalSize() {
			return fmt.Errorf("%s: input %d has shape %v, want %v", what, i, vs[i].Shape(), w)
		}
	}
	if out == nil || out.Dtype() != dt || out.Shape().TotalSize() != outShape.TotalSize() {
		return fmt.Errorf("%s: output buffer does not match %v %v", what, dt, outShape)
	}
	return nil
}

// cellSlices returns the backing slices of the values, materialising views.
func cellSlices[T cellFloat](what fmt.Stringer, vs []gorgonia.Value) ([][]T, error) {
	out := make([][]T, len(vs))
	for i, v := range vs {
		if w, ok := v.(tensor.View); ok && w.IsMaterializable() {
			v = w.Materialize()
		}
		t, ok := v.(tensor.Tensor)
		if !ok {
			return nil, fmt.Errorf("%s: input %d is %T, not a tensor", what, i, v)
		}
		var data any
		if dense, ok := t.(*tensor.Dense); ok && dense.Dtype() == tensor.Float32 {
			data = dense.Float32s() // without the reflection Data uses
		} else if ok && dense.Dtype() == tensor.Float64 {
			data = dense.Float64s()
		} else {
			data = t.Data()
		}
		d, ok := data.([]T)
		if !ok {
			return nil, fmt.Errorf("%s: input %d holds %T", what, i, data)
		}
		out[i] = d
	}
	return out, nil
}

// intoFloats runs the float32 or float64 kernel, as out's dtype asks, on out's backing and the
// inputs' backings, and returns out.
func intoFloats(what fmt.Stringer, out *tensor.Dense, vs []gorgonia.Value,
	f32 func(out []float32, in [][]float32), f64 func(out []float64, in [][]float64)) (gorgonia.Value, error) {
	switch o := out.Data().(type) {
	case []float32:
		in, err := cellSlices[float32](what, vs)
		if err != nil {
			return nil, err
		}
		f32(o, in)
	case []float64:
		in, err := cellSlices[float64](what, vs)
		if err != nil {
			return nil, err
		}
		f64(o, in)
	default:
		return nil, fmt.Errorf("%v: unsupported dtype %v", what, out.Dtype())
	}
	return out, nil
}

// cellGemm is C = A·B (+ C when accumulate) in T's precision, with package gemm's row-major
// BLAS semantics.
func cellGemm[T cellFloat](transA, transB bool, m, n, k int, a []T, lda int, b []T, ldb int, accumulate bool, c []T, ldc int) {
	switch av := any(a).(type) {
	case []float32:
		beta := float32(0)
		if accumulate {
			beta = 1
		}
		gemm.Sgemm(transA, transB, m, n, k, 1, av, lda, any(b).([]float32), ldb, beta, any(c).([]float32), ldc)
	case []float64:
		beta := 0.0
		if accumulate {
			beta = 1
		}
		gemm.Dgemm(transA, transB, m, n, k, 1, av, lda, any(b).([]float64), ldb, beta, any(c).([]float64), ldc)
	}
}

// cellForward computes one step of op into out (B, P·H) and the reserve into res; in
// holds x, h, [c], W_ih, W_hh, b_ih, b_hh.
func cellForward[T cellFloat](op *cellStepOp, out []T, in [][]T, res []T) {
	d := op.cellDims
	B, I, H := d.batch, d.in, d.hidden
	G := d.kind.gates() * H
	x, h := in[0], in[1]
	k := 2
	var c []T
	if d.kind.hasCell() {
		c = in[2]
		k = 3
	}
	wih, whh, bih, bhh := in[k], in[k+1], in[k+2], in[k+3]
	chain := op.chain
	if op.index == 0 {
		chain.run++
	}
	if len(op.ids) != B {
		op.ids = make([]int32, B)
	}
	// wT, when the input is one-hot, is W_ihᵀ: row id is x W_ihᵀ for the one-hot row id.
	// Otherwise xw receives x W_ihᵀ.
	var wT, xw []T
	oneHot := cellOneHot(x, B, I, op.ids)
	if oneHot {
		wT = cellTransposedInput(chain, wih)
	} else {
		xw = cellBufOf[T](&op.xw, B*G)
	}
	cellPrepare(chain, wih, whh, oneHot)
	// input returns x W_ihᵀ for row b, columns [from, to), or nil for a zero one-hot row.
	input := func(b, from, to int) []T {
		if wT == nil {
			return xw[b*G+from : b*G+to]
		}
		if id := int(op.ids[b]); id >= 0 {
			return wT[id*G+from : id*G+to]
		}
		return nil
	}
	// bias sets dst to the sum of the biases src1 + src2 (src2 may be nil) and the input part.
	bias := func(dst, src1, src2, xin []T) {
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
	if xw != nil {
		cellProduct(chain, false, x, I, wih, xw, G)
	}
	rowWork := max(d.kind.reserved(), 1) * H // per batch row: the elements of the reserve
	switch d.kind {
	case cellRNNTanh, cellRNNReLU:
		// out (B, H) = x W_ihᵀ + b_ih + h W_hhᵀ + b_hh, then the nonlinearity in place.
		for b := 0; b < B; b++ {
			bias(out[b*H:(b+1)*H], bih, bhh, input(b, 0, H))
		}
		cellProduct(chain, true, h, H, whh, out, H)
		cellRows(B, rowWork, func(lo, hi int) {
			o := out[lo*H : hi*H]
			if d.kind == cellRNNReLU {
				for i, v := range o {
					if v < 0 {
						o[i] = 0
					}
				}
			} else {
				cellTanhs(o)
			}
		})
	case cellLSTM:
		// The gate pre-activations (B, 4H) = x W_ihᵀ + b_ih + h W_hhᵀ + b_hh go into the
		// reserve, followed by tanh(c') (B, H); out rows are [h', c'].
		tanhC := res[B*G:]
		for b := 0; b < B; b++ {
			bias(res[b*G:(b+1)*G], bih, bhh, input(b, 0, G))
		}
		cellProduct(chain, true, h, H, whh, res, G)
		cellRows(B, rowWork, func(lo, hi int) {
			for b := lo; b < hi; b++ {
				gates := res[b*G : (b+1)*G]
				ig, fg, gg, og := gates[:H], gates[H:2*H], gates[2*H:3*H], gates[3*H:]
				cellSigmoids(gates[:2*H]) // i, f
				cellTanhs(gg)             // g
				cellSigmoids(og)          // o
				hn, cn := out[b*2*H:b*2*H+H], out[b*2*H+H:(b+1)*2*H]
				cp, tc := c[b*H:b*H+H], tanhC[b*H:b*H+H]
				for j := range cn {
					cn[j] = fg[j]*cp[j] + ig[j]*gg[j] // c' = f ⊙ c + i ⊙ g
				}
				copy(tc, cn)
				cellTanhs(tc)
				for j := range hn {
					hn[j] = og[j] * tc[j] // h' = o ⊙ tanh(c')
				}
			}
		})
	case cellGRU:
		// Reserve rows: [r, z, W_hn h + b_hn, n]. Columns 0..2H receive x W_irᵀ + b_ir +
		// h W_hrᵀ + b_hr and likewise for z, columns 2H..3H h W_hnᵀ + b_hn (h W_hhᵀ is one
		// product into columns 0..3H), columns 3H..4H x W_inᵀ + b_in.
		R := 4 * H
		for b := 0; b < B; b++ {
			row := res[b*R : (b+1)*R]
			bias(row[:2*H], bih[:2*H], bhh[:2*H], input(b, 0, 2*H))
			copy(row[2*H:3*H], bhh[2*H:])
			bias(row[3*H:], bih[2*H:], nil, input(b, 2*H, 3*H))
		}
		cellProduct(chain, true, h, H, whh, res, R)
		cellRows(B, rowWork, func(lo, hi int) {
			for b := lo; b < hi; b++ {
				row := res[b*R : (b+1)*R]
				rg, zg, hg, ng := row[:H], row[H:2*H], row[2*H:3*H], row[3*H:]
				cellSigmoids(row[:2*H]) // r, z
				for j := range ng {
					ng[j] += rg[j] * hg[j]
				}
				cellTanhs(ng) // n = tanh(W_in x + b_in + r ⊙ (W_hn h + b_hn))
				hn, hp := out[b*H:(b+1)*H], h[b*H:(b+1)*H]
				for j := range hn {
					hn[j] = ng[j] + zg[j]*(hp[j]-ng[j]) // h' = (1 - z) ⊙ n + z ⊙ h
				}
			}
		})
	}
}
