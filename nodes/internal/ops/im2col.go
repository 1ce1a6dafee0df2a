package ops

import (
	"github.com/unroll-ml/unroll/internal/compute"
)

// validRange returns the output positions [lo, hi) among n whose input position
// off + j·stride lies in [0, size).
func validRange(off, stride, size, n int) (int, int) {
	lo := 0
	if off < 0 {
		lo = (-off + stride - 1) / stride
	}
	if size-1-off < 0 {
		return 0, 0
	}
	hi := min((size-1-off)/stride+1, n)
	lo = min(lo, n)
	return lo, max(hi, lo)
}

// im2colImages unrolls images n0..n1-1 of x (N, C, H, W) into col (C·kh·kw, G·Ho·Wo), G = n1-n0:
// row (c, p, q) holds, at column i·Ho·Wo + (a, b) (image n0+i, output position (a, b)), the
// input x[n0+i, c, a·sh - pt + p·dh, b·sw - pl + q·dw], or 0 where that falls in the padding.
// The (image, channel) pairs are shared among the threads.
func im2colImages[T Float](win Window, d convDims, x, col []T, n0, n1 int) {
	eachColumnRow(win, d, x, col, n0, n1, func(xc, row []T, kp, kq int) {
		im2colRow(win, d, xc, row, kp, kq)
	})
}

// eachColumnRow calls f, on the threads, for each (image, channel) plane xc of images n0..n1-1
// of x (N, C, H, W) and each kernel element (kp, kq), with the part of col's row (c, kp, kq)
// that holds that image: the pairs im2col and col2im move between. The planes are shared among
// the threads, so each plane is read or written by one thread only.
func eachColumnRow[T Float](win Window, d convDims, x, col []T, n0, n1 int, f func(xc, row []T, kp, kq int)) {
	p := d.ho * d.wo
	gp := (n1 - n0) * p
	kk := win.KH * win.KW
	items := (n1 - n0) * d.c
	compute.For(items, items*kk*p, func(lo, hi int) {
		for it := lo; it < hi; it++ {
			i, c := it/d.c, it%d.c
			xc := x[((n0+i)*d.c+c)*d.h*d.w : ((n0+i)*d.c+c+1)*d.h*d.w]
			for kp := 0; kp < win.KH; kp++ {
				for kq := 0; kq < win.KW; kq++ {
					row := c*kk + kp*win.KW + kq
					f(xc, col[row*gp+i*p:row*gp+(i+1)*p], kp, kq)
				}
			}
		}
	})
}

// shifted reports whether kernel rows are plain shifts of the image: stride 1, no dilation
// along the width and an output as wide as the input (a "same" convolution), so that the
// inputs one kernel element meets at the output positions, in row-major order, are a
// contiguous run of the image plane except at the left and right borders.
func (w Window) shifted(d convDims) bool {
	return w.SH == 1 && w.SW == 1 && w.DW == 1 && d.wo == d.w
}

// rowsFor returns the output rows [lo, hi) whose input row i - pt + kp·dh lies in the image.
func (w Window) rowsFor(d convDims, kp int) (int, int) {
	return validRange(kp*w.DH-w.PT, 1, d.h, d.ho)
}

