// The 2x2 max pooling with stride 2 in AVX-512, a plane a call, sixteen windows of a row at a
// time (the last ones under masks): forward as Go's max(max(a, b), max(c, e)) over a window's
// top pair a, b and bottom pair c, e, backward as maxPoolGrad2x2. Each window's pairs come out of two rows of
// 32 values by VPERMT2PS (the even and the odd ones) and go back the same way.

//go:build amd64 && !purego

#include "textflag.h"

DATA pool_even<>+0(SB)/4, $0
DATA pool_even<>+4(SB)/4, $2
DATA pool_even<>+8(SB)/4, $4
DATA pool_even<>+12(SB)/4, $6
DATA pool_even<>+16(SB)/4, $8
DATA pool_even<>+20(SB)/4, $10
DATA pool_even<>+24(SB)/4, $12
DATA pool_even<>+28(SB)/4, $14
DATA pool_even<>+32(SB)/4, $16
DATA pool_even<>+36(SB)/4, $18
DATA pool_even<>+40(SB)/4, $20
DATA pool_even<>+44(SB)/4, $22
DATA pool_even<>+48(SB)/4, $24
DATA pool_even<>+52(SB)/4, $26
DATA pool_even<>+56(SB)/4, $28
DATA pool_even<>+60(SB)/4, $30
GLOBL pool_even<>(SB), RODATA|NOPTR, $64

DATA pool_lo<>+0(SB)/4, $0
DATA pool_lo<>+4(SB)/4, $16
DATA pool_lo<>+8(SB)/4, $1
DATA pool_lo<>+12(SB)/4, $17
DATA pool_lo<>+16(SB)/4, $2
DATA pool_lo<>+20(SB)/4, $18
DATA pool_lo<>+24(SB)/4, $3
DATA pool_lo<>+28(SB)/4, $19
DATA pool_lo<>+32(SB)/4, $4
DATA pool_lo<>+36(SB)/4, $20
DATA pool_lo<>+40(SB)/4, $5
DATA pool_lo<>+44(SB)/4, $21
DATA pool_lo<>+48(SB)/4, $6
DATA pool_lo<>+52(SB)/4, $22
DATA pool_lo<>+56(SB)/4, $7
DATA pool_lo<>+60(SB)/4, $23
GLOBL pool_lo<>(SB), RODATA|NOPTR, $64

DATA pool_one<>+0(SB)/4, $1
GLOBL pool_one<>(SB), RODATA|NOPTR, $4
DATA pool_eight<>+0(SB)/4, $8
GLOBL pool_eight<>(SB), RODATA|NOPTR, $4
DATA pool_absmask<>+0(SB)/4, $0x7fffffff
GLOBL pool_absmask<>(SB), RODATA|NOPTR, $4
DATA pool_inf<>+0(SB)/4, $0x7f800000
GLOBL pool_inf<>(SB), RODATA|NOPTR, $4

// POOLMASKS sets K1 to the inputs of the first 8 windows left and K2 to those of the next 8
// (two inputs a window in each row), and K3 to the windows: all while CX >= 16.
#define POOLMASKS(full) \
	KXNORW K1, K1, K1 \
	KXNORW K2, K2, K2 \
	KXNORW K3, K3, K3 \
	CMPQ CX, $16 \
	JAE full \
	MOVL $1, AX \
	SHLL CX, AX \
	DECL AX \
	KMOVW AX, K3 \
	MOVQ $1, AX \
	SHLQ CX, AX \
	SHLQ CX, AX \
	DECQ AX \
	KMOVW AX, K1 \
	SHRQ $16, AX \
	KMOVW AX, K2

// POOLPAIRS loads the 32 inputs at ptr under K1 and K2 and sets EVEN and ODD to the 16 even
// and 16 odd ones; Z30 holds the even indices.
#define POOLPAIRS(ptr, EVEN, ODD) \
	VMOVUPS.Z (ptr), K1, EVEN \
	VMOVUPS.Z 64(ptr), K2, Z29 \
	VMOVAPS EVEN, ODD \
	VPERMT2PS Z29, Z30, EVEN \
	VPERMT2PS Z29, Z31, ODD

