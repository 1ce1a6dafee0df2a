package ops

import (
	"github.com/unroll-ml/unroll/internal/compute"
)

// The direct convolution: float32, stride 1, on processors with AVX-512 (conv_direct_amd64.go).
// It computes each output from the input and the kernel without the column matrix of im2col,
// which is kh·kw times larger than the input and costs a pass over memory to write and one to
// read. The op keeps NCHW at its inputs and outputs. Inside, it copies each input plane with
// its padding written out as zeros, hp = Ho + (kh-1)·dh rows of wp = Wo + (kw-1)·dw columns,
// and numbers the outputs of a plane by their place in such a padded row, t = i·wp + j, j < wp
// (the columns j >= Wo are computed and dropped). Then output t meets input t + p·dh·wp + q·dw
// for kernel element (p, q): sixteen consecutive outputs meet sixteen consecutive inputs, one
// vector load. The micro-kernels (conv_gen.go) compute 16·v consecutive outputs of m output
// channels: for each input channel and kernel element they load v vectors of inputs,
// broadcast m weights (stored in that order, wb[g][c][p][q][m]) and add v·m products with
// FMAs. The tile (v, m) is chosen per layer (directTile). The output channels of one image, m
// at a time, are shared among the threads; each output is computed by one thread in a fixed
// order, so the result does not depend on the number of threads.
//
// The input gradient of a stride-1 convolution is itself such a convolution: of dy, padded by
// (kh-1)·dh - pt above (and so on), with the kernel flipped and its two channel axes swapped
// (convDirectInputGrad).

// convKernelArgs are the arguments of a micro-kernel (their offsets are in conv_gen.go).
type convKernelArgs struct {
	x    *float32 // first input the first output meets, in channel 0
	w    *float32 // weights of the m output channels, [c][p][q][m]
	y    *float32 // first output of the first channel
	nc   int      // input channels
	kh   int
	kw   int
	xc   int      // bytes between two input planes
	xrow int      // bytes between the rows two kernel rows meet
	xkq  int      // bytes between the columns two kernel columns meet
	ys   int      // bytes between two output channels in y
	bias *float32 // m biases, or nil: none added
	relu int      // 1: max(0, ·) after the bias
	acc  int      // 1: start from the sums in y, not from zero
}

// directConvOK reports whether the direct convolution computes a float32 convolution with
// window win and sizes d (its forward, or its input gradient as a forward): AVX-512, stride 1.
func directConvOK(win Window, d convDims) bool {
	return directConvAvailable() && win.SH == 1 && win.SW == 1
}

// directTile chooses the micro-kernel for t outputs (padded positions) of o channels per
// plane: the fewest multiply-adds, padding included, with a small charge for the loads of a
// small tile (v + m loads for v·m FMAs).
func directTile(t, o int) (v, m int) {
	best := 0.0
	for _, k := range directKernelTiles() {
		kv, km := k[0], k[1]
		tp := (t + 16*kv - 1) / (16 * kv) * 16 * kv
		op := (o + km - 1) / km * km
		cost := float64(tp*op) * (1 + 0.3*float64(kv+km)/float64(kv*km))
		if best == 0 || cost < best {
			best, v, m = cost, kv, km
		}
	}
	return v, m
}

// convDirect sets y (N, O, Ho, Wo) to the convolution of x (N, C, H, W) by w (O, C, kh, kw),
// stride 1, dilation (dh, dw) from win, input row i - pt + p·dh for output row i and kernel
// row p (pt may be negative, as may pl), plus the bias (nil for none), through ReLU when relu
// is set; with pool (and relu) y is the 2x2 max pooling with stride 2 of that, (N, O, Ho/2,
// Wo/2), computed from the outputs while they are in the cache.
func convDirect(win Window, d convDims, x, w, bias []float32, relu, pool bool, y []float32) {
	convDirectChunked(win, d, x, w, bias, relu, pool, y, directChunk)
}

// directChunk is the number of input channels a micro-kernel call sums over: a layer with more
// is computed in passes over chunks of them, each continuing the sums of the one before, so
// that the inputs and weights a pass reuses stay in the first-level cache (64 input channels
// in one pass ran the W4 input gradient ~25% slower than 32 at the same work). The sums are
// the same, in the same order: the results do not depend on the chunk.
const directChunk = 32

