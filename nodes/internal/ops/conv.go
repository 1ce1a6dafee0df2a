package ops

import (
	"fmt"
	"hash"

	"github.com/chewxy/hm"
	"gorgonia.org/gorgonia"
	"gorgonia.org/tensor"

	"github.com/unroll-ml/unroll/internal/compute"
)

// convDims are the sizes of one convolution: batch n, channels c, input h x w, kernels o,
// output ho x wo.
type convDims struct {
	n, c, h, w int
	o, ho, wo  int
	chunk      int // the op's chunk bound (see convChunk)
}

// spatial reads (h, w) from an NCHW shape, or (1, L) from an NCL shape.
func spatial(s []int) (int, int) {
	if len(s) == 3 {
		return 1, s[2]
	}
	return s[2], s[3]
}

// convOp is unroll's convolution: inputs x (N, C, H, W), w (O, C, kh, kw) and, when bias is
// set, b (O); output y (N, O, H_out, W_out). With rank 3 the layout is x (N, C, L),
// w (O, C, k), y (N, O, L_out): a 2-D convolution with H = 1. Its attributes, all in its
// hash: the Window (stride, per-side padding, dilation; the kernel size, also read from w),
// the rank, whether there is a bias and whether ReLU is fused (y = max(0, ·), see
// FusedReLU). See Conv2D for the maths.
//
// The op works through the batch in chunks of images (convChunk): it unrolls a chunk into
// one column matrix (C·kh·kw, G·H_out·W_out) (im2col), computes W (O, C·kh·kw) times it with
// one matrix product, and scatters the result into NCHW order adding the bias. The chunks
// are small enough for their matrices to stay in the cache from one step to the next. (The
// weight gradient unrolls the input again, chunk by chunk: keeping the whole batch's columns
// from the forward for it was measured slower, as they no longer fit in the cache.)
type convOp struct {
	base
	win   Window
	rank  int
	bias  bool
	relu  bool
	pool  bool // a 2x2 max pooling with stride 2 follows the ReLU (see PoolFused); needs relu
	chunk int  // the bound of one chunk's matrices, in elements; 0 means colChunkElems
}

// colChunkElems bounds the matrices of one chunk of images (the columns, C·kh·kw x G·Ho·Wo,
// and the output or output gradient, O x G·Ho·Wo), in elements: about 16 MiB of float32.
// Smaller chunks keep a chunk's matrices in the cache, but every chunk makes the threads meet
// several times (gather, im2col, matrix product), and on two cores the meetings cost more than
// the cache misses: with chunks of 1 MiB, W4 (bench/WORKLOADS.md) took 27 ms and W1 trained
// 1,754 images/s; with 16 MiB, 16 ms and 2,414 images/s. (An op may set a smaller bound, chunk, so that tests can
// make chunks small.)
const colChunkElems = 1 << 22

// convChunk is the number of images per chunk for a convolution d: the batch is cut into the
// fewest chunks whose matrices hold at most colChunkElems elements (at least one image each),
// of nearly equal size. It depends on the shapes only, never on the number of threads.
func convChunk(d convDims, kk int) int {
	limit := d.chunk
	if limit <= 0 {
		limit = colChunkElems
	}
	perImage := max(d.c*kk, d.o) * d.ho * d.wo
	chunks := min(max(1, (d.n*perImage+limit-1)/limit), d.n)
	return (d.n + chunks - 1) / chunks
}

func (op convOp) Arity() int {
	if op.bias {
		return 3
	}
	return 2
}

func (op convOp) Type() hm.Type {
	t := tensorOf(op.rank)
	if op.bias {
		return hm.NewFnType(t, t, tensorOf(1), t)
	}
	return hm.NewFnType(t, t, t)
}

func (op convOp) String() string {
	if op.pool {
		return fmt.Sprintf("conv%dd+relu+maxpool2x2(%v, bias %v)", op.rank-2, op.win, op.bias)
	}
	if op.relu {
		return fmt.Sprintf("conv%dd+relu(%v, bias %v)", op.rank-2, op.win, op.bias)
	}
	return fmt.Sprintf("conv%dd(%v, bias %v)", op.rank-2, op.win, op.bias)
}
func (op convOp) WriteHash(h hash.Hash) {
	fmt.Fprintf(h, "unroll.conv rank=%d bias=%v relu=%v pool=%v chunk=%d %v", op.rank, op.bias, op.relu, op.pool, op.chunk, op.win)
}
func (op convOp) Hashcode() uint32 { return hashOf(op) }