// GOMAX sets DST to Go's max(A, B): the larger, +0 over -0, NaN if either is NaN. It uses Z28
// and K4.
#define GOMAX(A, B, DST) \
	VMAXPS B, A, Z28 \
	VMAXPS A, B, DST \
	VANDPS Z28, DST, DST \
	VCMPPS $3, B, A, K4 \
	VADDPS B, A, K4, DST

// ORDERKEY sets KEY to orderKey(V) (the magnitude, negated for negative values) and MAG to
// the magnitude; Z27 holds 0x7fffffff.
#define ORDERKEY(V, KEY, MAG) \
	VPANDD Z27, V, MAG \
	VPSRAD $31, V, KEY \
	VPXORD KEY, MAG, Z28 \
	VPSUBD KEY, Z28, KEY

// func maxPool2x2AVX512(dst, src *float32, ho, wo, pitch int) sets dst (ho x wo) to the 2x2
// max pooling with stride 2 of src, rows of pitch values, as Go's max(max(a, b), max(c, e))
// over each window's top pair a, b and bottom pair c, e: the whole plane in one call.
TEXT ·maxPool2x2AVX512(SB), NOSPLIT, $0-40
	MOVQ dst+0(FP), DI
	MOVQ src+8(FP), SI
	MOVQ ho+16(FP), R8
	MOVQ wo+24(FP), R9
	MOVQ pitch+32(FP), R10
	SHLQ $2, R10
	VMOVUPS pool_even<>(SB), Z30
	VPBROADCASTD pool_one<>(SB), Z31
	VPADDD Z30, Z31, Z31
prow:
	TESTQ R8, R8
	JLE pdone
	MOVQ SI, R11
	LEAQ (SI)(R10*1), DX
	MOVQ DI, BX
	MOVQ R9, CX
pchunk:
	TESTQ CX, CX
	JLE pnext
	POOLMASKS(pfull)
pfull:
	POOLPAIRS(R11, Z0, Z1)
	POOLPAIRS(DX, Z2, Z3)
	GOMAX(Z0, Z1, Z4)
	GOMAX(Z2, Z3, Z5)
	GOMAX(Z4, Z5, Z6)
	VMOVUPS Z6, K3, (BX)
	ADDQ $64, BX
	ADDQ $128, R11
	ADDQ $128, DX
	SUBQ $16, CX
	JMP pchunk
pnext:
	LEAQ (SI)(R10*2), SI
	LEAQ (DI)(R9*4), DI
	DECQ R8
	JMP prow
pdone:
	VZEROUPPER
	RET

// func maxPoolGrad2x2AVX512(dx, x, dy *float32, ho, wo, pitch, i0, j0 int, relu bool) int
// writes the gradient of the windows of one plane (x and dx rows of pitch values, dy ho x wo)
// from window (i0, j0) on, row by row, as maxPoolGrad2x2 does: the four elements of window
// (i, j) at x[2i][2j], x[2i][2j+1], x[2i+1][2j], x[2i+1][2j+1] get dy[i][j] in dx at the
// window's first maximum and 0 elsewhere, and with relu 0 everywhere when that maximum is not
// above 0. It stops before the first block of 16 windows of a row that holds a NaN and returns
// the window it stopped at, i·wo + j (ho·wo when it did them all).
TEXT ·maxPoolGrad2x2AVX512(SB), NOSPLIT, $0-80
	MOVQ pitch+40(FP), AX
	SHLQ $2, AX
	MOVQ i0+48(FP), R11
	MOVQ R11, BX
	IMULQ AX, BX
	SHLQ $1, BX
	MOVQ dx+0(FP), R12
	ADDQ BX, R12
	ADDQ x+8(FP), BX
	MOVQ wo+32(FP), R13
	IMULQ R11, R13
	SHLQ $2, R13
	ADDQ dy+16(FP), R13
	NEGQ R11
	ADDQ ho+24(FP), R11
	MOVBLZX relu+64(FP), R10
	VMOVUPS pool_even<>(SB), Z30
	VPBROADCASTD pool_one<>(SB), Z31
	VPADDD Z30, Z31, Z31
	VPBROADCASTD pool_absmask<>(SB), Z27
	VPBROADCASTD pool_inf<>(SB), Z26
	VMOVUPS pool_lo<>(SB), Z25
	VPBROADCASTD pool_eight<>(SB), Z24
	VPADDD Z25, Z24, Z24
	VPXORD Z23, Z23, Z23
	TESTQ R11, R11
	JLE gfinish
	MOVQ j0+56(FP), CX
	LEAQ (R12)(CX*8), DI
	LEAQ (BX)(CX*8), SI
	LEAQ (R13)(CX*4), R9
	NEGQ CX
	ADDQ wo+32(FP), CX
	JMP grow
