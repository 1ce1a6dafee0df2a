package ops

import (
	"fmt"
	"hash"
	"math"

	"github.com/chewxy/hm"
	"gorgonia.org/gorgonia"
	"gorgonia.org/tensor"

	"github.com/unroll-ml/unroll/internal/compute"
)

// PoolKind is the reduction a pooling window computes.
type PoolKind int

// The pooling kinds.
const (
	MaxPool PoolKind = iota
	AvgPool
)

func (k PoolKind) String() string {
	if k == MaxPool {
		return "max pool"
	}
	return "avg pool"
}

// poolOp is max or average pooling: input x (N, C, H, W), or (N, C, L) with rank 3; output
// (N, C, Ho, Wo). Its attributes, all in its hash: the kind, the Window, the rank and, for
// average pooling, whether padding is left out of the divisor.
type poolOp struct {
	base
	unary
	kind       PoolKind
	win        Window
	excludePad bool
}

func (op poolOp) String() string {
	return fmt.Sprintf("%v %dd(%v, exclude padding %v)", op.kind, op.rank-2, op.win, op.excludePad)
}
func (op poolOp) WriteHash(h hash.Hash) {
	fmt.Fprintf(h, "unroll.pool kind=%d rank=%d excludepad=%v %v", op.kind, op.rank, op.excludePad, op.win)
}
func (op poolOp) Hashcode() uint32 { return hashOf(op) }

// poolDims are the sizes of one pooling: planes n·c, input h x w, output ho x wo.
type poolDims struct {
	planes, h, w, ho, wo int
}

func poolSizes(op fmt.Stringer, win Window, rank int, xs []int) (poolDims, error) {
	if len(xs) != rank {
		return poolDims{}, fmt.Errorf("%v: input has shape %v", op, tensor.Shape(xs))
	}
	d := poolDims{planes: xs[0] * xs[1]}
	d.h, d.w = spatial(xs)
	var err error
	d.ho, d.wo, err = win.OutSize(d.h, d.w, rank == 3)
	return d, err
}

func (d poolDims) shape(xs []int) []int {
	if len(xs) == 3 {
		return []int{xs[0], xs[1], d.wo}
	}
	return []int{xs[0], xs[1], d.ho, d.wo}
}

func (op poolOp) InferShape(in ...gorgonia.DimSizer) (tensor.Shape, error) {
	xs, err := shapeOf(op, in, 0)
	if err != nil {
		return nil, err
	}
	d, err := poolSizes(op, op.win, op.rank, xs)
	if err != nil {
		return nil, err
	}
	return d.shape(xs), nil
}

func (op poolOp) Do(in ...gorgonia.Value) (gorgonia.Value, error) {
	return op.DoInto(nil, in...)
}

// DoInto computes the pooling into out (a new tensor when out is nil).
func (op poolOp) DoInto(out *tensor.Dense, in ...gorgonia.Value) (gorgonia.Value, error) {
	ts, dt, err := denseInputs(op, in, 1)
	if err != nil {
		return nil, err
	}
	xs := ts[0].Shape()
	d, err := poolSizes(op, op.win, op.rank, xs)
	if err != nil {
		return nil, err
	}
	if out, err = outputFor(op, out, dt, d.shape(xs)); err != nil {
		return nil, err
	}
	if dt == tensor.Float32 {
		poolForward(op, d, data[float32](ts[0]), data[float32](out))
	} else {
		poolForward(op, d, data[float64](ts[0]), data[float64](out))
	}
	return out, nil
}

// windowRange returns the kernel offsets [lo, hi) whose input position
// start + k·dilation lies in [0, size).
func windowRange(start, dilation, kernel, size int) (int, int) {
	return validRange(start, dilation, size, kernel)
}

// tiles reports whether the windows tile the input: each input element lies in at most one
// Window (stride = kernel, no padding, no dilation), so that a Window is a plain block.
func (w Window) tiles() bool {
	return w.SH == w.KH && w.SW == w.KW && w.DH == 1 && w.DW == 1 && w.PT == 0 && w.PB == 0 && w.PL == 0 && w.PR == 0
}

