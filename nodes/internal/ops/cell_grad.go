package ops

import (
	"fmt"
	"hash"

	"github.com/chewxy/hm"
	"gorgonia.org/gorgonia"
	"gorgonia.org/tensor"

	"github.com/unroll-ml/unroll/nodes/gemm"
)

// The backward ops of the fused cells (see cell.go).

// DiffWRT: every input but the weights node, which is W_ih again in another layout.
func (op *cellStepOp) DiffWRT(n int) []bool {
	w := allTrue(n)
	w[n-1] = false
	return w
}

// SymDiff adds the step's backward node, the cuts of dh (and dc), the input gradient and the
// step's own weight gradients (see JointGrad for how graph replaces their sum over steps).
func (op *cellStepOp) SymDiff(inputs gorgonia.Nodes, output, grad *gorgonia.Node) (gorgonia.Nodes, error) {
	if len(inputs) != op.Arity() {
		return nil, fmt.Errorf("%v: symdiff with %d inputs, want %d", op, len(inputs), op.Arity())
	}
	ns := op.states()
	args := append(gorgonia.Nodes{}, inputs[1:ns+1]...) // h, [c]
	args = append(args, inputs[ns+2], output, grad)     // W_hh, the output, its gradient
	bw, err := Apply(&cellGradOp{cellDims: op.cellDims, fwd: op}, gradName(output, "step"), args...)
	if err != nil {
		return nil, fmt.Errorf("%v: backward: %w", op, err)
	}
	grads := make(gorgonia.Nodes, len(inputs))
	if grads[0], err = Apply(cellInputGradOp{cellDims: op.cellDims}, gradName(output, "x"), bw, inputs[ns+1]); err != nil {
		return nil, fmt.Errorf("%v: input gradient: %w", op, err)
	}
	shapes := op.stepShapes()
	size := cellGradSize(op.cellDims)
	off := 0
	for i := 1; i <= ns; i++ { // dh, [dc]
		if grads[i], err = part(bw, size, off, shapes[i]); err != nil {
			return nil, fmt.Errorf("%v: %w", op, err)
		}
		off += shapes[i].TotalSize()
	}
	weights, err := cellWeightGrads(op.cellDims, gorgonia.Nodes{bw, inputs[0], inputs[1]}, gradName(output, "w"))
	if err != nil {
		return nil, fmt.Errorf("%v: %w", op, err)
	}
	copy(grads[ns+1:], weights)
	return grads, nil
}

// JointInputs marks the weights W_ih, W_hh, b_ih and b_hh as shared by the steps of a cell
// (graph.JointGradOp).
func (op *cellStepOp) JointInputs() []bool {
	w := make([]bool, op.Arity())
	for i := op.states() + 1; i < op.Arity()-1; i++ {
		w[i] = true
	}
	return w
}

// JointGrad adds the gradients of the weights of the given steps, all steps of one cell in a
// graph that gorgonia.Grad has differentiated, as one node: dW_ih = Σ_t dG_i,tᵀ x_t is one
// matrix product over the stacked steps (graph.JointGradOp). A step's backward node is the
// cellGradOp node that reads its output; steps that were not differentiated add nothing.
func (op *cellStepOp) JointGrad(steps []*gorgonia.Node) ([]*gorgonia.Node, error) {
	var args gorgonia.Nodes
	var name string
	for _, s := range steps {
		sop, ok := s.Op().(*cellStepOp)
		if !ok || sop.cellDims != op.cellDims {
			return nil, fmt.Errorf("%v: joint gradient over %v", op, s.Op())
		}
		bw := cellBackwardOf(s, sop)
		if bw == nil {
			continue
		}
		in := childrenOf(s)
		args = append(args, bw, in[0], in[1])
		if name == "" {
			name = gradName(s, "w")
		}
	}
	if len(args) == 0 {
		return nil, fmt.Errorf("%v: none of the %d steps was differentiated", op, len(steps))
	}
	return cellWeightGrads(op.cellDims, args, name)
}

// cellBackwardOf returns the backward node of step node s, whose op is fwd: the cellGradOp
// node that reads s's output, or nil.
func cellBackwardOf(s *gorgonia.Node, fwd *cellStepOp) *gorgonia.Node {
	for _, p := range parentsOf(s) {
		if bw, ok := p.Op().(*cellGradOp); ok && bw.fwd == fwd {
			return p
		}
	}
	return nil
}

