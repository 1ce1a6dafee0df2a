// The float32 Adam update (adamScalars.update) in AVX2, eight parameters at a time (the
// caller does the last n%8 in Go), and in AVX-512, sixteen at a time with the last block under
// a mask: the same operations in the same order as the Go loop, so the same bits (the square
// root is correctly rounded in both, as math.Sqrt then rounding to float32 is).
//
// c points to the float32 constants step, correction2, shrink, beta1, beta2, rest1, rest2,
// decay, eps (adamConsts32); mode is 0 (Adam without weight decay), 1 (AdamW: θ ← θ·shrink
// first) or 2 (Adam with weight decay: g ← g + decay·θ first).

//go:build amd64 && !purego

#include "textflag.h"

// ADAMMASK sets K1 to the lanes of the next block of 16 parameters: all of them while
// CX >= 16, the low CX of them for the last block.
#define ADAMMASK(full) \
	KXNORW K1, K1, K1 \
	CMPQ CX, $16 \
	JAE full \
	MOVL $1, BX \
	SHLL CX, BX \
	DECL BX \
	KMOVW BX, K1

// ADAMREST8 finishes the update of eight parameters whose gradient is in Y0 and value in Y1
// (after the weight decay): the moments m (R10) and v (R11), then the value (DI).
#define ADAMREST8 \
	VMOVUPS (R10), Y3 \
	VMULPS Y10, Y3, Y3 \
	VMULPS Y0, Y12, Y4 \
	VADDPS Y4, Y3, Y3 \
	VMOVUPS (R11), Y5 \
	VMULPS Y11, Y5, Y5 \
	VMULPS Y0, Y13, Y6 \
	VMULPS Y0, Y6, Y6 \
	VADDPS Y6, Y5, Y5 \
	VMOVUPS Y3, (R10) \
	VMOVUPS Y5, (R11) \
	VSQRTPS Y5, Y6 \
	VDIVPS Y8, Y6, Y6 \
	VADDPS Y15, Y6, Y6 \
	VMULPS Y3, Y7, Y3 \
	VDIVPS Y6, Y3, Y3 \
	VADDPS Y3, Y1, Y1 \
	VMOVUPS Y1, (DI)

// ADAMREST16 is ADAMREST8 for sixteen parameters in Z0 and Z1, under the mask K1.
#define ADAMREST16 \
	VMOVUPS.Z (R10), K1, Z3 \
	VMULPS Z23, Z3, Z3 \
	VMULPS Z0, Z25, Z4 \
	VADDPS Z4, Z3, Z3 \
	VMOVUPS.Z (R11), K1, Z5 \
	VMULPS Z24, Z5, Z5 \
	VMULPS Z0, Z26, Z6 \
	VMULPS Z0, Z6, Z6 \
	VADDPS Z6, Z5, Z5 \
	VMOVUPS Z3, K1, (R10) \
	VMOVUPS Z5, K1, (R11) \
	VSQRTPS Z5, Z6 \
	VDIVPS Z21, Z6, Z6 \
	VADDPS Z28, Z6, Z6 \
	VMULPS Z3, Z20, Z3 \
	VDIVPS Z6, Z3, Z3 \
	VADDPS Z3, Z1, Z1 \
	VMOVUPS Z1, K1, (DI)

// ADAMARGS loads the arguments: value DI, grad SI, m R10, v R11, n CX, c AX, mode R9.
#define ADAMARGS \
	MOVQ value+0(FP), DI \
	MOVQ grad+8(FP), SI \
	MOVQ m+16(FP), R10 \
	MOVQ v+24(FP), R11 \
	MOVQ n+32(FP), CX \
	MOVQ c+40(FP), AX \
	MOVQ mode+48(FP), R9

// func adam32AVX2(value, grad, m, v *float32, n int, c *adamConsts32, mode int) applies the
// update to parameters i < n&^7.
TEXT ·adam32AVX2(SB), NOSPLIT, $0-56
	ADAMARGS
	VBROADCASTSS 0(AX), Y7
	VBROADCASTSS 4(AX), Y8
	VBROADCASTSS 8(AX), Y9
	VBROADCASTSS 12(AX), Y10
	VBROADCASTSS 16(AX), Y11
	VBROADCASTSS 20(AX), Y12
	VBROADCASTSS 24(AX), Y13
	VBROADCASTSS 28(AX), Y14
	VBROADCASTSS 32(AX), Y15
	SHRQ $3, CX
	JZ done
loop:
	VMOVUPS (SI), Y0
	VMOVUPS (DI), Y1
	CMPQ R9, $1
	JEQ decoupled
	CMPQ R9, $2
	JNE rest
	VMULPS Y1, Y14, Y2
	VADDPS Y2, Y0, Y0
	JMP rest
decoupled:
	VMULPS Y9, Y1, Y1
rest:
	ADAMREST8
	ADDQ $32, SI
	ADDQ $32, DI
	ADDQ $32, R10
	ADDQ $32, R11
	DECQ CX
	JNZ loop
done:
	VZEROUPPER
	RET

// func adam32AVX512(value, grad, m, v *float32, n int, c *adamConsts32, mode int) applies the
// update to every parameter i < n.
TEXT ·adam32AVX512(SB), NOSPLIT, $0-56
	ADAMARGS
	VBROADCASTSS 0(AX), Z20
	VBROADCASTSS 4(AX), Z21
	VBROADCASTSS 8(AX), Z22
	VBROADCASTSS 12(AX), Z23
	VBROADCASTSS 16(AX), Z24
	VBROADCASTSS 20(AX), Z25
	VBROADCASTSS 24(AX), Z26
	VBROADCASTSS 28(AX), Z27
	VBROADCASTSS 32(AX), Z28
next:
	TESTQ CX, CX
	JLE done
	ADAMMASK(full)
full:
	VMOVUPS.Z (SI), K1, Z0
	VMOVUPS.Z (DI), K1, Z1
	CMPQ R9, $1
	JEQ decoupled
	CMPQ R9, $2
	JNE rest
	VMULPS Z1, Z27, Z2
	VADDPS Z2, Z0, Z0
	JMP rest
decoupled:
	VMULPS Z22, Z1, Z1
rest:
	ADAMREST16
	ADDQ $64, SI
	ADDQ $64, DI
	ADDQ $64, R10
	ADDQ $64, R11
	SUBQ $16, CX
	JMP next
done:
	VZEROUPPER
	RET