// dims checks the shapes of x, w (and the bias) against the op and returns the sizes.
func (op convOp) dims(xs, ws, bs []int) (convDims, error) {
	var d convDims
	if len(xs) != op.rank || len(ws) != op.rank {
		return d, fmt.Errorf("%v: input %v and kernel %v must both have %d dimensions", op, tensor.Shape(xs), tensor.Shape(ws), op.rank)
	}
	kh, kw := spatial(ws)
	if kh != op.win.KH || kw != op.win.KW {
		return d, fmt.Errorf("%v: kernel has shape %v", op, tensor.Shape(ws))
	}
	if ws[1] != xs[1] {
		return d, fmt.Errorf("kernel expects %d input channels, input has %d", ws[1], xs[1])
	}
	if op.bias && (len(bs) != 1 || bs[0] != ws[0]) {
		return d, fmt.Errorf("bias has shape %v, want (%d)", tensor.Shape(bs), ws[0])
	}
	d.n, d.c, d.o, d.chunk = xs[0], xs[1], ws[0], op.chunk
	d.h, d.w = spatial(xs)
	var err error
	if d.ho, d.wo, err = op.win.OutSize(d.h, d.w, op.rank == 3); err != nil {
		return d, err
	}
	return d, nil
}

// pool2x2 is the 2x2 max pooling with stride 2 a convOp with pool set ends with.
var pool2x2 = poolOp{kind: MaxPool, win: Window{KH: 2, KW: 2, SH: 2, SW: 2, DH: 1, DW: 1}, unary: unary{4}}

// outShape is the shape of the op's output: the convolution's, or its pooling's.
func (op convOp) outShape(d convDims) []int {
	if op.pool {
		return []int{d.n, d.o, d.ho / 2, d.wo / 2}
	}
	return d.outShape(op.rank)
}

func (d convDims) outShape(rank int) []int {
	if rank == 3 {
		return []int{d.n, d.o, d.wo}
	}
	return []int{d.n, d.o, d.ho, d.wo}
}

func (op convOp) InferShape(in ...gorgonia.DimSizer) (tensor.Shape, error) {
	s, err := shapesOf(op, in, 2)
	if err != nil {
		return nil, err
	}
	xs, ws := s[0], s[1]
	var bs tensor.Shape
	if op.bias {
		if bs, err = shapeOf(op, in, 2); err != nil {
			return nil, err
		}
	}
	d, err := op.dims(xs, ws, bs)
	if err != nil {
		return nil, err
	}
	return op.outShape(d), nil
}

func (op convOp) Do(in ...gorgonia.Value) (gorgonia.Value, error) {
	return op.DoInto(nil, in...)
}

// DoInto computes the convolution into out, a tensor of the output's shape and dtype (a new
// one when out is nil).
func (op convOp) DoInto(out *tensor.Dense, in ...gorgonia.Value) (gorgonia.Value, error) {
	ts, dt, err := denseInputs(op, in, op.Arity())
	if err != nil {
		return nil, err
	}
	var bs []int
	if op.bias {
		bs = ts[2].Shape()
	}
	d, err := op.dims(ts[0].Shape(), ts[1].Shape(), bs)
	if err != nil {
		return nil, err
	}
	if out, err = outputFor(op, out, dt, op.outShape(d)); err != nil {
		return nil, err
	}
	switch {
	case dt == tensor.Float32 && directConvOK(op.win, d):
		var bias []float32
		if op.bias {
			bias = data[float32](ts[2])
		}
		convDirect(op.win, d, data[float32](ts[0]), data[float32](ts[1]), bias, op.relu, op.pool, data[float32](out))
	case op.pool: // the convolution into scratch, then its pooling
		y := tensor.New(tensor.Of(dt), tensor.WithShape(d.outShape(op.rank)...))
		if _, err := op.unpooled().DoInto(y, in...); err != nil {
			return nil, err
		}
		return pool2x2.DoInto(out, y)
	case dt == tensor.Float32:
		convForward(op, d, ts, data[float32](out))
	default:
		convForward(op, d, ts, data[float64](out))
	}
	return out, nil
}

