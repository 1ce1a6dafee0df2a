// The AVX-512 versions of sigmoid32 and tanh32 (cell_math.go), sixteen values at a time, of
// the LSTM and GRU backward loops (cellBackward), eight at a time in float64, and of the
// maximum and exponentials of a softmax row (softmaxRow32), sixteen at a time: the same
// operations in the same order as the Go code and the AVX2 versions (no fused multiply-add),
// so that they give the same bits. The constants live in registers Z16-Z31. The cells' last
// block is loaded and stored under a mask (K1), so that every value takes the same path and
// no padding is needed; the softmax row takes rows of whole blocks of 16 only.

//go:build amd64 && !purego

#include "textflag.h"

DATA cellk_log2e<>+0(SB)/4, $0x3fb8aa3b
GLOBL cellk_log2e<>(SB), RODATA|NOPTR, $4
DATA cellk_magic<>+0(SB)/4, $0x4b400000
GLOBL cellk_magic<>(SB), RODATA|NOPTR, $4
DATA cellk_c1<>+0(SB)/4, $0x3f318000
GLOBL cellk_c1<>(SB), RODATA|NOPTR, $4
DATA cellk_c2<>+0(SB)/4, $0xb95e8083
GLOBL cellk_c2<>(SB), RODATA|NOPTR, $4
DATA cellk_p0<>+0(SB)/4, $0x39506967
GLOBL cellk_p0<>(SB), RODATA|NOPTR, $4
DATA cellk_p1<>+0(SB)/4, $0x3ab743ce
GLOBL cellk_p1<>(SB), RODATA|NOPTR, $4
DATA cellk_p2<>+0(SB)/4, $0x3c088908
GLOBL cellk_p2<>(SB), RODATA|NOPTR, $4
DATA cellk_p3<>+0(SB)/4, $0x3d2aa9c1
GLOBL cellk_p3<>(SB), RODATA|NOPTR, $4
DATA cellk_p4<>+0(SB)/4, $0x3e2aaaaa
GLOBL cellk_p4<>(SB), RODATA|NOPTR, $4
DATA cellk_p5<>+0(SB)/4, $0x3f000000
GLOBL cellk_p5<>(SB), RODATA|NOPTR, $4
DATA cellk_one<>+0(SB)/4, $0x3f800000
GLOBL cellk_one<>(SB), RODATA|NOPTR, $4
DATA cellk_hi<>+0(SB)/4, $0x42b0c0a5
GLOBL cellk_hi<>(SB), RODATA|NOPTR, $4
DATA cellk_lo<>+0(SB)/4, $0xc2aeac4f
GLOBL cellk_lo<>(SB), RODATA|NOPTR, $4
DATA cellk_inf<>+0(SB)/4, $0x7f800000
GLOBL cellk_inf<>(SB), RODATA|NOPTR, $4
DATA cellk_bias<>+0(SB)/4, $0x0000007f
GLOBL cellk_bias<>(SB), RODATA|NOPTR, $4
DATA cellk_sign<>+0(SB)/4, $0x80000000
GLOBL cellk_sign<>(SB), RODATA|NOPTR, $4
DATA cellk_small<>+0(SB)/4, $0x3f200000
GLOBL cellk_small<>(SB), RODATA|NOPTR, $4
DATA cellk_nine<>+0(SB)/4, $0x41100000
GLOBL cellk_nine<>(SB), RODATA|NOPTR, $4
DATA cellk_t0<>+0(SB)/4, $0xbbbaf0ea
GLOBL cellk_t0<>(SB), RODATA|NOPTR, $4
DATA cellk_t1<>+0(SB)/4, $0x3ca9134e
GLOBL cellk_t1<>(SB), RODATA|NOPTR, $4
DATA cellk_t2<>+0(SB)/4, $0xbd5c1e2d
GLOBL cellk_t2<>(SB), RODATA|NOPTR, $4
DATA cellk_t3<>+0(SB)/4, $0x3e088393
GLOBL cellk_t3<>(SB), RODATA|NOPTR, $4
DATA cellk_t4<>+0(SB)/4, $0xbeaaaa99
GLOBL cellk_t4<>(SB), RODATA|NOPTR, $4
DATA cellk_one64<>+0(SB)/8, $0x3ff0000000000000
GLOBL cellk_one64<>(SB), RODATA|NOPTR, $8