// convDirectChunked is convDirect summing over chunk input channels per pass.
func convDirectChunked(win Window, d convDims, x, w, bias []float32, relu, pool bool, y []float32, chunk int) {
	pl := newDirectPlan(win, d, w, bias, chunk)
	pad := newPlanePad(d, pl.xs, d.ho+(win.KH-1)*win.DH, pl.wp, win.PT, win.PL)
	// An item computes gpi groups of output channels of one image, tile by tile: the inputs of
	// a tile stay in the first-level cache for all its groups (4 groups measured 7% faster
	// than 1 on W4). Not with few input channels (little to keep), when the groups' outputs
	// would outgrow that cache (they are copied or pooled after the last tile), or when too few
	// items would be left for the threads.
	gpi := min(pl.groups, 4, max(1, (1<<14)/(pl.m*pl.tpad)))
	if d.c < 16 || d.n*((pl.groups+gpi-1)/gpi) < 8 {
		gpi = 1
	}
	items := (pl.groups + gpi - 1) / gpi
	// Each goroutine pads the planes of an image when it comes to its first item, into a buffer
	// of its own (the second-level cache holds it while the items of the image use it),
	// rather than all images beforehand into memory that the kernels would read back from the
	// last-level cache or further.
	compute.For(d.n*items, d.n*d.o*d.ho*d.wo*pl.kk/4, func(lo, hi int) {
		yp := compute.Scratch[float32](gpi * pl.m * pl.tpad)
		xb := compute.Scratch[float32](d.c * pl.xs)
		padded := -1
		// (One per goroutine, not per item: handed to the assembly, they escape to the heap.)
		a := &convKernelArgs{kh: win.KH, kw: win.KW, xc: 4 * pl.xs, xrow: 4 * pl.wp * win.DH, xkq: 4 * win.DW, ys: 4 * pl.tpad}
		for it := lo; it < hi; it++ {
			n, g0 := it/items, it%items*gpi
			g1 := min(g0+gpi, pl.groups)
			if n != padded {
				pad.run(x[n*d.c*d.h*d.w:], xb, d.c)
				padded = n
			}
			pl.groupsOf(a, xb, yp, g0, g1, relu)
			pl.store(yp, y, n, g0, g1, pool)
		}
		compute.Release(xb)
		compute.Release(yp)
	})
	compute.Release(pl.wb)
}

// directPlan is how convDirectChunked lays out one convolution: the tiles of 16·v outputs of the
// padded rows (wp wide, tpad outputs in all), the planes of xs padded inputs, the weights in
// groups of m output channels, and the table of the masked stores that take the outputs out.
type directPlan struct {
	win                                 Window
	d                                   convDims
	v, m, tile, tiles, tpad, xs, wp, kk int
	groups, chunk                       int
	wb, bb                              []float32 // weights [group][c][p][q][m] (scratch) and bias [group][m]
	out                                 []packVec
	packed                              bool // the outputs leave by out's masked stores, else row by row
}

func newDirectPlan(win Window, d convDims, w, bias []float32, chunk int) *directPlan {
	pl := &directPlan{win: win, d: d, chunk: chunk, kk: d.c * win.KH * win.KW}
	pl.wp = d.wo + (win.KW-1)*win.DW
	t := d.ho * pl.wp
	pl.v, pl.m = directTile(t, d.o)
	pl.tile = 16 * pl.v
	pl.tiles = (t + pl.tile - 1) / pl.tile
	pl.tpad = pl.tiles * pl.tile
	// The last tile reads up to tpad-1 + (kh-1)·dh·wp + (kw-1)·dw.
	pl.xs = (pl.tpad + (win.KH-1)*win.DH*pl.wp + (win.KW-1)*win.DW + 15) &^ 15
	pl.groups = (d.o + pl.m - 1) / pl.m
	pl.wb = compute.Scratch[float32](pl.groups * pl.kk * pl.m)
	clear(pl.wb)
	for o := 0; o < d.o; o++ {
		g, ol := o/pl.m, o%pl.m
		for e := 0; e < pl.kk; e++ { // e = (c·kh + p)·kw + q
			pl.wb[(g*pl.kk+e)*pl.m+ol] = w[o*pl.kk+e]
		}
	}
	pl.bb = make([]float32, pl.groups*pl.m)
	if bias != nil {
		copy(pl.bb, bias[:d.o])
	}
	// (The padded rows always hold whole output rows here, wp >= wo.)
	pl.out, pl.packed = packTable(pl.tpad/16, d.ho, d.wo, d.ho, pl.wp, 0, 0)
	return pl
}