func convForward[T Float](op convOp, d convDims, ts []*tensor.Dense, y []T) {
	x, w := data[T](ts[0]), data[T](ts[1])
	var bias []T
	if op.bias {
		bias = data[T](ts[2])
	}
	k := d.c * op.win.KH * op.win.KW // rows of the column matrix
	p := d.ho * d.wo                 // output positions of one image
	g := convChunk(d, op.win.KH*op.win.KW)
	cols := compute.Scratch[T](k * g * p)
	for n0 := 0; n0 < d.n; n0 += g {
		n1 := min(n0+g, d.n)
		im2colImages(op.win, d, x, cols[:k*(n1-n0)*p], n0, n1)
		convProduct(d, k, p, w, bias, op.relu, cols, (n1-n0)*p, y, n0, n1)
	}
	compute.Release(cols)
}

// convProduct computes the outputs of images n0..n1-1 from their columns cols (K, G·P), G =
// n1-n0, stored with leading dimension ld: t (O, G·P) = W (O, K) · cols, then
// y[n, o, :] = t[o, (n-n0)·P : (n-n0+1)·P] + b[o], through ReLU when relu is set.
func convProduct[T Float](d convDims, k, p int, w, bias []T, relu bool, cols []T, ld int, y []T, n0, n1 int) {
	gp := (n1 - n0) * p
	t := compute.Scratch[T](d.o * gp)
	matmul(false, false, d.o, gp, k, w, k, cols, ld, 0, t, gp)
	compute.For(n1-n0, d.o*gp, func(lo, hi int) {
		for i := lo; i < hi; i++ {
			yn := y[(n0+i)*d.o*p : (n0+i+1)*d.o*p] // (O, P)
			for o := 0; o < d.o; o++ {
				src := t[o*gp+i*p : o*gp+(i+1)*p]
				dst := yn[o*p : (o+1)*p]
				var b T
				if bias != nil {
					b = bias[o]
				}
				switch {
				case relu && is32[T]():
					biasReLU32(f32s(src), f32s(dst), float32(b))
				case relu:
					for j, v := range src {
						if v += b; v > 0 {
							dst[j] = v
						} else {
							dst[j] = 0
						}
					}
				case bias == nil:
					copy(dst, src)
				default:
					for j, v := range src {
						dst[j] = v + b
					}
				}
			}
		}
	})
	compute.Release(t)
}

func (op convOp) DiffWRT(n int) []bool { return allTrue(n) }

func (op convOp) SymDiff(in gorgonia.Nodes, out, grad *gorgonia.Node) (gorgonia.Nodes, error) {
	if len(in) != op.Arity() {
		return nil, fmt.Errorf("%v: expected %d inputs, got %d", op, op.Arity(), len(in))
	}
	x, w := in[0], in[1]
	if op.pool {
		// The pooling's gradient needs the convolution's output: a node of the unfused op
		// computes it (the graph runs it only when a gradient is taken).
		y, err := Apply(op.unpooled(), gradName(out, "conv"), in...)
		if err != nil {
			return nil, err
		}
		if grad, err = Apply(poolGradOp{fwd: pool2x2, relu: true}, gradName(out, "pool"), y, grad); err != nil {
			return nil, err
		}
	} else if op.relu { // the gradient of the fused ReLU: dz = dy where y > 0 (that is, z > 0), else 0
		var err error
		if grad, err = reluGrad(out, grad, op.rank); err != nil {
			return nil, err
		}
	}
	h, wd := spatial(x.Shape())
	dx, err := Apply(convInputGradOp{win: op.win, rank: op.rank, h: h, w: wd, chunk: op.chunk}, gradName(out, "x"), w, grad)
	if err != nil {
		return nil, err
	}
	dw, err := Apply(convWeightGradOp{win: op.win, rank: op.rank, chunk: op.chunk}, gradName(out, "w"), x, grad)
	if err != nil {
		return nil, err
	}
	if !op.bias {
		return gorgonia.Nodes{dx, dw}, nil
	}
	db, err := applyChannelSum(grad, gradName(out, "b"))
	if err != nil {
		return nil, err
	}
	return gorgonia.Nodes{dx, dw, db}, nil
}