// CELLMASK16 sets K1 to the lanes of the next block of 16 floats: all of them while CX >= 16,
// the low CX of them for the last block.
#define CELLMASK16(full) \
	KXNORW K1, K1, K1 \
	CMPQ CX, $16 \
	JAE full \
	MOVL $1, AX \
	SHLL CX, AX \
	DECL AX \
	KMOVW AX, K1

// CELLMASK8 sets K1 to the lanes of the next block of 8 columns.
#define CELLMASK8(full) \
	KXNORW K1, K1, K1 \
	CMPQ CX, $8 \
	JAE full \
	MOVL $1, AX \
	SHLL CX, AX \
	DECL AX \
	KMOVW AX, K1

// CELLEXPCONSTS loads the constants of the exponential into Z16-Z31.
#define CELLEXPCONSTS \
	VBROADCASTSS cellk_log2e<>(SB), Z16 \
	VBROADCASTSS cellk_magic<>(SB), Z17 \
	VBROADCASTSS cellk_c1<>(SB), Z18 \
	VBROADCASTSS cellk_c2<>(SB), Z19 \
	VBROADCASTSS cellk_p0<>(SB), Z20 \
	VBROADCASTSS cellk_p1<>(SB), Z21 \
	VBROADCASTSS cellk_p2<>(SB), Z22 \
	VBROADCASTSS cellk_p3<>(SB), Z23 \
	VBROADCASTSS cellk_p4<>(SB), Z24 \
	VBROADCASTSS cellk_p5<>(SB), Z25 \
	VBROADCASTSS cellk_one<>(SB), Z26 \
	VBROADCASTSS cellk_hi<>(SB), Z27 \
	VBROADCASTSS cellk_lo<>(SB), Z28 \
	VBROADCASTSS cellk_inf<>(SB), Z29 \
	VPBROADCASTD cellk_bias<>(SB), Z30 \
	VBROADCASTSS cellk_sign<>(SB), Z31

// CELLEXP sets Z3 to exp32(X) (X is left alone); it uses Z1, Z2, Z4, Z5, K2 and K3.
#define CELLEXP(X) \
	VMULPS Z16, X, Z1 \
	VADDPS Z17, Z1, Z1 \
	VSUBPS Z17, Z1, Z1 \
	VMULPS Z18, Z1, Z2 \
	VSUBPS Z2, X, Z2 \
	VMULPS Z19, Z1, Z4 \
	VSUBPS Z4, Z2, Z2 \
	VMULPS Z20, Z2, Z4 \
	VADDPS Z21, Z4, Z4 \
	VMULPS Z2, Z4, Z4 \
	VADDPS Z22, Z4, Z4 \
	VMULPS Z2, Z4, Z4 \
	VADDPS Z23, Z4, Z4 \
	VMULPS Z2, Z4, Z4 \
	VADDPS Z24, Z4, Z4 \
	VMULPS Z2, Z4, Z4 \
	VADDPS Z25, Z4, Z4 \
	VMULPS Z2, Z4, Z4 \
	VMULPS Z2, Z4, Z4 \
	VADDPS Z2, Z4, Z4 \
	VADDPS Z26, Z4, Z4 \
	VCVTTPS2DQ Z1, Z5 \
	VPADDD Z30, Z5, Z5 \
	VPSLLD $23, Z5, Z5 \
	VMULPS Z5, Z4, Z3 \
	VCMPPS $0x1e, Z27, X, K2 \
	VMOVAPS Z29, K2, Z3 \
	VCMPPS $0x15, Z28, X, K3 \
	VMOVAPS.Z Z3, K3, Z3