// poolForward pools every plane (n, c) of x into y, the planes shared among the threads.
func poolForward[T Float](op poolOp, d poolDims, x, y []T) {
	compute.For(d.planes, d.planes*d.h*d.w, func(lo, hi int) {
		for pl := lo; pl < hi; pl++ {
			xp := x[pl*d.h*d.w : (pl+1)*d.h*d.w]
			yp := y[pl*d.ho*d.wo : (pl+1)*d.ho*d.wo]
			if op.kind == MaxPool && op.win.tiles() {
				maxPoolTiles(op.win, d, xp, yp)
				continue
			}
			poolPlane(op, d, xp, yp)
		}
	})
}

// maxPoolTiles is max pooling of one plane when the windows tile it. Like poolPlane it gives
// NaN for a Window holding one (Go's max propagates NaN).
func maxPoolTiles[T Float](win Window, d poolDims, xp, yp []T) {
	square2 := win.KH == 2 && win.KW == 2
	if square2 && is32[T]() && maxPool2x2Plane(f32s(yp), f32s(xp), d.ho, d.wo, d.w) {
		return
	}
	for i := 0; i < d.ho; i++ {
		out := yp[i*d.wo : (i+1)*d.wo]
		if square2 {
			r0 := xp[2*i*d.w : 2*i*d.w+2*d.wo]
			r1 := xp[(2*i+1)*d.w : (2*i+1)*d.w+2*d.wo]
			for j := range out {
				out[j] = max(max(r0[2*j], r0[2*j+1]), max(r1[2*j], r1[2*j+1]))
			}
			continue
		}
		for j := range out {
			best := T(math.Inf(-1))
			for p := 0; p < win.KH; p++ {
				row := xp[(i*win.KH+p)*d.w+j*win.KW : (i*win.KH+p)*d.w+(j+1)*win.KW]
				for _, v := range row {
					if v > best || v != v {
						best = v
					}
				}
			}
			out[j] = best
		}
	}
}

// poolPlane pools one plane xp (h, w) into yp (ho, wo), for any Window.
func poolPlane[T Float](op poolOp, d poolDims, xp, yp []T) {
	win := op.win
	negInf := T(math.Inf(-1))
	for i := 0; i < d.ho; i++ {
		y0 := i*win.SH - win.PT
		plo, phi := windowRange(y0, win.DH, win.KH, d.h)
		for j := 0; j < d.wo; j++ {
			x0 := j*win.SW - win.PL
			qlo, qhi := windowRange(x0, win.DW, win.KW, d.w)
			if op.kind == MaxPool {
				best := negInf
				for p := plo; p < phi; p++ {
					row := xp[(y0+p*win.DH)*d.w:]
					for q := qlo; q < qhi; q++ {
						if v := row[x0+q*win.DW]; v > best || v != v {
							best = v
						}
					}
				}
				yp[i*d.wo+j] = best
				continue
			}
			var s T
			for p := plo; p < phi; p++ {
				row := xp[(y0+p*win.DH)*d.w:]
				for q := qlo; q < qhi; q++ {
					s += row[x0+q*win.DW]
				}
			}
			yp[i*d.wo+j] = s / T(op.divisor(phi-plo, qhi-qlo))
		}
	}
}

// divisor is what an average divides by, given the number of rows and columns of the Window
// inside the input.
func (op poolOp) divisor(rows, cols int) int {
	if op.excludePad {
		return max(rows*cols, 1)
	}
	return op.win.KH * op.win.KW
}

func (op poolOp) DiffWRT(int) []bool { return []bool{true} }

func (op poolOp) SymDiff(in gorgonia.Nodes, out, grad *gorgonia.Node) (gorgonia.Nodes, error) {
	if len(in) != 1 {
		return nil, fmt.Errorf("%v: expected 1 input, got %d", op, len(in))
	}
	return applyGrads(out, gradOf{poolGradOp{fwd: op}, "x", gorgonia.Nodes{in[0], grad}})
}

// poolGradOp is the gradient of a pooling: inputs x and dy, output dx of x's shape. Max
// pooling finds each Window's first maximum again in x and adds dy there; average pooling
// adds dy/D to every input element of the Window.
//
// With relu set (max pooling only), the op also applies the gradient of a ReLU whose output
// x is: each gradient reaches its Window's maximum only where that maximum is above 0. A
// convolution with FusedReLU followed by max pooling differentiates this way, in one pass
// (see reluPoolGrad).
type poolGradOp struct {
	base
	backward
	fwd  poolOp
	relu bool
}