// unpooled is the op without its pooling.
func (op convOp) unpooled() convOp {
	op.pool = false
	return op
}

// reluGrad adds the gradient of a fused ReLU whose output is y and whose upstream gradient is
// dy: dy where y > 0, else 0. When dy is the gradient of a max pooling of y and nothing else,
// the mask is folded into that pooling's gradient (a second node that computes both in one
// pass; the first is then needed by no one and not run).
func reluGrad(y, dy *gorgonia.Node, rank int) (*gorgonia.Node, error) {
	if pg, ok := dy.Op().(poolGradOp); ok && pg.fwd.kind == MaxPool && !pg.relu {
		if in := childrenOf(dy); len(in) == 2 && in[0] == y {
			return Apply(poolGradOp{fwd: pg.fwd, relu: true}, gradName(y, "relu"), y, in[1])
		}
	}
	relu := activationOp{kind: ReLU, unary: unary{rank}}
	return Apply(activationGradOp{fwd: relu}, gradName(y, "relu"), y, y, dy)
}

// convGradOp is what the two gradient ops of a convolution share: the sizes read from their two
// inputs (the kernel or the input, then dy), and the shape of the gradient they compute.
type convGradOp interface {
	gorgonia.Op
	dims(a, b []int) (convDims, error)
	result(d convDims) []int
}

// convGradKernels are a gradient op's kernels: the direct one where direct says it applies
// (float32 only), else the im2col one.
type convGradKernels struct {
	direct       func(d convDims) bool
	directKernel func(win Window, d convDims, a, b, out []float32)
	f32          func(win Window, d convDims, a, b, out []float32)
	f64          func(win Window, d convDims, a, b, out []float64)
}

// inferConvGrad is a gradient op's InferShape.
func inferConvGrad(op convGradOp, in []gorgonia.DimSizer) (tensor.Shape, error) {
	s, err := shapesOf(op, in, 2)
	if err != nil {
		return nil, err
	}
	d, err := op.dims(s[0], s[1])
	if err != nil {
		return nil, err
	}
	return op.result(d), nil
}

// doConvGrad is a gradient op's DoInto: it checks the two inputs and runs the kernel of k that
// applies into out (a new tensor when out is nil).
func doConvGrad(op convGradOp, win Window, out *tensor.Dense, in []gorgonia.Value, k convGradKernels) (gorgonia.Value, error) {
	ts, dt, err := denseInputs(op, in, 2)
	if err != nil {
		return nil, err
	}
	d, err := op.dims(ts[0].Shape(), ts[1].Shape())
	if err != nil {
		return nil, err
	}
	if out, err = outputFor(op, out, dt, op.result(d)); err != nil {
		return nil, err
	}
	switch {
	case dt == tensor.Float32 && k.direct(d):
		k.directKernel(win, d, data[float32](ts[0]), data[float32](ts[1]), data[float32](out))
	case dt == tensor.Float32:
		k.f32(win, d, data[float32](ts[0]), data[float32](ts[1]), data[float32](out))
	default:
		k.f64(win, d, data[float64](ts[0]), data[float64](ts[1]), data[float64](out))
	}
	return out, nil
}

// convInputGradOp is the gradient of a convolution with respect to its input: inputs w
// (O, C, kh, kw) and dy (N, O, Ho, Wo), output dx (N, C, h, w). For each chunk of images the
// columns' gradient Wᵀ (C·kh·kw, O) · dy (O, G·Ho·Wo) is computed with one matrix product and
// added back into the image positions (col2im).
type convInputGradOp struct {
	base
	backward
	win   Window
	rank  int
	h, w  int // input size, which the output size does not determine when the stride is above 1
	chunk int // as convOp's
}

func (op convInputGradOp) Arity() int { return 2 }
func (op convInputGradOp) Type() hm.Type {
	t := tensorOf(op.rank)
	return hm.NewFnType(t, t, t)
}
func (op convInputGradOp) String() string {
	return fmt.Sprintf("conv%dd_dx(%v, input %dx%d)", op.rank-2, op.win, op.h, op.w)
}
func (op convInputGradOp) WriteHash(h hash.Hash) {
	fmt.Fprintf(h, "unroll.conv.dx rank=%d input=%dx%d chunk=%d %v", op.rank, op.h, op.w, op.chunk, op.win)
}
func (op convInputGradOp) Hashcode() uint32 { return hashOf(op) }

