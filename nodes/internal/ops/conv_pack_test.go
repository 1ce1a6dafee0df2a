package ops

import (
	"math/rand/v2"
	"slices"
	"testing"
)

// TestPackMovesMatchRows checks the masked moves of the padded layout (convExpand, convCompress)
// against the row-by-row copies, on paddings that are even, uneven, wider than the kernel and
// negative (where the table is refused and the rows are copied), and that they write nothing
// outside their planes.
func TestPackMovesMatchRows(t *testing.T) {
	if !directConvAvailable() {
		t.Skip("no AVX-512: the direct convolution and its moves do not run")
	}
	r := rand.New(rand.NewPCG(5, 6))
	type geo struct{ h, w, pt, pb, pl, pr int }
	for _, g := range []geo{{14, 14, 1, 1, 1, 1}, {28, 28, 1, 1, 1, 1}, {5, 45, 2, 2, 2, 2}, {7, 6, 0, 1, 3, 0},
		{7, 6, 4, 0, 0, 5}, {1, 30, 0, 0, 2, 2}, {3, 1, 1, 1, 1, 1}, {9, 17, 0, 0, 0, 0}, {6, 7, -1, 0, -2, 1}} {
		d := convDims{n: 2, c: 3, h: g.h, w: g.w}
		hp, wp := g.h+g.pt+g.pb, g.w+g.pl+g.pr
		xs := (hp*wp + 15) &^ 15
		x := make([]float32, d.n*d.c*g.h*g.w)
		for i := range x {
			x[i] = float32(r.NormFloat64())
		}
		want := make([]float32, d.n*d.c*xs)
		got := make([]float32, len(want))
		for i := range got {
			got[i] = float32(i) // no stale zeros to hide a missed store
		}
		padPlanesRows(d, x, want, xs, hp, wp, g.pt, g.pl)
		padPlanes(d, x, got, xs, hp, wp, g.pt, g.pl)
		if !slices.Equal(got, want) {
			t.Fatalf("%+v: padPlanes differs from the row copies", g)
		}
		// Back: the valid positions of padded planes of ho x wo outputs in rows of wp.
		ho, wo := min(g.h, hp), min(g.w, wp)
		vecs, ok := packTable(xs/16, ho, wo, ho, wp, 0, 0)
		if !ok {
			t.Fatalf("%+v: no table for outputs of rows of %d in rows of %d", g, wo, wp)
		}
		const guard = 37
		y := make([]float32, d.n*d.c*ho*wo+guard)
		for i := range y {
			y[i] = -1
		}
		convCompress(&packArgs{plane: &y[0], packed: &want[0], vecs: &vecs[0], nvec: len(vecs),
			planes: d.n * d.c, planeStep: 4 * ho * wo, packedStep: 4 * xs, vecStep: 64})
		for pl := 0; pl < d.n*d.c; pl++ {
			for i := 0; i < ho; i++ {
				for j := 0; j < wo; j++ {
					if got, want := y[(pl*ho+i)*wo+j], want[pl*xs+i*wp+j]; got != want {
						t.Fatalf("%+v: plane %d (%d, %d) = %v, want %v", g, pl, i, j, got, want)
					}
				}
			}
		}
		for i := d.n * d.c * ho * wo; i < len(y); i++ {
			if y[i] != -1 {
				t.Fatalf("%+v: convCompress wrote past the planes at %d", g, i)
			}
		}
	}
}