// groupsOf computes output channel groups g0..g1-1 of one image from its padded planes xb into
// yp (a plane of tpad values a channel) with the kernel arguments a, in passes over chunk input
// channels: the bias and the ReLU come with the last pass.
func (pl *directPlan) groupsOf(a *convKernelArgs, xb, yp []float32, g0, g1 int, relu bool) {
	// (In locals: the plan's fields would be read again after every kernel call.)
	win, c, chunk, kk, v, m := pl.win, pl.d.c, pl.chunk, pl.kk, pl.v, pl.m
	tiles, tile, xs, tpad, wb, bb := pl.tiles, pl.tile, pl.xs, pl.tpad, pl.wb, pl.bb
	for c0 := 0; c0 < c; c0 += chunk {
		last := c0+chunk >= c
		a.nc, a.acc, a.relu = min(chunk, c-c0), 0, 0
		if c0 > 0 {
			a.acc = 1
		}
		if relu && last {
			a.relu = 1
		}
		for k := 0; k < tiles; k++ {
			a.x = &xb[c0*xs+k*tile]
			for g := g0; g < g1; g++ {
				a.w = &wb[(g*kk+c0*win.KH*win.KW)*m]
				a.bias = nil
				if last {
					a.bias = &bb[g*m]
				}
				a.y = &yp[(g-g0)*m*tpad+k*tile]
				convDirectKernel(v, m, a)
			}
		}
	}
}

// store moves output channel groups g0..g1-1 of image n from yp into y, pooled when pool is set.
func (pl *directPlan) store(yp, y []float32, n, g0, g1 int, pool bool) {
	d, m := pl.d, pl.m
	p := d.ho * d.wo
	pp := (d.ho / 2) * (d.wo / 2)
	for o := g0 * m; o < min(g1*m, d.o); o++ {
		src := yp[(o-g0*m)*pl.tpad:]
		if pool {
			pooled(src, y[(n*d.o+o)*pp:(n*d.o+o+1)*pp], d.ho/2, d.wo/2, pl.wp)
			continue
		}
		if pl.packed {
			convCompress(&packArgs{plane: &y[(n*d.o+o)*p], packed: &src[0], vecs: &pl.out[0], nvec: len(pl.out),
				planes: min(g1*m, d.o) - o, planeStep: 4 * p, packedStep: 4 * pl.tpad, vecStep: 64})
			return
		}
		dst := y[(n*d.o+o)*p : (n*d.o+o+1)*p]
		for i := 0; i < d.ho; i++ {
			copy(dst[i*d.wo:(i+1)*d.wo], src[i*pl.wp:i*pl.wp+d.wo])
		}
	}
}

// pooled sets dst (ho x wo) to the 2x2 max pooling with stride 2 of src, rows of wp values,
// whose values are ReLU outputs (never NaN, zeros all +0: the maximum does not depend on the
// order of the comparisons).
func pooled(src, dst []float32, ho, wo, wp int) {
	if maxPool2x2Plane(dst, src, ho, wo, wp) {
		return
	}
	for i := 0; i < ho; i++ {
		out := dst[i*wo : (i+1)*wo]
		r0, r1 := src[2*i*wp:], src[(2*i+1)*wp:]
		for j := range out {
			out[j] = max(r0[2*j], r0[2*j+1], r1[2*j], r1[2*j+1])
		}
	}
}

// planePad moves planes of h x w values into the padded layout: xs values a plane, hp rows of
// wp positions, value (u, v) at (u+pt)·wp + v + pl, zeros elsewhere and after the hp·wp
// positions; with the masked moves where they apply (vecs), else row by row.
type planePad struct {
	h, w, xs, hp, wp, pt, pl int
	vecs                     []packVec
}

func newPlanePad(d convDims, xs, hp, wp, pt, pl int) planePad {
	p := planePad{h: d.h, w: d.w, xs: xs, hp: hp, wp: wp, pt: pt, pl: pl}
	if vecs, ok := packTable(xs/16, d.h, d.w, hp, wp, pt, pl); ok && directConvAvailable() {
		p.vecs = vecs
	}
	return p
}

// run pads the first planes planes of x into xb, plane i at i·xs, on the calling goroutine.
func (p planePad) run(x, xb []float32, planes int) {
	if p.vecs != nil {
		convExpand(&packArgs{plane: &x[0], packed: &xb[0], vecs: &p.vecs[0], nvec: len(p.vecs),
			planes: planes, planeStep: 4 * p.h * p.w, packedStep: 4 * p.xs, vecStep: 64})
		return
	}
	v0, v1 := max(p.pl, 0), min(p.w+p.pl, p.wp) // the columns that hold image columns
	for i := range planes {
		src := x[i*p.h*p.w : (i+1)*p.h*p.w]
		dst := xb[i*p.xs : (i+1)*p.xs]
		for u := 0; u < p.hp; u++ {
			row := dst[u*p.wp : (u+1)*p.wp]
			r := u - p.pt
			if r < 0 || r >= p.h || v0 >= v1 {
				clear(row)
				continue
			}
			clear(row[:v0])
			copy(row[v0:v1], src[r*p.w+v0-p.pl:r*p.w+v1-p.pl])
			clear(row[v1:])
		}
		clear(dst[p.hp*p.wp:])
	}
}

