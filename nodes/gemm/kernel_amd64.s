//go:build amd64 && !purego

#include "textflag.h"

// KSTEP multiplies one packed column of A (6 values at ao(AX)) by one packed
// row of B (16 values at bo(BX)) and accumulates into Y0..Y11: row r of the
// tile lives in Y(2r) (columns 0..7) and Y(2r+1) (columns 8..15).
#define KSTEP(ao, bo) \
	VMOVUPS      (bo)(BX), Y12;      \
	VMOVUPS      (bo+32)(BX), Y13;   \
	VBROADCASTSS (ao)(AX), Y14;      \
	VFMADD231PS  Y12, Y14, Y0;       \
	VFMADD231PS  Y13, Y14, Y1;       \
	VBROADCASTSS (ao+4)(AX), Y15;    \
	VFMADD231PS  Y12, Y15, Y2;       \
	VFMADD231PS  Y13, Y15, Y3;       \
	VBROADCASTSS (ao+8)(AX), Y14;    \
	VFMADD231PS  Y12, Y14, Y4;       \
	VFMADD231PS  Y13, Y14, Y5;       \
	VBROADCASTSS (ao+12)(AX), Y15;   \
	VFMADD231PS  Y12, Y15, Y6;       \
	VFMADD231PS  Y13, Y15, Y7;       \
	VBROADCASTSS (ao+16)(AX), Y14;   \
	VFMADD231PS  Y12, Y14, Y8;       \
	VFMADD231PS  Y13, Y14, Y9;       \
	VBROADCASTSS (ao+20)(AX), Y15;   \
	VFMADD231PS  Y12, Y15, Y10;      \
	VFMADD231PS  Y13, Y15, Y11

// STOREROW writes one tile row (lo, hi) to (DX) and 32(DX).
#define STOREROW(lo, hi) \
	VMOVUPS lo, (DX);   \
	VMOVUPS hi, 32(DX); \
	ADDQ    SI, DX

// STOREROWBETA writes one tile row as lo,hi + beta*C, beta in Y15.
#define STOREROWBETA(lo, hi) \
	VFMADD231PS (DX), Y15, lo;   \
	VFMADD231PS 32(DX), Y15, hi; \
	VMOVUPS     lo, (DX);        \
	VMOVUPS     hi, 32(DX);      \
	ADDQ        SI, DX

// func sgemmKernel6x16(k int, a, b, c *float32, ldc int, alpha, beta float32)
TEXT ·sgemmKernel6x16(SB), NOSPLIT, $0-48
	MOVQ k+0(FP), CX
	MOVQ a+8(FP), AX
	MOVQ b+16(FP), BX
	MOVQ c+24(FP), DX
	MOVQ ldc+32(FP), SI
	SHLQ $2, SI

	VXORPS Y0, Y0, Y0
	VXORPS Y1, Y1, Y1
	VXORPS Y2, Y2, Y2
	VXORPS Y3, Y3, Y3
	VXORPS Y4, Y4, Y4
	VXORPS Y5, Y5, Y5
	VXORPS Y6, Y6, Y6
	VXORPS Y7, Y7, Y7
	VXORPS Y8, Y8, Y8
	VXORPS Y9, Y9, Y9
	VXORPS Y10, Y10, Y10
	VXORPS Y11, Y11, Y11

	// Bring the C tile towards L1 while the products are computed.
	MOVQ       DX, DI
	PREFETCHT0 (DI)
	PREFETCHT0 63(DI)
	ADDQ       SI, DI
	PREFETCHT0 (DI)
	PREFETCHT0 63(DI)
	ADDQ       SI, DI
	PREFETCHT0 (DI)
	PREFETCHT0 63(DI)
	ADDQ       SI, DI
	PREFETCHT0 (DI)
	PREFETCHT0 63(DI)
	ADDQ       SI, DI
	PREFETCHT0 (DI)
	PREFETCHT0 63(DI)
	ADDQ       SI, DI
	PREFETCHT0 (DI)
	PREFETCHT0 63(DI)

	MOVQ CX, R8
	SHRQ $2, R8
	JZ   tail

loop4:
	KSTEP(0, 0)
	KSTEP(24, 64)
	KSTEP(48, 128)
	KSTEP(72, 192)
	ADDQ $96, AX
	ADDQ $256, BX
	DECQ R8
	JNZ  loop4

tail:
	ANDQ $3, CX
	JZ   scale

loop1:
	KSTEP(0, 0)
	ADDQ $24, AX
	ADDQ $64, BX
	DECQ CX
	JNZ  loop1

scale:
	VBROADCASTSS alpha+40(FP), Y14
	VMULPS       Y14, Y0, Y0
	VMULPS       Y14, Y1, Y1
	VMULPS       Y14, Y2, Y2
	VMULPS       Y14, Y3, Y3
	VMULPS       Y14, Y4, Y4
	VMULPS       Y14, Y5, Y5
	VMULPS       Y14, Y6, Y6
	VMULPS       Y14, Y7, Y7
	VMULPS       Y14, Y8, Y8
	VMULPS       Y14, Y9, Y9
	VMULPS       Y14, Y10, Y10
	VMULPS       Y14, Y11, Y11

	// beta == +0 or -0: overwrite C without reading it.
	MOVL beta+44(FP), R9
	ANDL $0x7fffffff, R9
	JZ   overwrite

	VBROADCASTSS beta+44(FP), Y15
	STOREROWBETA(Y0, Y1)
	STOREROWBETA(Y2, Y3)
	STOREROWBETA(Y4, Y5)
	STOREROWBETA(Y6, Y7)
	STOREROWBETA(Y8, Y9)
	STOREROWBETA(Y10, Y11)
	VZEROUPPER
	RET

overwrite:
	STOREROW(Y0, Y1)
	STOREROW(Y2, Y3)
	STOREROW(Y4, Y5)
	STOREROW(Y6, Y7)
	STOREROW(Y8, Y9)
	STOREROW(Y10, Y11)
	VZEROUPPER
	RET
