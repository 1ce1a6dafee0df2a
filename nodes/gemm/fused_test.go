package gemm

import (
	"math"
	"math/big"
	"math/rand/v2"
	"testing"
)

// fma32 returns x*y + z rounded once to float32, in portable Go on any
// processor: the product is exact in float64, the sum and its error are
// exact (TwoSum), and rounding the sum to odd before rounding it to float32
// (53 >= 24+2 bits) rounds only once.
func fma32(x, y, z float32) float32 {
	p, w := float64(x)*float64(y), float64(z)
	s := p + w
	bp := s - w
	e := (p - bp) + (w - (s - bp))
	if bits := math.Float64bits(s); e != 0 && bits&1 == 0 {
		if (e > 0) == (s > 0) {
			bits++
		} else {
			bits--
		}
		s = math.Float64frombits(bits)
	}
	return float32(s)
}

// fusedReference computes alpha*op(A)*op(B) + beta*C in portable Go with
// the arithmetic of the fused kernels (kernel.fused) and the blocking of k
// that the driver chooses for a kernel with inner block kc: for each block, a
// sum from zero of the products in increasing k with one rounding each, then
// alpha times it (one rounding) plus beta*C (one rounding), with beta = 1
// after the first block. It returns C in the storage of c (padding kept).
func fusedReference(tc gemmCase, a []float32, lda int, b []float32, ldb int, c []float32, ldc int, kc int) []float32 {
	alpha, beta := float32(tc.alpha), float32(tc.beta)
	out := append([]float32(nil), c...)
	if tc.k == 0 || alpha == 0 {
		for i := 0; i < tc.m; i++ {
			row := out[i*ldc : i*ldc+tc.n]
			for j := range row {
				switch beta {
				case 0:
					row[j] = 0
				case 1:
				default:
					row[j] *= beta
				}
			}
		}
		return out
	}
	opA := func(i, p int) float32 {
		if tc.transA {
			return a[p*lda+i]
		}
		return a[i*lda+p]
	}
	opB := func(p, j int) float32 {
		if tc.transB {
			return b[j*ldb+p]
		}
		return b[p*ldb+j]
	}
	nk := (tc.k + kc - 1) / kc
	kc = (tc.k + nk - 1) / nk
	for i := 0; i < tc.m; i++ {
		for j := 0; j < tc.n; j++ {
			v := out[i*ldc+j]
			for pc := 0; pc < tc.k; pc += kc {
				var acc float32
				for p := pc; p < min(pc+kc, tc.k); p++ {
					acc = fma32(opA(i, p), opB(p, j), acc)
				}
				t := alpha * acc
				bt := beta
				if pc > 0 {
					bt = 1
				}
				if bt == 0 {
					v = t
				} else {
					v = fma32(bt, v, t)
				}
			}
			out[i*ldc+j] = v
		}
	}
	return out
}

// TestFMA32 checks fma32 against the exact value rounded by math/big, on
// random operands and on sums that cancel or fall halfway between two
// float32 values, where rounding twice would go wrong.
func TestFMA32(t *testing.T) {
	rng := rand.New(rand.NewPCG(21, 22))
	exact := func(x, y, z float32) float32 {
		p := new(big.Float).SetPrec(200).SetFloat64(float64(x))
		p.Mul(p, new(big.Float).SetFloat64(float64(y)))
		p.Add(p, new(big.Float).SetFloat64(float64(z)))
		f, _ := p.Float32()
		return f
	}
	rnd := func() float32 {
		return float32(rng.NormFloat64() * math.Pow(2, float64(rng.IntN(40)-20)))
	}
	for i := 0; i < 200000; i++ {
		x, y, z := rnd(), rnd(), rnd()
		switch i % 4 {
		case 1: // z cancels most of x*y
			z = -x * y
		case 2: // x*y is exactly halfway between two float32 values, plus a tiny z
			x = 1 + 0x1p-23
			y = 1 + 0x1p-1
			z = float32(rng.Float64()-0.5) * 0x1p-60
		case 3: // a large z and a tiny product
			z *= 0x1p30
		}
		if got, want := fma32(x, y, z), exact(x, y, z); math.Float32bits(got) != math.Float32bits(want) {
			t.Fatalf("fma32(%v, %v, %v) = %v, want %v", x, y, z, got, want)
		}
	}
}