// func sigmoids32AVX512(p *float32, n int) replaces p[i] by sigmoid32(p[i]) for i < n.
TEXT ·sigmoids32AVX512(SB), NOSPLIT, $0-16
	MOVQ p+0(FP), DI
	MOVQ n+8(FP), CX
	TESTQ CX, CX
	JLE sdone
	CELLEXPCONSTS
sloop:
	CELLMASK16(sfull)
sfull:
	VMOVUPS.Z (DI), K1, Z0
	VXORPS Z31, Z0, Z7
	CELLEXP(Z7)
	VADDPS Z26, Z3, Z3
	VDIVPS Z3, Z26, Z0
	VMOVUPS Z0, K1, (DI)
	ADDQ $64, DI
	SUBQ $16, CX
	JG sloop
sdone:
	VZEROUPPER
	RET

// func tanhs32AVX512(p *float32, n int) replaces p[i] by tanh32(p[i]) for i < n.
TEXT ·tanhs32AVX512(SB), NOSPLIT, $0-16
	MOVQ p+0(FP), DI
	MOVQ n+8(FP), CX
	TESTQ CX, CX
	JLE tdone
	CELLEXPCONSTS
	VBROADCASTSS cellk_t0<>(SB), Z6
	VBROADCASTSS cellk_t1<>(SB), Z7
	VBROADCASTSS cellk_t2<>(SB), Z12
	VBROADCASTSS cellk_t3<>(SB), Z13
	VBROADCASTSS cellk_t4<>(SB), Z14
	VADDPS Z26, Z26, Z15
tloop:
	CELLMASK16(tfull)
tfull:
	VMOVUPS.Z (DI), K1, Z0
	VANDNPS Z0, Z31, Z8
	VMULPS Z0, Z0, Z10
	VMULPS Z6, Z10, Z9
	VADDPS Z7, Z9, Z9
	VMULPS Z10, Z9, Z9
	VADDPS Z12, Z9, Z9
	VMULPS Z10, Z9, Z9
	VADDPS Z13, Z9, Z9
	VMULPS Z10, Z9, Z9
	VADDPS Z14, Z9, Z9
	VMULPS Z10, Z9, Z9
	VMULPS Z0, Z9, Z9
	VADDPS Z0, Z9, Z9
	VADDPS Z8, Z8, Z11
	CELLEXP(Z11)
	VADDPS Z26, Z3, Z3
	VDIVPS Z3, Z15, Z3
	VSUBPS Z3, Z26, Z3
	VCMPPS.BCST $0x15, cellk_nine<>(SB), Z8, K2
	VMOVAPS Z26, K2, Z3
	VXORPS Z10, Z10, Z10
	VCMPPS $0x11, Z10, Z0, K3
	VXORPS Z31, Z3, K3, Z3
	VCMPPS.BCST $0x11, cellk_small<>(SB), Z8, K4
	VMOVAPS Z9, K4, Z3
	VMOVUPS Z3, K1, (DI)
	ADDQ $64, DI
	SUBQ $16, CX
	JG tloop
tdone:
	VZEROUPPER
	RET

// func lstmBackward32AVX512(gates, tc, cp, gout, dg, dc *float32, h int) computes, for j < h,
// the LSTM step gradients of cellBackward in float64, eight values at a time: gates holds
// i, f, g, o at 0, h, 2h, 3h, gout dh' and dc' at 0 and h, dg receives dG at 0, h, 2h, 3h.
TEXT ·lstmBackward32AVX512(SB), NOSPLIT, $0-56
	MOVQ gates+0(FP), SI
	MOVQ tc+8(FP), R11
	MOVQ cp+16(FP), R12
	MOVQ gout+24(FP), R13
	MOVQ dg+32(FP), DI
	MOVQ dc+40(FP), R14
	MOVQ h+48(FP), CX
	MOVQ CX, R8
	SHLQ $2, R8
	LEAQ (R8)(R8*2), R10
	TESTQ CX, CX
	JLE lstmdone
	VBROADCASTSD cellk_one64<>(SB), Z15
lstmloop:
	CELLMASK8(lstmfull)
