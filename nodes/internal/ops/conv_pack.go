package ops

// The moves between NCHW planes and the padded layout of the direct convolution (conv_direct.go):
// a plane of h x w values placed in rows of pitch values, with pt rows and pl columns before
// it, zeros elsewhere, read as vectors of 16 consecutive positions. The values a vector takes
// from the plane are consecutive in the plane whenever the padded rows keep every column of the
// plane (the last value of a row and the first of the next are neighbours in both): then one
// masked load or store moves them (conv_pack_avx512_amd64.s).

// packVec says where the values of one vector of 16 padded positions are in the plane: from
// byte off, in the lanes set in lanes; low has the lowest popcount(lanes) bits set. Its layout
// is read by the assembly.
type packVec struct {
	off   int
	lanes uint16
	low   uint16
	_     uint32
}

// packArgs are the arguments of convExpand and convCompress (offsets in bytes in the
// assembly): planes planes, each of nvec vectors described by vecs.
type packArgs struct {
	plane      *float32 // the first plane (NCHW side)
	packed     *float32 // its padded layout
	vecs       *packVec
	nvec       int
	planes     int
	planeStep  int // bytes between two planes, NCHW side
	packedStep int // bytes between two planes, padded side
	vecStep    int // bytes between two vectors of a plane, padded side
}

// packTable describes the nvec vectors of a padded plane: h x w values in rows of pitch
// positions, rows rows in all, the value (u, v) at position (u+pt)·pitch + v + pl. It reports
// false when a vector's values are not consecutive in the plane (a padded row too short for
// the plane's row).
func packTable(nvec, h, w, rows, pitch, pt, pl int) ([]packVec, bool) {
	vecs := make([]packVec, nvec)
	for k := range vecs {
		next, n := -1, 0
		for l := range 16 {
			t := 16*k + l
			r, c := t/pitch, t%pitch
			u, v := r-pt, c-pl
			if r >= rows || u < 0 || u >= h || v < 0 || v >= w {
				continue
			}
			s := u*w + v
			if next >= 0 && s != next {
				return nil, false
			}
			if next < 0 {
				vecs[k].off = 4 * s
			}
			next = s + 1
			vecs[k].lanes |= 1 << l
			n++
		}
		vecs[k].low = uint16(1<<n - 1)
	}
	return vecs, true
}