// padPlanes pads the planes of x (N, C, H, W) into xb, plane (n, c) at (n·C + c)·xs (see
// planePad), on all the threads.
func padPlanes(d convDims, x, xb []float32, xs, hp, wp, pt, pl int) {
	p := newPlanePad(d, xs, hp, wp, pt, pl)
	items := d.n * d.c
	compute.For(items, items*xs, func(lo, hi int) {
		p.run(x[lo*d.h*d.w:], xb[lo*xs:], hi-lo)
	})
}

// padPlanesRows is padPlanes row by row, on one goroutine: the reference of the masked moves'
// test.
func padPlanesRows(d convDims, x, xb []float32, xs, hp, wp, pt, pl int) {
	p := newPlanePad(d, xs, hp, wp, pt, pl)
	p.vecs = nil
	p.run(x, xb, d.n*d.c)
}

// convDirectInputGrad sets dx (N, C, H, W) to the input gradient of a stride-1 convolution
// with window win and sizes d, from w (O, C, kh, kw) and dy (N, O, Ho, Wo): the convolution of
// dy by the flipped kernel with its channel axes swapped, dx[n][c][u][v] =
// Σ_{o,p,q} dy[n][o][u+pt-p·dh][v+pl-q·dw] · w[o][c][p][q].
func convDirectInputGrad(win Window, d convDims, w, dy, dx []float32) {
	kh, kw := win.KH, win.KW
	wt := compute.Scratch[float32](d.c * d.o * kh * kw)
	for o := 0; o < d.o; o++ {
		for c := 0; c < d.c; c++ {
			for p := 0; p < kh; p++ {
				for q := 0; q < kw; q++ {
					wt[((c*d.o+o)*kh+kh-1-p)*kw+kw-1-q] = w[((o*d.c+c)*kh+p)*kw+q]
				}
			}
		}
	}
	t := Window{KH: kh, KW: kw, SH: 1, SW: 1, DH: win.DH, DW: win.DW,
		PT: (kh-1)*win.DH - win.PT, PL: (kw-1)*win.DW - win.PL}
	td := convDims{n: d.n, c: d.o, h: d.ho, w: d.wo, o: d.c, ho: d.h, wo: d.w}
	convDirect(t, td, dy, wt, nil, false, false, dx)
	compute.Release(wt)
}

// convWeightArgs are the arguments of a kernel-gradient micro-kernel (offsets in conv_gen.go).
type convWeightArgs struct {
	x     *float32 // padded input planes of the first image
	dy    *float32 // output gradient of the tile's channels, first image
	acc   *float32 // the tile's accumulators, 16 lanes each
	offs  *int     // byte offsets of the tile's shifted input planes
	n     int      // images
	kv    int      // vectors of 16 positions per image
	xnext int      // bytes from the end of an image's positions to the next image
}

// weightTileO is the number of output channels of a kernel-gradient tile, weightTileR the
// largest number of (input channel, kernel row, kernel column) rows.
const weightTileO, weightTileR = 4, 6