// cellWeightGrads adds the weight gradient of the steps whose (backward, x, h) nodes are args,
// and its cuts: dW_ih, dW_hh, db_ih, db_hh.
func cellWeightGrads(d cellDims, args gorgonia.Nodes, name string) (gorgonia.Nodes, error) {
	op := &cellWeightGradOp{cellDims: d, steps: len(args) / 3}
	wg, err := Apply(op, name, args...)
	if err != nil {
		return nil, fmt.Errorf("weight gradient: %w", err)
	}
	G := d.g()
	shapes := []tensor.Shape{{G, d.in}, {G, d.hidden}, {G}, {G}}
	out := make(gorgonia.Nodes, len(shapes))
	off := 0
	for i, s := range shapes {
		if out[i], err = part(wg, op.size(), off, s); err != nil {
			return nil, err
		}
		off += s.TotalSize()
	}
	return out, nil
}

// cellGradSize is the length of a step's backward output: [dh | dc (LSTM) | dG_i | dG_h (GRU)],
// dG_i and dG_h (B, G·H) the gradients of the pre-activations x W_ihᵀ + b_ih and h W_hhᵀ + b_hh
// (one and the same but for a GRU).
func cellGradSize(d cellDims) int {
	n := d.states()*d.batch*d.hidden + d.batch*d.g()
	if d.kind == GRU {
		n += d.batch * d.g()
	}
	return n
}

// cellGradParts cuts a step's backward output into dh, dc (nil but for an LSTM), dG_i and dG_h.
func cellGradParts[T Float](d cellDims, v []T) (dh, dc, dgi, dgh []T) {
	BH, BG := d.batch*d.hidden, d.batch*d.g()
	dh, v = v[:BH], v[BH:]
	if d.kind.HasCell() {
		dc, v = v[:BH], v[BH:]
	}
	dgi, dgh = v[:BG], v[:BG]
	if d.kind == GRU {
		dgh = v[BG : 2*BG]
	}
	return dh, dc, dgi, dgh
}

// cellGradOp is the backward of one cellStepOp, fwd, whose reserve it reads. Inputs: h, [c],
// W_hh, the step's output and its gradient. Output, flat: [dh | dc | dG_i | dG_h]
// (cellGradSize).
type cellGradOp struct {
	base
	backward
	cellDims
	fwd *cellStepOp
}

func (op *cellGradOp) Arity() int { return op.states() + 3 }
func (op *cellGradOp) Type() hm.Type {
	ranks := []int{2}
	if op.kind.HasCell() {
		ranks = append(ranks, 2)
	}
	return fnType(1, append(ranks, 2, 2, 2)...)
}

// argShapes are the shapes of the backward op's inputs.
func (op *cellGradOp) argShapes() []tensor.Shape {
	s := op.stepShapes()[1 : op.states()+1] // h, [c]
	return append(s, tensor.Shape{op.g(), op.hidden}, op.outShape(), op.outShape())
}

func (op *cellGradOp) InferShape(ds ...gorgonia.DimSizer) (tensor.Shape, error) {
	if err := checkShapes(op, op.argShapes(), ds); err != nil {
		return nil, err
	}
	return tensor.Shape{cellGradSize(op.cellDims)}, nil
}

func (op *cellGradOp) WriteHash(h hash.Hash) { op.writeHash(h, "cellGrad") }
func (op *cellGradOp) Hashcode() uint32      { return hashOf(op) }
func (op *cellGradOp) String() string {
	return fmt.Sprintf("%vStepGrad(b=%d, in=%d, h=%d)", op.kind, op.batch, op.in, op.hidden)
}

func (op *cellGradOp) Do(vs ...gorgonia.Value) (gorgonia.Value, error) { return op.DoInto(nil, vs...) }

// DoInto computes the packed gradients into out, a vector of cellGradSize elements.
func (op *cellGradOp) DoInto(out *tensor.Dense, vs ...gorgonia.Value) (gorgonia.Value, error) {
	ts, out, dt, err := sizedInto(op, out, vs, op.argShapes(), []int{cellGradSize(op.cellDims)})
	if err != nil {
		return nil, err
	}
	return computeInto(dt, out, ts,
		func(o []float32, in [][]float32) error {
			cellBackward(op.cellDims, op.fwd.w, o, in, cellReserve[float32](op.fwd))
			return nil
		},
		func(o []float64, in [][]float64) error {
			cellBackward(op.cellDims, op.fwd.w, o, in, cellReserve[float64](op.fwd))
			return nil
		})
}