gnext:
	MOVQ pitch+40(FP), AX
	SHLQ $3, AX
	ADDQ AX, R12
	ADDQ AX, BX
	MOVQ wo+32(FP), AX
	LEAQ (R13)(AX*4), R13
	DECQ R11
	JZ gfinish
	MOVQ R12, DI
	MOVQ BX, SI
	MOVQ R13, R9
	MOVQ AX, CX
grow:
	MOVQ pitch+40(FP), AX
	SHLQ $2, AX
	LEAQ (DI)(AX*1), R8
	LEAQ (SI)(AX*1), DX
gloop:
	TESTQ CX, CX
	JLE gnext
	POOLMASKS(gfull)
gfull:
	POOLPAIRS(SI, Z0, Z1)
	POOLPAIRS(DX, Z2, Z3)
	ORDERKEY(Z0, Z4, Z8)
	ORDERKEY(Z1, Z5, Z9)
	ORDERKEY(Z2, Z6, Z10)
	ORDERKEY(Z3, Z7, Z11)
	VPMAXUD Z9, Z8, Z12
	VPMAXUD Z11, Z10, Z13
	VPMAXUD Z13, Z12, Z12
	VPCMPUD $6, Z26, Z12, K3, K5
	KORTESTW K5, K5
	JNZ gstop
	VPMAXSD Z5, Z4, Z12
	VPMAXSD Z7, Z6, Z13
	VPMAXSD Z13, Z12, Z12
	VPCMPEQD Z12, Z4, K4
	VPCMPEQD Z12, Z5, K5
	VPCMPEQD Z12, Z6, K6
	KANDNW K5, K4, K5
	KORW K4, K5, K7
	KANDNW K6, K7, K6
	KORW K7, K6, K7
	KNOTW K7, K7
	TESTQ R10, R10
	JZ ggrads
	VPCMPGTD Z23, Z12, K2
	KANDW K2, K4, K4
	KANDW K2, K5, K5
	KANDW K2, K6, K6
	KANDW K2, K7, K7
ggrads:
	VMOVUPS.Z (R9), K3, Z14
	VMOVAPS.Z Z14, K4, Z0
	VMOVAPS.Z Z14, K5, Z1
	VMOVAPS.Z Z14, K6, Z2
	VMOVAPS.Z Z14, K7, Z3
	VMOVAPS Z0, Z4
	VPERMT2PS Z1, Z25, Z4
	VPERMT2PS Z1, Z24, Z0
	VMOVAPS Z2, Z5
	VPERMT2PS Z3, Z25, Z5
	VPERMT2PS Z3, Z24, Z2
	POOLMASKS(gfull2)
gfull2:
	VMOVUPS Z4, K1, (DI)
	VMOVUPS Z0, K2, 64(DI)
	VMOVUPS Z5, K1, (R8)
	VMOVUPS Z2, K2, 64(R8)
	ADDQ $128, DI
	ADDQ $128, R8
	ADDQ $128, SI
	ADDQ $128, DX
	ADDQ $64, R9
	SUBQ $16, CX
	JMP gloop
gstop:
	MOVQ ho+24(FP), AX
	SUBQ R11, AX
	IMULQ wo+32(FP), AX
	ADDQ wo+32(FP), AX
	SUBQ CX, AX
	MOVQ AX, ret+72(FP)
	VZEROUPPER
	RET
gfinish:
	MOVQ ho+24(FP), AX
	IMULQ wo+32(FP), AX
	MOVQ AX, ret+72(FP)
	VZEROUPPER
	RET