func (op poolGradOp) Arity() int { return 2 }
func (op poolGradOp) Type() hm.Type {
	t := tensorOf(op.fwd.rank)
	return hm.NewFnType(t, t, t)
}
func (op poolGradOp) String() string {
	if op.relu {
		return fmt.Sprintf("d(relu, %v)", op.fwd)
	}
	return fmt.Sprintf("d(%v)", op.fwd)
}
func (op poolGradOp) WriteHash(h hash.Hash) {
	fmt.Fprintf(h, "unroll.pool.dx relu=%v ", op.relu)
	op.fwd.WriteHash(h)
}
func (op poolGradOp) Hashcode() uint32 { return hashOf(op) }

func (op poolGradOp) check(xs, dys []int) (poolDims, error) {
	d, err := poolSizes(op, op.fwd.win, op.fwd.rank, xs)
	if err != nil {
		return d, err
	}
	if !tensor.Shape(dys).Eq(tensor.Shape(d.shape(xs))) {
		return d, fmt.Errorf("%v: gradient %v does not match the input %v", op, tensor.Shape(dys), tensor.Shape(xs))
	}
	return d, nil
}

func (op poolGradOp) InferShape(in ...gorgonia.DimSizer) (tensor.Shape, error) {
	s, err := shapesOf(op, in, 2)
	if err != nil {
		return nil, err
	}
	xs, dys := s[0], s[1]
	if _, err := op.check(xs, dys); err != nil {
		return nil, err
	}
	return xs.Clone(), nil
}

func (op poolGradOp) Do(in ...gorgonia.Value) (gorgonia.Value, error) {
	return op.DoInto(nil, in...)
}

// DoInto computes dx into out (a new tensor when out is nil).
func (op poolGradOp) DoInto(out *tensor.Dense, in ...gorgonia.Value) (gorgonia.Value, error) {
	ts, dt, err := denseInputs(op, in, 2)
	if err != nil {
		return nil, err
	}
	xs := ts[0].Shape()
	d, err := op.check(xs, ts[1].Shape())
	if err != nil {
		return nil, err
	}
	if out, err = outputFor(op, out, dt, xs); err != nil {
		return nil, err
	}
	if dt == tensor.Float32 {
		poolBackward(op.fwd, op.relu, d, data[float32](ts[0]), data[float32](ts[1]), data[float32](out))
	} else {
		poolBackward(op.fwd, op.relu, d, data[float64](ts[0]), data[float64](ts[1]), data[float64](out))
	}
	return out, nil
}

// poolBackward computes dx plane by plane, the planes shared among the threads: each plane of
// dx receives gradient from the windows of its own plane only. With relu, a maximum's
// gradient passes only where the maximum is above 0.
func poolBackward[T Float](op poolOp, relu bool, d poolDims, x, dy, dx []T) {
	compute.For(d.planes, 2*d.planes*d.h*d.w, func(lo, hi int) {
		for pl := lo; pl < hi; pl++ {
			xp := x[pl*d.h*d.w : (pl+1)*d.h*d.w]
			dxp := dx[pl*d.h*d.w : (pl+1)*d.h*d.w]
			dyp := dy[pl*d.ho*d.wo : (pl+1)*d.ho*d.wo]
			if op.kind == MaxPool && op.win.tiles() && op.win.KH == 2 && op.win.KW == 2 && is32[T]() {
				if d.h != 2*d.ho || d.w != 2*d.wo {
					clear(dxp) // the rows or columns no Window covers
				}
				maxPoolGrad2x2(d, relu, f32s(xp), f32s(dyp), f32s(dxp))
				continue
			}
			clear(dxp)
			poolGradPlane(op, relu, d, xp, dyp, dxp)
		}
	})
}