// cellBackward computes one step's gradients into res ([dh | dc | dG_i | dG_h]); in holds h,
// [c], W_hh, the step's output and its gradient gout (B, P·H), and gates is the reserve of the
// step's forward run.
func cellBackward[T Float](d cellDims, w *cellWeights, res []T, in [][]T, gates []T) {
	B, H, G := d.batch, d.hidden, d.g()
	h := in[0]
	k := 1
	var c []T
	if d.kind.HasCell() {
		c = in[1]
		k = 2
	}
	whh, out, gout := in[k], in[k+1], in[k+2]
	dh, dc, dgi, dgh := cellGradParts(d, res)
	cellRows(B, max(d.kind.reserved(), 1)*H, func(lo, hi int) {
		switch d.kind {
		case RNNTanh, RNNReLU:
			rnnBackRows(d.kind, out[lo*H:hi*H], gout[lo*H:hi*H], dgi[lo*H:hi*H])
		case LSTM:
			lstmBackRows(H, B, gates, c, gout, dgi, dc, lo, hi)
		case GRU:
			gruBackRows(H, gates, h, gout, dgi, dgh, dh, lo, hi)
		}
	})
	// dh (+)= dgh W_hh; the GRU's direct path h -> h' is already in dh.
	accumulate := d.kind == GRU
	if g32, ok := any(dgh).([]float32); ok && w.train {
		var beta float32
		if accumulate {
			beta = 1
		}
		gemm.SgemmPacked(false, B, 1, g32, G, &w.packB, beta, any(dh).([]float32), H)
		return
	}
	var beta T
	if accumulate {
		beta = 1
	}
	matmul(false, false, B, H, G, dgh, G, whh, H, beta, dh, H)
}

// rnnBackRows sets the pre-activation gradient dg of an RNN step from its output o and the
// output gradient g.
func rnnBackRows[T Float](kind CellKind, o, g, dg []T) {
	for i, v := range o {
		switch {
		case kind == RNNTanh:
			dg[i] = g[i] * (1 - v*v)
		case v > 0:
			dg[i] = g[i]
		default:
			dg[i] = 0
		}
	}
}

// lstmBackRows computes rows [lo, hi) of an LSTM step's gradients: the pre-activation
// gradients dgi (B, 4H) and dc (B, H) from the gates (B, 4H) and tanh(c') (B, H) of the
// reserve, the previous cell state c and the output gradient gout (B, 2H).
func lstmBackRows[T Float](H, B int, gates, c, gout, dgi, dc []T, lo, hi int) {
	G := 4 * H
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
			dct := float64(dcn[j]) + float64(dho*o*oneMinusSquare(tc)) // ∂/∂c' through c' and h'
			dg[j] = T(dct * g * i * (1 - i))
			dg[H+j] = T(dct * float64(cp[j]) * f * (1 - f))
			dg[2*H+j] = T(dct * i * oneMinusSquare(g))
			dg[3*H+j] = T(dho * tc * o * (1 - o))
			dcp[j] = T(dct * f)
		}
	}
}

// gruBackRows computes rows [lo, hi) of a GRU step's gradients: dgi and dgh (B, 3H) and the
// direct part of dh (B, H) from the reserve gates (B, 4H), the previous state h and the output
// gradient gout (B, H).
func gruBackRows[T Float](H int, gates, h, gout, dgi, dgh, dh []T, lo, hi int) {
	R, G := 4*H, 3*H
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
			dn := dho * (1 - z) * oneMinusSquare(n) // gradient of n's pre-activation
			dz := dho * (float64(hp[j]) - n) * z * (1 - z)
			dr := dn * hnv * r * (1 - r)
			dgib[j], dgib[H+j], dgib[2*H+j] = T(dr), T(dz), T(dn)
			dghb[j], dghb[H+j], dghb[2*H+j] = T(dr), T(dz), T(dn*r)
			dhp[j] = T(dho * z) // the direct path h -> h'; the product is added after
		}
	}
}

// oneMinusSquare is 1 - v², the product rounded before the subtraction (the conversion keeps
// the compiler from fusing them, as the assembly does not), as in the backward loops above.
func oneMinusSquare(v float64) float64 { return 1 - float64(v*v) }