lstmfull:
	VCVTPS2PD.Z (SI), K1, Z0
	VCVTPS2PD.Z (SI)(R8*1), K1, Z1
	VCVTPS2PD.Z (SI)(R8*2), K1, Z2
	VCVTPS2PD.Z (SI)(R10*1), K1, Z3
	VCVTPS2PD.Z (R11), K1, Z4
	VCVTPS2PD.Z (R13), K1, Z5
	VCVTPS2PD.Z (R13)(R8*1), K1, Z6
	VCVTPS2PD.Z (R12), K1, Z7
	VMULPD Z3, Z5, Z8
	VMULPD Z4, Z4, Z9
	VSUBPD Z9, Z15, Z9
	VMULPD Z9, Z8, Z8
	VADDPD Z8, Z6, Z6
	VMULPD Z2, Z6, Z8
	VMULPD Z0, Z8, Z8
	VSUBPD Z0, Z15, Z9
	VMULPD Z9, Z8, Z8
	VCVTPD2PS Z8, Y8
	VMOVUPS Y8, K1, (DI)
	VMULPD Z7, Z6, Z8
	VMULPD Z1, Z8, Z8
	VSUBPD Z1, Z15, Z9
	VMULPD Z9, Z8, Z8
	VCVTPD2PS Z8, Y8
	VMOVUPS Y8, K1, (DI)(R8*1)
	VMULPD Z0, Z6, Z8
	VMULPD Z2, Z2, Z9
	VSUBPD Z9, Z15, Z9
	VMULPD Z9, Z8, Z8
	VCVTPD2PS Z8, Y8
	VMOVUPS Y8, K1, (DI)(R8*2)
	VMULPD Z4, Z5, Z8
	VMULPD Z3, Z8, Z8
	VSUBPD Z3, Z15, Z9
	VMULPD Z9, Z8, Z8
	VCVTPD2PS Z8, Y8
	VMOVUPS Y8, K1, (DI)(R10*1)
	VMULPD Z1, Z6, Z8
	VCVTPD2PS Z8, Y8
	VMOVUPS Y8, K1, (R14)
	ADDQ $32, SI
	ADDQ $32, R11
	ADDQ $32, R12
	ADDQ $32, R13
	ADDQ $32, DI
	ADDQ $32, R14
	SUBQ $8, CX
	JG lstmloop
lstmdone:
	VZEROUPPER
	RET

// func gruBackward32AVX512(gates, gout, hp, dgi, dgh, dh *float32, h int) computes, for j < h,
// the GRU step gradients of cellBackward in float64, eight values at a time: gates holds
// r, z, W_hn h + b_hn, n at 0, h, 2h, 3h; dgi and dgh receive dG_i and dG_h at 0, h, 2h.
TEXT ·gruBackward32AVX512(SB), NOSPLIT, $0-56
	MOVQ gates+0(FP), SI
	MOVQ gout+8(FP), R11
	MOVQ hp+16(FP), R12
	MOVQ dgi+24(FP), DI
	MOVQ dgh+32(FP), R13
	MOVQ dh+40(FP), R14
	MOVQ h+48(FP), CX
	MOVQ CX, R8
	SHLQ $2, R8
	LEAQ (R8)(R8*2), R10
	TESTQ CX, CX
	JLE grudone
	VBROADCASTSD cellk_one64<>(SB), Z15
gruloop:
	CELLMASK8(grufull)