// convDirectWeightGrad sets dw (O, C, kh, kw) to the kernel gradient of a stride-1 convolution
// with window win and sizes d, from x (N, C, H, W) and dy (N, O, Ho, Wo):
// dw[o][c][p][q] = Σ_{n,i,j} dy[n][o][i][j] · x[n][c][i-pt+p·dh][j-pl+q·dw]. With the outputs
// numbered by their place t in a padded row (see convDirect; dy is 0 at the dropped columns),
// that is Σ_n Σ_t dy_o[t] · xpad_c[t + p·dh·wp + q·dw]: a dot product of two contiguous runs.
// The micro-kernels keep 16 partial sums per (o, c, p, q), over the images in order; their
// lanes are added in a fixed order at the end, so the result does not depend on the number of
// threads (which share the output channels, weightTileO at a time). Each goroutine pads the
// planes of a run of images and lays out the output gradient of its channels into buffers of
// its own just before it uses them, so that the kernels read them from the cache.
func convDirectWeightGrad(win Window, d convDims, x, dy, dw []float32) {
	kh, kw := win.KH, win.KW
	hp := d.ho + (kh-1)*win.DH
	wp := d.wo + (kw-1)*win.DW
	t := d.ho * wp
	kv := (t + 15) / 16
	tp := 16 * kv
	xs := (tp + (kh-1)*win.DH*wp + (kw-1)*win.DW + 15) &^ 15
	pad := newPlanePad(d, xs, hp, wp, win.PT, win.PL)

	const mo, mr = weightTileO, weightTileR
	ot := (d.o + mo - 1) / mo
	vecs, packed := packTable(kv, d.ho, d.wo, d.ho, wp, 0, 0)
	r := d.c * kh * kw
	rt := (r + mr - 1) / mr
	offs := make([]int, rt*mr)
	for e := 0; e < r; e++ {
		c, p, q := e/(kh*kw), e/kw%kh, e%kw
		offs[e] = 4 * (c*xs + p*win.DH*wp + q*win.DW)
	}
	tileAcc := mo * mr * 16
	acc := compute.Scratch[float32](ot * rt * tileAcc)
	clear(acc)
	nn := max(1, min(d.n, (1<<15)/(d.c*xs))) // images per run: their planes stay in the cache
	work := d.n * d.o * t * r / 4
	// Every part pads all the images, so the tiles go in one part of consecutive tiles per
	// thread (two per thread measured the same on W4: what they gain in balance, the second
	// padding costs).
	parts := min(ot, compute.Threads())
	compute.For(parts, work, func(plo, phi int) {
		lo, hi := plo*ot/parts, phi*ot/parts
		xb := compute.Scratch[float32](nn * d.c * xs)
		dyb := compute.Scratch[float32](nn * tp * mo) // [n][kv][mo][16]
		a := convWeightArgs{kv: kv, xnext: 4 * (d.c*xs - tp), x: &xb[0], dy: &dyb[0]}
		for n0 := 0; n0 < d.n; n0 += nn {
			a.n = min(nn, d.n-n0)
			pad.run(x[n0*d.c*d.h*d.w:], xb, a.n*d.c)
			for g := lo; g < hi; g++ {
				for n := n0; n < n0+a.n; n++ {
					weightGradLayout(dyb[(n-n0)*tp*mo:(n-n0+1)*tp*mo], dy, d, g, n, wp, vecs, packed)
				}
				for k := 0; k < rt; k++ {
					a.acc = &acc[(g*rt+k)*tileAcc]
					a.offs = &offs[k*mr]
					convWeightKernel(min(mr, r-k*mr), &a)
				}
			}
		}
		compute.Release(dyb)
		compute.Release(xb)
		for g := lo; g < hi; g++ {
			for ol := 0; ol < mo && g*mo+ol < d.o; ol++ {
				o := g*mo + ol
				for e := 0; e < r; e++ {
					lanes := acc[(g*rt+e/mr)*tileAcc+(e%mr*mo+ol)*16:][:16]
					var s float32
					for _, v := range lanes {
						s += v
					}
					dw[o*r+e] = s
				}
			}
		}
	})
	compute.Release(acc)
}

// weightGradLayout sets dst to the output gradient of image n's channels g·weightTileO.. in
// the layout of the kernel-gradient micro-kernel: vectors of 16 padded positions (rows of wp,
// zeros at the dropped columns), the tile's channels interleaved, [kv][weightTileO][16]; with
// the masked moves of vecs where packed, else copy by copy.
func weightGradLayout(dst, dy []float32, d convDims, g, n, wp int, vecs []packVec, packed bool) {
	const mo = weightTileO
	if planes := min(mo, d.o-g*mo); packed {
		if planes < mo {
			clear(dst)
		}
		convExpand(&packArgs{plane: &dy[(n*d.o+g*mo)*d.ho*d.wo], packed: &dst[0], vecs: &vecs[0], nvec: len(vecs),
			planes: planes, planeStep: 4 * d.ho * d.wo, packedStep: 64, vecStep: 64 * mo})
		return
	}
	clear(dst)
	for ol := 0; ol < mo && g*mo+ol < d.o; ol++ {
		src := dy[(n*d.o+g*mo+ol)*d.ho*d.wo:]
		for i := 0; i < d.ho; i++ {
			for j := 0; j < d.wo; { // the run of row i that falls in one block of 16
				pos := i*wp + j
				k := min(16-pos%16, d.wo-j)
				copy(dst[(pos/16*mo+ol)*16+pos%16:][:k], src[i*d.wo+j:][:k])
				j += k
			}
		}
	}
}