// poolGradPlane adds the gradient of one plane, for any Window; dxp starts at zero. With relu,
// a maximum not above 0 gets no gradient.
func poolGradPlane[T Float](op poolOp, relu bool, d poolDims, xp, dyp, dxp []T) {
	win := op.win
	for i := 0; i < d.ho; i++ {
		y0 := i*win.SH - win.PT
		plo, phi := windowRange(y0, win.DH, win.KH, d.h)
		for j := 0; j < d.wo; j++ {
			x0 := j*win.SW - win.PL
			qlo, qhi := windowRange(x0, win.DW, win.KW, d.w)
			g := dyp[i*d.wo+j]
			if op.kind == MaxPool {
				at := -1
				var best T
				for p := plo; p < phi; p++ {
					base := (y0 + p*win.DH) * d.w
					for q := qlo; q < qhi; q++ {
						k := base + x0 + q*win.DW
						if v := xp[k]; at < 0 || v > best || v != v {
							best, at = v, k
						}
					}
				}
				if at >= 0 && (!relu || best > 0) {
					dxp[at] += g
				}
				continue
			}
			g /= T(op.divisor(phi-plo, qhi-qlo))
			for p := plo; p < phi; p++ {
				row := dxp[(y0+p*win.DH)*d.w:]
				for q := qlo; q < qhi; q++ {
					row[x0+q*win.DW] += g
				}
			}
		}
	}
}

// globalAvgOp averages (N, C, H, W) over H and W, giving (N, C).
type globalAvgOp struct{ base }

func (op globalAvgOp) Arity() int            { return 1 }
func (op globalAvgOp) Type() hm.Type         { return hm.NewFnType(tensorOf(4), tensorOf(2)) }
func (op globalAvgOp) String() string        { return "global avg pool" }
func (op globalAvgOp) WriteHash(h hash.Hash) { fmt.Fprint(h, "unroll.globalavgpool") }
func (op globalAvgOp) Hashcode() uint32      { return hashOf(op) }
func (op globalAvgOp) DiffWRT(n int) []bool  { return []bool{true} }
func (op globalAvgOp) checkShape(s []int) error {
	if len(s) != 4 {
		return fmt.Errorf("%v: input has shape %v", op, tensor.Shape(s))
	}
	return nil
}

func (op globalAvgOp) InferShape(in ...gorgonia.DimSizer) (tensor.Shape, error) {
	xs, err := shapeOf(op, in, 0)
	if err != nil {
		return nil, err
	}
	if err := op.checkShape(xs); err != nil {
		return nil, err
	}
	return tensor.Shape{xs[0], xs[1]}, nil
}

func (op globalAvgOp) Do(in ...gorgonia.Value) (gorgonia.Value, error) {
	return op.DoInto(nil, in...)
}

// DoInto computes the averages into out (a new tensor when out is nil).
func (op globalAvgOp) DoInto(out *tensor.Dense, in ...gorgonia.Value) (gorgonia.Value, error) {
	ts, dt, err := denseInputs(op, in, 1)
	if err != nil {
		return nil, err
	}
	xs := ts[0].Shape()
	if err := op.checkShape(xs); err != nil {
		return nil, err
	}
	if out, err = outputFor(op, out, dt, []int{xs[0], xs[1]}); err != nil {
		return nil, err
	}
	if dt == tensor.Float32 {
		globalAvg(data[float32](ts[0]), data[float32](out), xs[2]*xs[3])
	} else {
		globalAvg(data[float64](ts[0]), data[float64](out), xs[2]*xs[3])
	}
	return out, nil
}

// globalAvg sets y[i] to the mean of plane i of x, the planes shared among the threads.
func globalAvg[T Float](x, y []T, hw int) {
	compute.For(len(y), len(x), func(lo, hi int) {
		for i := lo; i < hi; i++ {
			var s T
			for _, v := range x[i*hw : (i+1)*hw] {
				s += v
			}
			y[i] = s / T(hw)
		}
	})
}

func (op globalAvgOp) SymDiff(in gorgonia.Nodes, out, grad *gorgonia.Node) (gorgonia.Nodes, error) {
	if len(in) != 1 || in[0].Dims() != 4 {
		return nil, fmt.Errorf("%v: expected one 4-D input", op)
	}
	s := in[0].Shape()
	return applyGrads(out, gradOf{globalAvgGradOp{h: s[2], w: s[3]}, "x", gorgonia.Nodes{grad}})
}

// globalAvgGradOp spreads dy (N, C) evenly over (N, C, h, w).
type globalAvgGradOp struct {
	base
	backward
	h, w int
}