// im2colRow fills dst (Ho·Wo) with the inputs of one channel plane xc (H, W) that kernel
// element (kp, kq) meets at each output position.
func im2colRow[T Float](win Window, d convDims, xc, dst []T, kp, kq int) {
	if win.shifted(d) {
		// dst[i·W + j] = xc[(i + dy)·W + j + dx] for the valid rows, 0 elsewhere: one copy of a
		// contiguous run, then the border columns the shift wrapped around are cleared.
		dy, dx := kp*win.DH-win.PT, kq-win.PL
		lo, hi := win.rowsFor(d, kp)
		clear(dst[:lo*d.w])
		clear(dst[hi*d.w:])
		if lo >= hi {
			return
		}
		a, b := lo*d.w, hi*d.w // dst range; its source starts at a + dy·W + dx
		sa, sb := a+dy*d.w+dx, b+dy*d.w+dx
		if sa < 0 {
			a, sa = a-sa, 0
		}
		if sb > len(xc) {
			b, sb = b-(sb-len(xc)), len(xc)
		}
		copy(dst[a:b], xc[sa:sb])
		clearColumns(dst, d.w, lo, hi, dx)
		return
	}
	off := kq*win.DW - win.PL // input column of output column 0
	lo, hi := validRange(off, win.SW, d.w, d.wo)
	for i := 0; i < d.ho; i++ {
		out := dst[i*d.wo : (i+1)*d.wo]
		iy := i*win.SH - win.PT + kp*win.DH
		if iy < 0 || iy >= d.h || lo >= hi {
			clear(out)
			continue
		}
		src := xc[iy*d.w : (iy+1)*d.w]
		clear(out[:lo])
		clear(out[hi:])
		if win.SW == 1 {
			s, o := src[off+lo:off+hi], out[lo:hi]
			for j := range o {
				o[j] = s[j]
			}
			continue
		}
		ix := off + lo*win.SW
		for j := lo; j < hi; j++ {
			out[j] = src[ix]
			ix += win.SW
		}
	}
}

// col2imImages is the adjoint of im2colImages: it sets dx for images n0..n1-1 to the sum, at
// each image position, of the elements of col (C·kh·kw, G·Ho·Wo) that im2col read from there.
// Each (image, channel) plane of dx is written by one thread.
func col2imImages[T Float](win Window, d convDims, col, dx []T, n0, n1 int) {
	eachColumnRow(win, d, dx, col, n0, n1, func(xc, row []T, kp, kq int) {
		if kp == 0 && kq == 0 {
			clear(xc) // the plane's first visit
		}
		col2imRow(win, d, row, xc, kp, kq)
	})
}

// clearColumns zeroes, in rows lo..hi-1 of m (rows of w elements), the columns that a shift by
// dx moves outside the row: the first -dx when dx < 0, the last dx when dx > 0.
func clearColumns[T Float](m []T, w, lo, hi, dx int) {
	j0, j1 := 0, min(-dx, w)
	if dx > 0 {
		j0, j1 = max(w-dx, 0), w
	}
	for j := j0; j < j1; j++ {
		for i := lo; i < hi; i++ {
			m[i*w+j] = 0
		}
	}
}

// col2imRow adds src (Ho·Wo), the column gradients of kernel element (kp, kq), into the
// channel plane xc (H, W). When the kernel rows are shifts of the image it clears the border
// columns of src that fall outside the image and adds a contiguous run (adding zeros changes
// no sum), so src is scratch.
func col2imRow[T Float](win Window, d convDims, src, xc []T, kp, kq int) {
	if win.shifted(d) {
		dy, dx := kp*win.DH-win.PT, kq-win.PL
		lo, hi := win.rowsFor(d, kp)
		if lo >= hi {
			return
		}
		clearColumns(src, d.w, lo, hi, dx)
		a, b := lo*d.w, hi*d.w
		sa, sb := a+dy*d.w+dx, b+dy*d.w+dx // where src[a:b] lands in xc
		if sa < 0 {
			a, sa = a-sa, 0
		}
		if sb > len(xc) {
			b, sb = b-(sb-len(xc)), len(xc)
		}
		addTo(xc[sa:sb], src[a:b])
		return
	}
	off := kq*win.DW - win.PL
	lo, hi := validRange(off, win.SW, d.w, d.wo)
	if lo >= hi {
		return
	}
	for i := 0; i < d.ho; i++ {
		iy := i*win.SH - win.PT + kp*win.DH
		if iy < 0 || iy >= d.h {
			continue
		}
		in := src[i*d.wo+lo : i*d.wo+hi]
		dst := xc[iy*d.w : (iy+1)*d.w]
		if win.SW == 1 {
			dst = dst[off+lo : off+hi]
			for j, v := range in {
				dst[j] += v
			}
			continue
		}
		ix := off + lo*win.SW
		for _, v := range in {
			dst[ix] += v
			ix += win.SW
		}
	}
}

// addTo sets dst += src elementwise (of the same length).
func addTo[T Float](dst, src []T) {
	src = src[:len(dst)]
	for i, v := range src {
		dst[i] += v
	}
}