func (op convInputGradOp) dims(ws, dys []int) (convDims, error) {
	if len(ws) != op.rank || len(dys) != op.rank || ws[0] != dys[1] {
		return convDims{}, fmt.Errorf("%v: kernel %v and gradient %v do not match", op, tensor.Shape(ws), tensor.Shape(dys))
	}
	d := convDims{n: dys[0], c: ws[1], h: op.h, w: op.w, o: ws[0], chunk: op.chunk}
	d.ho, d.wo = spatial(dys)
	ho, wo, err := op.win.OutSize(op.h, op.w, op.rank == 3)
	if err != nil || ho != d.ho || wo != d.wo {
		return convDims{}, fmt.Errorf("%v: gradient %v does not match the input size", op, tensor.Shape(dys))
	}
	return d, nil
}

func (d convDims) inShape(rank int) []int {
	if rank == 3 {
		return []int{d.n, d.c, d.w}
	}
	return []int{d.n, d.c, d.h, d.w}
}

func (op convInputGradOp) result(d convDims) []int { return d.inShape(op.rank) }

func (op convInputGradOp) InferShape(in ...gorgonia.DimSizer) (tensor.Shape, error) {
	return inferConvGrad(op, in)
}

func (op convInputGradOp) Do(in ...gorgonia.Value) (gorgonia.Value, error) {
	return op.DoInto(nil, in...)
}

// DoInto computes the input gradient into out (a new tensor when out is nil).
func (op convInputGradOp) DoInto(out *tensor.Dense, in ...gorgonia.Value) (gorgonia.Value, error) {
	// (With one input channel the direct input gradient computes one output channel, one
	// broadcast weight per vector of inputs: im2col measured faster, BenchmarkConvOp's W1conv1.)
	direct := func(d convDims) bool { return directConvOK(op.win, d) && d.c > 1 }
	return doConvGrad(op, op.win, out, in, convGradKernels{direct, convDirectInputGrad, convInputGrad[float32], convInputGrad[float64]})
}

func convInputGrad[T Float](win Window, d convDims, w, dy, dx []T) {
	k := d.c * win.KH * win.KW
	p := d.ho * d.wo
	g := convChunk(d, win.KH*win.KW)
	dyt := compute.Scratch[T](d.o * g * p) // (O, G·P)
	col := compute.Scratch[T](k * g * p)   // (K, G·P)
	for n0 := 0; n0 < d.n; n0 += g {
		n1 := min(n0+g, d.n)
		gp := (n1 - n0) * p
		gatherImages(dy, dyt, d.o, p, n0, n1)
		matmul(true, false, k, gp, d.o, w, k, dyt, gp, 0, col, gp) // Wᵀ (K, O) · dy (O, G·P)
		col2imImages(win, d, col, dx, n0, n1)
	}
	compute.Release(col)
	compute.Release(dyt)
}

// gatherImages copies images n0..n1-1 of v (N, rows, p) into t (rows, G·p), image i of the
// chunk in columns i·p..(i+1)·p-1.
func gatherImages[T Float](v, t []T, rows, p, n0, n1 int) {
	gp := (n1 - n0) * p
	compute.For(n1-n0, rows*gp, func(lo, hi int) {
		for i := lo; i < hi; i++ {
			vn := v[(n0+i)*rows*p : (n0+i+1)*rows*p]
			for r := 0; r < rows; r++ {
				copy(t[r*gp+i*p:r*gp+(i+1)*p], vn[r*p:(r+1)*p])
			}
		}
	})
}

// convWeightGradOp is the gradient of a convolution with respect to its kernel: inputs x
// (N, C, H, W) and dy (N, O, Ho, Wo), output dW (O, C, kh, kw) = Σ_n dy_n · col(x_n)ᵀ,
// computed chunk by chunk of images (convChunk), one matrix product each, the chunks added in
// order: the chunks depend on the shapes only, so the order of the sum is fixed.
type convWeightGradOp struct {
	base
	backward
	win   Window
	rank  int
	chunk int // as convOp's
}