func (op globalAvgGradOp) Arity() int    { return 1 }
func (op globalAvgGradOp) Type() hm.Type { return hm.NewFnType(tensorOf(2), tensorOf(4)) }
func (op globalAvgGradOp) String() string {
	return fmt.Sprintf("d(global avg pool %dx%d)", op.h, op.w)
}
func (op globalAvgGradOp) WriteHash(h hash.Hash) {
	fmt.Fprintf(h, "unroll.globalavgpool.dx %dx%d", op.h, op.w)
}
func (op globalAvgGradOp) Hashcode() uint32 { return hashOf(op) }

func (op globalAvgGradOp) InferShape(in ...gorgonia.DimSizer) (tensor.Shape, error) {
	s, err := shapeOf(op, in, 0)
	if err != nil {
		return nil, err
	}
	if len(s) != 2 {
		return nil, fmt.Errorf("%v: gradient has shape %v", op, s)
	}
	return tensor.Shape{s[0], s[1], op.h, op.w}, nil
}

func (op globalAvgGradOp) Do(in ...gorgonia.Value) (gorgonia.Value, error) {
	return op.DoInto(nil, in...)
}

// DoInto spreads the gradient into out (a new tensor when out is nil).
func (op globalAvgGradOp) DoInto(out *tensor.Dense, in ...gorgonia.Value) (gorgonia.Value, error) {
	ts, dt, err := denseInputs(op, in, 1)
	if err != nil {
		return nil, err
	}
	s := ts[0].Shape()
	if len(s) != 2 {
		return nil, fmt.Errorf("%v: gradient has shape %v", op, s)
	}
	if out, err = outputFor(op, out, dt, []int{s[0], s[1], op.h, op.w}); err != nil {
		return nil, err
	}
	if dt == tensor.Float32 {
		spread(data[float32](ts[0]), data[float32](out), op.h*op.w)
	} else {
		spread(data[float64](ts[0]), data[float64](out), op.h*op.w)
	}
	return out, nil
}

// spread sets every element of plane i of dx to dy[i]/hw.
func spread[T Float](dy, dx []T, hw int) {
	compute.For(len(dy), len(dx), func(lo, hi int) {
		for i := lo; i < hi; i++ {
			g := dy[i] / T(hw)
			plane := dx[i*hw : (i+1)*hw]
			for j := range plane {
				plane[j] = g
			}
		}
	})
}

// Pool adds max or average pooling of x to x's graph: x (N, C, H, W), or (N, C, L) with rank 3,
// the window's padding resolved; excludePad leaves padding out of an average's divisor.
func Pool(kind PoolKind, win Window, rank int, excludePad bool, name string, x *gorgonia.Node) (*gorgonia.Node, error) {
	return Apply(poolOp{kind: kind, win: win, unary: unary{rank}, excludePad: excludePad}, name, x)
}

// PoolFused adds the pooling of x to x's graph as Pool does; when inference is set (no
// gradient will be taken through it) and the pooling is a 2x2 max pooling with stride 2 of the
// output of a 2-D convolution with fused ReLU that nothing else reads yet, it adds instead one
// op that computes the convolution, its ReLU and the pooling together (convOp.pool): the
// convolution's output is then pooled while it is in the cache and never written out. The
// convolution's own node stays in the graph, unused unless another node reads it.
func PoolFused(kind PoolKind, win Window, rank int, excludePad, inference bool, name string, x *gorgonia.Node) (*gorgonia.Node, error) {
	if inference && kind == MaxPool && rank == 4 && win == pool2x2.win {
		if c, ok := x.Op().(convOp); ok && c.relu && !c.pool && c.rank == 4 && len(parentsOf(x)) == 0 {
			if s := x.Shape(); len(s) == 4 && s[2] >= 2 && s[3] >= 2 {
				c.pool = true
				return Apply(c, name, childrenOf(x)...)
			}
		}
	}
	return Pool(kind, win, rank, excludePad, name, x)
}

// GlobalAvgPool adds the average of x (N, C, H, W) over H and W, giving (N, C).
func GlobalAvgPool(name string, x *gorgonia.Node) (*gorgonia.Node, error) {
	return Apply(globalAvgOp{}, name, x)
}