// cellInputGradOp computes the gradient of a step's input, dx = dG_i W_ih (B, In), from the
// step's backward output (which holds dG_i) and W_ih (G·H, In). It is a node of its own so
// that it runs only when something needs dx (not for a one-hot character).
type cellInputGradOp struct {
	base
	backward
	cellDims
}

func (op cellInputGradOp) argShapes() []tensor.Shape {
	return []tensor.Shape{{cellGradSize(op.cellDims)}, {op.g(), op.in}}
}
func (op cellInputGradOp) Arity() int    { return 2 }
func (op cellInputGradOp) Type() hm.Type { return fnType(2, 1, 2) }
func (op cellInputGradOp) InferShape(ds ...gorgonia.DimSizer) (tensor.Shape, error) {
	if err := checkShapes(op, op.argShapes(), ds); err != nil {
		return nil, err
	}
	return tensor.Shape{op.batch, op.in}, nil
}
func (op cellInputGradOp) WriteHash(h hash.Hash) { op.writeHash(h, "cellInputGrad") }
func (op cellInputGradOp) Hashcode() uint32      { return hashOf(op) }
func (op cellInputGradOp) String() string {
	return fmt.Sprintf("%vInputGrad(b=%d, in=%d, h=%d)", op.kind, op.batch, op.in, op.hidden)
}

func (op cellInputGradOp) Do(vs ...gorgonia.Value) (gorgonia.Value, error) {
	return op.DoInto(nil, vs...)
}

// DoInto computes dx into out (B, In).
func (op cellInputGradOp) DoInto(out *tensor.Dense, vs ...gorgonia.Value) (gorgonia.Value, error) {
	ts, out, dt, err := sizedInto(op, out, vs, op.argShapes(), []int{op.batch, op.in})
	if err != nil {
		return nil, err
	}
	return computeInto(dt, out, ts, cellInputGrad[float32](op.cellDims), cellInputGrad[float64](op.cellDims))
}

func cellInputGrad[T Float](d cellDims) func(dx []T, in [][]T) error {
	return func(dx []T, in [][]T) error {
		_, _, dgi, _ := cellGradParts(d, in[0])
		matmul(false, false, d.batch, d.in, d.g(), dgi, d.g(), in[1], d.in, 0, dx, d.in)
		return nil
	}
}

// part adds a node holding elements [off, off+size(shape)) of the flat node v of total
// elements, shaped as shape.
func part(v *gorgonia.Node, total, off int, shape tensor.Shape) (*gorgonia.Node, error) {
	return Apply(partOp{offset: off, total: total, shape: shape.Clone()}, "", v)
}

// partOp copies elements [offset, offset+size(shape)) of a flat vector of total elements into
// a tensor of the given shape: it cuts a packed gradient into its parts.
type partOp struct {
	base
	backward
	offset, total int
	shape         tensor.Shape
}

func (op partOp) Arity() int    { return 1 }
func (op partOp) Type() hm.Type { return fnType(len(op.shape), 1) }
func (op partOp) InferShape(ds ...gorgonia.DimSizer) (tensor.Shape, error) {
	if err := checkShapes(op, []tensor.Shape{{op.total}}, ds); err != nil {
		return nil, err
	}
	return op.shape.Clone(), nil
}
func (op partOp) WriteHash(h hash.Hash) {
	fmt.Fprintf(h, "unroll.part{%d of %d as %v}", op.offset, op.total, op.shape)
}
func (op partOp) Hashcode() uint32 { return hashOf(op) }
func (op partOp) String() string {
	return fmt.Sprintf("part(%d:%d as %v)", op.offset, op.offset+op.shape.TotalSize(), op.shape)
}

func (op partOp) Do(vs ...gorgonia.Value) (gorgonia.Value, error) { return op.DoInto(nil, vs...) }

// DoInto copies the part into out, a tensor of op's shape.
func (op partOp) DoInto(out *tensor.Dense, vs ...gorgonia.Value) (gorgonia.Value, error) {
	ts, out, dt, err := sizedInto(op, out, vs, []tensor.Shape{{op.total}}, op.shape)
	if err != nil {
		return nil, err
	}
	n := op.shape.TotalSize()
	return computeInto(dt, out, ts,
		func(o []float32, in [][]float32) error { copy(o, in[0][op.offset:op.offset+n]); return nil },
		func(o []float64, in [][]float64) error { copy(o, in[0][op.offset:op.offset+n]); return nil })
}