grufull:
	VCVTPS2PD.Z (SI), K1, Z0
	VCVTPS2PD.Z (SI)(R8*1), K1, Z1
	VCVTPS2PD.Z (SI)(R8*2), K1, Z2
	VCVTPS2PD.Z (SI)(R10*1), K1, Z3
	VCVTPS2PD.Z (R11), K1, Z4
	VCVTPS2PD.Z (R12), K1, Z5
	VSUBPD Z1, Z15, Z9
	VMULPD Z9, Z4, Z6
	VMULPD Z3, Z3, Z9
	VSUBPD Z9, Z15, Z9
	VMULPD Z9, Z6, Z6
	VSUBPD Z3, Z5, Z9
	VMULPD Z9, Z4, Z7
	VMULPD Z1, Z7, Z7
	VSUBPD Z1, Z15, Z9
	VMULPD Z9, Z7, Z7
	VMULPD Z2, Z6, Z8
	VMULPD Z0, Z8, Z8
	VSUBPD Z0, Z15, Z9
	VMULPD Z9, Z8, Z8
	VCVTPD2PS Z8, Y8
	VMOVUPS Y8, K1, (DI)
	VMOVUPS Y8, K1, (R13)
	VCVTPD2PS Z7, Y7
	VMOVUPS Y7, K1, (DI)(R8*1)
	VMOVUPS Y7, K1, (R13)(R8*1)
	VCVTPD2PS Z6, Y9
	VMOVUPS Y9, K1, (DI)(R8*2)
	VMULPD Z0, Z6, Z9
	VCVTPD2PS Z9, Y9
	VMOVUPS Y9, K1, (R13)(R8*2)
	VMULPD Z1, Z4, Z9
	VCVTPD2PS Z9, Y9
	VMOVUPS Y9, K1, (R14)
	ADDQ $32, SI
	ADDQ $32, R11
	ADDQ $32, R12
	ADDQ $32, DI
	ADDQ $32, R13
	ADDQ $32, R14
	SUBQ $8, CX
	JG gruloop
grudone:
	VZEROUPPER
	RET

DATA cellk_ninf<>+0(SB)/4, $0xff800000
GLOBL cellk_ninf<>(SB), RODATA|NOPTR, $4

// func softmaxRow32AVX512(z, p *float32, n int) (m, s float32) computes softmaxRow32 of the
// row z of n values, a multiple of 16, into p: the partial maxima and sums of the 16 lanes
// live in Z8 and are folded as foldMax16 and foldSum16 fold them.
TEXT ·softmaxRow32AVX512(SB), NOSPLIT, $0-32
	MOVQ z+0(FP), SI
	MOVQ p+8(FP), DI
	MOVQ n+16(FP), DX
	SHRQ $4, DX
	JZ rowdone
	MOVQ SI, R8
	MOVQ DI, R9
	MOVQ DX, CX
	VBROADCASTSS cellk_ninf<>(SB), Z8
maxloop:
	VMOVUPS (SI), Z0
	VMAXPS Z8, Z0, Z8
	ADDQ $64, SI
	DECQ CX
	JNZ maxloop
	VEXTRACTF32X8 $1, Z8, Y1
	VMAXPS Y8, Y1, Y8
	VEXTRACTF128 $1, Y8, X1
	VMAXPS X8, X1, X8
	VMOVHLPS X8, X8, X1
	VMAXPS X8, X1, X8
	VMOVSHDUP X8, X1
	VMAXPS X8, X1, X8
	VBROADCASTSS X8, Z10
	CELLEXPCONSTS
	MOVQ R8, SI
	MOVQ DX, CX
	VXORPS Z8, Z8, Z8
exploop:
	VMOVUPS (SI), Z7
	VSUBPS Z10, Z7, Z7
	CELLEXP(Z7)
	VMOVUPS Z3, (DI)
	VADDPS Z3, Z8, Z8
	ADDQ $64, SI
	ADDQ $64, DI
	DECQ CX
	JNZ exploop
	VEXTRACTF32X8 $1, Z8, Y1
	VADDPS Y1, Y8, Y8
	VEXTRACTF128 $1, Y8, X1
	VADDPS X1, X8, X8
	VMOVHLPS X8, X8, X1
	VADDPS X1, X8, X8
	VMOVSHDUP X8, X1
	VADDPS X1, X8, X8
	VMOVSS X10, m+24(FP)
	VMOVSS X8, s+28(FP)
	VBROADCASTSS X8, Z11
	MOVQ R9, DI
	MOVQ DX, CX
divloop:
	VMOVUPS (DI), Z0
	VDIVPS Z11, Z0, Z0
	VMOVUPS Z0, (DI)
	ADDQ $64, DI
	DECQ CX
	JNZ divloop
rowdone:
	VZEROUPPER
	RET
