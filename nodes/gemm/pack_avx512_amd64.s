//go:build amd64 && !purego

#include "textflag.h"

#include "transpose_amd64.h"

// Packing for the AVX-512 kernel's 8x32 tile: panels of 8 rows of op(A) and
// of 32 columns of op(B). The contiguous copies use zmm registers and mask
// registers for partial panels (masked loads do not touch the values past
// n); the transposes are 8x8 in ymm registers.

// func spackContig8(d, s *float32, ld, kb, n int)
// d[8p+r] = s[p*ld+r] for r < n and 0 for n <= r < 8, p < kb; 1 <= n <= 8.
TEXT ·spackContig8(SB), NOSPLIT, $0-40
	MOVQ  d+0(FP), DI
	MOVQ  s+8(FP), SI
	MOVQ  ld+16(FP), DX
	SHLQ  $2, DX
	MOVQ  kb+24(FP), CX
	MOVQ  n+32(FP), AX
	MOVL  $1, R8
	SHLXL AX, R8, R8
	DECL  R8
	KMOVW R8, K1
	TESTQ CX, CX
	JZ    done

loop:
	VMOVUPS.Z (SI), K1, Y0
	VMOVUPS   Y0, (DI)
	ADDQ      DX, SI
	ADDQ      $32, DI
	DECQ      CX
	JNZ       loop
	VZEROUPPER

done:
	RET

// func spackContig32(d, s *float32, ld, kb, n int)
// d[32p+j] = s[p*ld+j] for j < n and 0 for n <= j < 32, p < kb; 1 <= n <= 32.
TEXT ·spackContig32(SB), NOSPLIT, $0-40
	MOVQ  d+0(FP), DI
	MOVQ  s+8(FP), SI
	MOVQ  ld+16(FP), DX
	SHLQ  $2, DX
	MOVQ  kb+24(FP), CX
	MOVQ  n+32(FP), AX
	MOVQ  $1, R8
	SHLXQ AX, R8, R8
	DECQ  R8
	KMOVW R8, K1
	SHRQ  $16, R8
	KMOVW R8, K2
	TESTQ CX, CX
	JZ    done
	CMPQ  AX, $32
	JNE   masked

full:
	VMOVUPS (SI), Z0
	VMOVUPS 64(SI), Z1
	VMOVUPS Z0, (DI)
	VMOVUPS Z1, 64(DI)
	ADDQ    DX, SI
	SUBQ    $-128, DI
	DECQ    CX
	JNZ     full
	VZEROUPPER
	RET

masked:
	VMOVUPS.Z (SI), K1, Z0
	VMOVUPS.Z 64(SI), K2, Z1
	VMOVUPS   Z0, (DI)
	VMOVUPS   Z1, 64(DI)
	ADDQ      DX, SI
	SUBQ      $-128, DI
	DECQ      CX
	JNZ       masked
	VZEROUPPER

done:
	RET

// LOAD8 loads 8 values from each of the 8 rows that start at base, ld bytes
// apart (DX = ld, BX = 3ld, R8 = 5ld, R9 = 7ld), into Y0..Y7.
#define LOAD8(base) \
	VMOVUPS (base), Y0;        \
	VMOVUPS (base)(DX*1), Y1;  \
	VMOVUPS (base)(DX*2), Y2;  \
	VMOVUPS (base)(BX*1), Y3;  \
	VMOVUPS (base)(DX*4), Y4;  \
	VMOVUPS (base)(R8*1), Y5;  \
	VMOVUPS (base)(BX*2), Y6;  \
	VMOVUPS (base)(R9*1), Y7

// STORE8 stores the transposed columns Y8..Y15 at off(DI), stride apart.
#define STORE8(off, stride) \
	VMOVUPS Y8, (off)(DI);            \
	VMOVUPS Y9, (off+stride)(DI);     \
	VMOVUPS Y10, (off+2*stride)(DI);  \
	VMOVUPS Y11, (off+3*stride)(DI);  \
	VMOVUPS Y12, (off+4*stride)(DI);  \
	VMOVUPS Y13, (off+5*stride)(DI);  \
	VMOVUPS Y14, (off+6*stride)(DI);  \
	VMOVUPS Y15, (off+7*stride)(DI)

// STRIDES sets DX = ld in bytes, BX = 3ld, R8 = 5ld, R9 = 7ld.
#define STRIDES \
	SHLQ $2, DX;         \
	LEAQ (DX)(DX*2), BX; \
	LEAQ (DX)(DX*4), R8; \
	LEAQ (BX)(DX*4), R9

// func spackStrided8(d, s *float32, ld, chunks int)
// d[8p+r] = s[r*ld+p] for r < 8 and p < 8*chunks.
TEXT ·spackStrided8(SB), NOSPLIT, $0-32
	MOVQ  d+0(FP), DI
	MOVQ  s+8(FP), SI
	MOVQ  ld+16(FP), DX
	MOVQ  chunks+24(FP), CX
	TESTQ CX, CX
	JZ    done
	STRIDES

loop:
	LOAD8(SI)
	TRANSPOSE8
	STORE8(0, 32)
	ADDQ $32, SI
	ADDQ $256, DI
	DECQ CX
	JNZ  loop
	VZEROUPPER

done:
	RET

// func spackStrided32(d, s *float32, ld, chunks int)
// d[32p+j] = s[j*ld+p] for j < 32 and p < 8*chunks.
TEXT ·spackStrided32(SB), NOSPLIT, $0-32
	MOVQ  d+0(FP), DI
	MOVQ  s+8(FP), SI
	MOVQ  ld+16(FP), DX
	MOVQ  chunks+24(FP), CX
	TESTQ CX, CX
	JZ    done
	STRIDES
	LEAQ  (SI)(DX*8), R10  // rows 8..15
	LEAQ  (R10)(DX*8), R11 // rows 16..23
	LEAQ  (R11)(DX*8), R12 // rows 24..31

loop:
	LOAD8(SI)
	TRANSPOSE8
	STORE8(0, 128)
	LOAD8(R10)
	TRANSPOSE8
	STORE8(32, 128)
	LOAD8(R11)
	TRANSPOSE8
	STORE8(64, 128)
	LOAD8(R12)
	TRANSPOSE8
	STORE8(96, 128)
	ADDQ $32, SI
	ADDQ $32, R10
	ADDQ $32, R11
	ADDQ $32, R12
	ADDQ $1024, DI
	DECQ CX
	JNZ  loop
	VZEROUPPER

done:
	RET