func (op convWeightGradOp) Arity() int { return 2 }
func (op convWeightGradOp) Type() hm.Type {
	t := tensorOf(op.rank)
	return hm.NewFnType(t, t, t)
}
func (op convWeightGradOp) String() string {
	return fmt.Sprintf("conv%dd_dw(%v)", op.rank-2, op.win)
}
func (op convWeightGradOp) WriteHash(h hash.Hash) {
	fmt.Fprintf(h, "unroll.conv.dw rank=%d chunk=%d %v", op.rank, op.chunk, op.win)
}
func (op convWeightGradOp) Hashcode() uint32 { return hashOf(op) }

func (op convWeightGradOp) dims(xs, dys []int) (convDims, error) {
	if len(xs) != op.rank || len(dys) != op.rank || xs[0] != dys[0] {
		return convDims{}, fmt.Errorf("%v: input %v and gradient %v do not match", op, tensor.Shape(xs), tensor.Shape(dys))
	}
	d := convDims{n: xs[0], c: xs[1], o: dys[1], chunk: op.chunk}
	d.h, d.w = spatial(xs)
	ho, wo, err := op.win.OutSize(d.h, d.w, op.rank == 3)
	d.ho, d.wo = spatial(dys)
	if err != nil || ho != d.ho || wo != d.wo {
		return convDims{}, fmt.Errorf("%v: gradient %v does not match the input %v", op, tensor.Shape(dys), tensor.Shape(xs))
	}
	return d, nil
}

func (d convDims) kernelShape(win Window, rank int) []int {
	if rank == 3 {
		return []int{d.o, d.c, win.KW}
	}
	return []int{d.o, d.c, win.KH, win.KW}
}

func (op convWeightGradOp) result(d convDims) []int { return d.kernelShape(op.win, op.rank) }

func (op convWeightGradOp) InferShape(in ...gorgonia.DimSizer) (tensor.Shape, error) {
	return inferConvGrad(op, in)
}

func (op convWeightGradOp) Do(in ...gorgonia.Value) (gorgonia.Value, error) {
	return op.DoInto(nil, in...)
}

// DoInto computes the kernel gradient into out (a new tensor when out is nil).
func (op convWeightGradOp) DoInto(out *tensor.Dense, in ...gorgonia.Value) (gorgonia.Value, error) {
	direct := func(d convDims) bool { return directConvOK(op.win, d) }
	return doConvGrad(op, op.win, out, in, convGradKernels{direct, convDirectWeightGrad, convWeightGrad[float32], convWeightGrad[float64]})
}

func convWeightGrad[T Float](win Window, d convDims, x, dy, dw []T) {
	k := d.c * win.KH * win.KW
	p := d.ho * d.wo
	g := convChunk(d, win.KH*win.KW)
	col := compute.Scratch[T](k * g * p)   // (K, G·P)
	dyt := compute.Scratch[T](d.o * g * p) // (O, G·P)
	for n0 := 0; n0 < d.n; n0 += g {
		n1 := min(n0+g, d.n)
		gp := (n1 - n0) * p
		gatherImages(dy, dyt, d.o, p, n0, n1)
		im2colImages(win, d, x, col[:k*gp], n0, n1)
		var beta T
		if n0 > 0 {
			beta = 1
		}
		matmul(false, true, d.o, k, gp, dyt, gp, col, gp, beta, dw, k) // dW (+)= dy (O, G·P) · colᵀ (G·P, K)
	}
	compute.Release(dyt)
	compute.Release(col)
}

// Conv adds the convolution of x by w, plus the bias when a third input is given, to x's
// graph: inputs x (N, C, H, W) and w (O, C, kh, kw), or x (N, C, L) and w (O, C, k) for rank 3;
// the window's padding is already resolved. relu fuses max(0, ·) into the op.
func Conv(win Window, rank int, relu bool, name string, inputs ...*gorgonia.Node) (*gorgonia.Node, error) {
	if len(inputs) < 2 || len(inputs) > 3 {
		return nil, fmt.Errorf("convolution: %d inputs, want x, w and an optional bias", len(inputs))
	}
	return Apply(convOp{win: win, rank: rank, bias: len(inputs) == 3, relu: relu}, name, inputs...)
}
