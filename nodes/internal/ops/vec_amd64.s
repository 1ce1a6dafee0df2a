// Elementwise loops over float32 slices in AVX2 (eight values a vector, only whole vectors:
// the caller does the rest in Go) and, for the sum, AVX-512 (sixteen a vector, the last one
// under a mask), four vectors an iteration while enough are left. Each computes exactly what
// its Go version in vec.go computes, value by value: the same bits.

//go:build amd64 && !purego

#include "textflag.h"

// VECMASK sets K1 to the lanes of the next block of 16 floats: all of them while CX >= 16,
// the low CX of them for the last block.
#define VECMASK(full) \
	KXNORW K1, K1, K1 \
	CMPQ CX, $16 \
	JAE full \
	MOVL $1, AX \
	SHLL CX, AX \
	DECL AX \
	KMOVW AX, K1

// BINARY8 is the body of a loop dst[i] = a[i] OP b[i] over the whole vectors of eight of n
// values, four vectors an iteration while enough are left.
#define BINARY8(OP) \
	MOVQ dst+0(FP), DI \
	MOVQ a+8(FP), SI \
	MOVQ b+16(FP), DX \
	MOVQ n+24(FP), CX \
	SHRQ $3, CX \
	JZ done \
four: \
	CMPQ CX, $4 \
	JB one \
	VMOVUPS (SI), Y0 \
	VMOVUPS 32(SI), Y1 \
	VMOVUPS 64(SI), Y2 \
	VMOVUPS 96(SI), Y3 \
	OP (DX), Y0, Y0 \
	OP 32(DX), Y1, Y1 \
	OP 64(DX), Y2, Y2 \
	OP 96(DX), Y3, Y3 \
	VMOVUPS Y0, (DI) \
	VMOVUPS Y1, 32(DI) \
	VMOVUPS Y2, 64(DI) \
	VMOVUPS Y3, 96(DI) \
	ADDQ $128, SI \
	ADDQ $128, DX \
	ADDQ $128, DI \
	SUBQ $4, CX \
	JMP four \
one: \
	TESTQ CX, CX \
	JZ done \
	VMOVUPS (SI), Y0 \
	OP (DX), Y0, Y0 \
	VMOVUPS Y0, (DI) \
	ADDQ $32, SI \
	ADDQ $32, DX \
	ADDQ $32, DI \
	DECQ CX \
	JMP one \
done: \
	VZEROUPPER \
	RET

// func vecMul32AVX2(dst, a, b *float32, n int) sets dst[i] = a[i] * b[i] for i < n&^7.
TEXT ·vecMul32AVX2(SB), NOSPLIT, $0-32
	BINARY8(VMULPS)

// func vecBiasReLU32AVX2(dst, src *float32, b float32, n int) sets dst[i] = max(src[i]+b, 0)
// for i < n&^7, 0 where src[i]+b is NaN or -0: VMAXPS returns its second operand, 0, unless
// the first is greater.
TEXT ·vecBiasReLU32AVX2(SB), NOSPLIT, $0-32
	MOVQ dst+0(FP), DI
	MOVQ src+8(FP), SI
	VBROADCASTSS b+16(FP), Y5
	MOVQ n+24(FP), CX
	VXORPS Y4, Y4, Y4
	SHRQ $3, CX
	JZ done
four:
	CMPQ CX, $4
	JB one
	VADDPS (SI), Y5, Y0
	VADDPS 32(SI), Y5, Y1
	VADDPS 64(SI), Y5, Y2
	VADDPS 96(SI), Y5, Y3
	VMAXPS Y4, Y0, Y0
	VMAXPS Y4, Y1, Y1
	VMAXPS Y4, Y2, Y2
	VMAXPS Y4, Y3, Y3
	VMOVUPS Y0, (DI)
	VMOVUPS Y1, 32(DI)
	VMOVUPS Y2, 64(DI)
	VMOVUPS Y3, 96(DI)
	ADDQ $128, SI
	ADDQ $128, DI
	SUBQ $4, CX
	JMP four
one:
	TESTQ CX, CX
	JZ done
	VADDPS (SI), Y5, Y0
	VMAXPS Y4, Y0, Y0
	VMOVUPS Y0, (DI)
	ADDQ $32, SI
	ADDQ $32, DI
	DECQ CX
	JMP one
done:
	VZEROUPPER
	RET

// func vecReLUGrad32AVX2(dx, x, dy *float32, n int) sets dx[i] = dy[i] where x[i] > 0, else 0,
// for i < n&^7.
TEXT ·vecReLUGrad32AVX2(SB), NOSPLIT, $0-32
	MOVQ dx+0(FP), DI
	MOVQ x+8(FP), SI
	MOVQ dy+16(FP), DX
	MOVQ n+24(FP), CX
	VXORPS Y4, Y4, Y4
	SHRQ $3, CX
	JZ done
four:
	CMPQ CX, $4
	JB one
	VCMPPS $0x11, (SI), Y4, Y0
	VCMPPS $0x11, 32(SI), Y4, Y1
	VCMPPS $0x11, 64(SI), Y4, Y2
	VCMPPS $0x11, 96(SI), Y4, Y3
	VANDPS (DX), Y0, Y0
	VANDPS 32(DX), Y1, Y1
	VANDPS 64(DX), Y2, Y2
	VANDPS 96(DX), Y3, Y3
	VMOVUPS Y0, (DI)
	VMOVUPS Y1, 32(DI)
	VMOVUPS Y2, 64(DI)
	VMOVUPS Y3, 96(DI)
	ADDQ $128, SI
	ADDQ $128, DX
	ADDQ $128, DI
	SUBQ $4, CX
	JMP four
one:
	TESTQ CX, CX
	JZ done
	VCMPPS $0x11, (SI), Y4, Y0
	VANDPS (DX), Y0, Y0
	VMOVUPS Y0, (DI)
	ADDQ $32, SI
	ADDQ $32, DX
	ADDQ $32, DI
	DECQ CX
	JMP one
done:
	VZEROUPPER
	RET

// func vecDiv32AVX2(p *float32, s float32, n int) sets p[i] = p[i] / s for i < n&^7.
TEXT ·vecDiv32AVX2(SB), NOSPLIT, $0-24
	MOVQ p+0(FP), DI
	VBROADCASTSS s+8(FP), Y4
	MOVQ n+16(FP), CX
	SHRQ $3, CX
	JZ done
loop:
	VMOVUPS (DI), Y0
	VDIVPS Y4, Y0, Y0
	VMOVUPS Y0, (DI)
	ADDQ $32, DI
	DECQ CX
	JNZ loop
done:
	VZEROUPPER
	RET

// func vecDiv32AVX512(p *float32, s float32, n int) sets p[i] = p[i] / s for i < n.
TEXT ·vecDiv32AVX512(SB), NOSPLIT, $0-24
	MOVQ p+0(FP), DI
	VBROADCASTSS s+8(FP), Z4
	MOVQ n+16(FP), CX
loop:
	TESTQ CX, CX
	JLE done
	VECMASK(full)
full:
	VMOVUPS.Z (DI), K1, Z0
	VDIVPS Z4, Z0, Z0
	VMOVUPS Z0, K1, (DI)
	ADDQ $64, DI
	SUBQ $16, CX
	JMP loop
done:
	VZEROUPPER
	RET

// func vecScale32AVX2(out, p *float32, n int, scale float64) sets
// out[i] = float32(scale * float64(p[i])) for i < n&^3.
TEXT ·vecScale32AVX2(SB), NOSPLIT, $0-32
	MOVQ out+0(FP), DI
	MOVQ p+8(FP), SI
	MOVQ n+16(FP), CX
	VBROADCASTSD scale+24(FP), Y4
	SHRQ $2, CX
	JZ done
loop:
	VCVTPS2PD (SI), Y0
	VMULPD Y4, Y0, Y0
	VCVTPD2PSY Y0, X0
	VMOVUPS X0, (DI)
	ADDQ $16, SI
	ADDQ $16, DI
	DECQ CX
	JNZ loop
done:
	VZEROUPPER
	RET

// func vecMulAdd32AVX2(dst, a, b, c, d *float32, n int) sets dst[i] = a[i]*b[i] + c[i]*d[i]
// (each product rounded) for i < n&^7.
TEXT ·vecMulAdd32AVX2(SB), NOSPLIT, $0-48
	MOVQ dst+0(FP), DI
	MOVQ a+8(FP), SI
	MOVQ b+16(FP), DX
	MOVQ c+24(FP), R8
	MOVQ d+32(FP), R9
	MOVQ n+40(FP), CX
	SHRQ $3, CX
	JZ done
loop:
	VMOVUPS (SI), Y0
	VMULPS (DX), Y0, Y0
	VMOVUPS (R8), Y1
	VMULPS (R9), Y1, Y1
	VADDPS Y1, Y0, Y0
	VMOVUPS Y0, (DI)
	ADDQ $32, SI
	ADDQ $32, DX
	ADDQ $32, R8
	ADDQ $32, R9
	ADDQ $32, DI
	DECQ CX
	JNZ loop
done:
	VZEROUPPER
	RET

// func vecMulAdd32AVX512(dst, a, b, c, d *float32, n int) sets dst[i] = a[i]*b[i] + c[i]*d[i]
// (each product rounded) for i < n.
TEXT ·vecMulAdd32AVX512(SB), NOSPLIT, $0-48
	MOVQ dst+0(FP), DI
	MOVQ a+8(FP), SI
	MOVQ b+16(FP), DX
	MOVQ c+24(FP), R8
	MOVQ d+32(FP), R9
	MOVQ n+40(FP), CX
loop:
	TESTQ CX, CX
	JLE done
	VECMASK(full)
full:
	VMOVUPS.Z (SI), K1, Z0
	VMOVUPS.Z (DX), K1, Z2
	VMULPS Z2, Z0, Z0
	VMOVUPS.Z (R8), K1, Z1
	VMOVUPS.Z (R9), K1, Z3
	VMULPS Z3, Z1, Z1
	VADDPS Z1, Z0, Z0
	VMOVUPS Z0, K1, (DI)
	ADDQ $64, SI
	ADDQ $64, DX
	ADDQ $64, R8
	ADDQ $64, R9
	ADDQ $64, DI
	SUBQ $16, CX
	JMP loop
done:
	VZEROUPPER
	RET

// func vecAddMul32AVX2(dst, a, b, c *float32, n int) sets dst[i] = a[i] + b[i]*c[i] (the
// product rounded) for i < n&^7.
TEXT ·vecAddMul32AVX2(SB), NOSPLIT, $0-40
	MOVQ dst+0(FP), DI
	MOVQ a+8(FP), SI
	MOVQ b+16(FP), DX
	MOVQ c+24(FP), R8
	MOVQ n+32(FP), CX
	SHRQ $3, CX
	JZ done
loop:
	VMOVUPS (DX), Y1
	VMULPS (R8), Y1, Y1
	VMOVUPS (SI), Y0
	VADDPS Y1, Y0, Y0
	VMOVUPS Y0, (DI)
	ADDQ $32, SI
	ADDQ $32, DX
	ADDQ $32, R8
	ADDQ $32, DI
	DECQ CX
	JNZ loop
done:
	VZEROUPPER
	RET

// func vecAddMul32AVX512(dst, a, b, c *float32, n int) sets dst[i] = a[i] + b[i]*c[i] (the
// product rounded) for i < n.
TEXT ·vecAddMul32AVX512(SB), NOSPLIT, $0-40
	MOVQ dst+0(FP), DI
	MOVQ a+8(FP), SI
	MOVQ b+16(FP), DX
	MOVQ c+24(FP), R8
	MOVQ n+32(FP), CX
loop:
	TESTQ CX, CX
	JLE done
	VECMASK(full)
full:
	VMOVUPS.Z (DX), K1, Z1
	VMOVUPS.Z (R8), K1, Z2
	VMULPS Z2, Z1, Z1
	VMOVUPS.Z (SI), K1, Z0
	VADDPS Z1, Z0, Z0
	VMOVUPS Z0, K1, (DI)
	ADDQ $64, SI
	ADDQ $64, DX
	ADDQ $64, R8
	ADDQ $64, DI
	SUBQ $16, CX
	JMP loop
done:
	VZEROUPPER
	RET

// func vecLerp32AVX2(dst, a, z, b *float32, n int) sets dst[i] = a[i] + z[i]*(b[i] - a[i])
// (the product rounded) for i < n&^7.
TEXT ·vecLerp32AVX2(SB), NOSPLIT, $0-40
	MOVQ dst+0(FP), DI
	MOVQ a+8(FP), SI
	MOVQ z+16(FP), DX
	MOVQ b+24(FP), R8
	MOVQ n+32(FP), CX
	SHRQ $3, CX
	JZ done
loop:
	VMOVUPS (SI), Y0
	VMOVUPS (R8), Y1
	VSUBPS Y0, Y1, Y1
	VMULPS (DX), Y1, Y1
	VADDPS Y1, Y0, Y0
	VMOVUPS Y0, (DI)
	ADDQ $32, SI
	ADDQ $32, DX
	ADDQ $32, R8
	ADDQ $32, DI
	DECQ CX
	JNZ loop
done:
	VZEROUPPER
	RET

// func vecLerp32AVX512(dst, a, z, b *float32, n int) sets dst[i] = a[i] + z[i]*(b[i] - a[i])
// (the product rounded) for i < n.
TEXT ·vecLerp32AVX512(SB), NOSPLIT, $0-40
	MOVQ dst+0(FP), DI
	MOVQ a+8(FP), SI
	MOVQ z+16(FP), DX
	MOVQ b+24(FP), R8
	MOVQ n+32(FP), CX
loop:
	TESTQ CX, CX
	JLE done
	VECMASK(full)
full:
	VMOVUPS.Z (SI), K1, Z0
	VMOVUPS.Z (R8), K1, Z1
	VSUBPS Z0, Z1, Z1
	VMOVUPS.Z (DX), K1, Z2
	VMULPS Z2, Z1, Z1
	VADDPS Z1, Z0, Z0
	VMOVUPS Z0, K1, (DI)
	ADDQ $64, SI
	ADDQ $64, DX
	ADDQ $64, R8
	ADDQ $64, DI
	SUBQ $16, CX
	JMP loop
done:
	VZEROUPPER
	RET

// func colSums32AVX2(acc *[32]float64, m *float32, rows, ld int) adds rows [0, rows) of the 32
// columns of the row-major matrix at m (rows ld apart) to acc in float64, row after row:
// acc[j] = acc[j] + float64(m[r*ld+j]).
TEXT ·colSums32AVX2(SB), NOSPLIT, $0-32
	MOVQ acc+0(FP), AX
	MOVQ m+8(FP), SI
	MOVQ rows+16(FP), CX
	MOVQ ld+24(FP), DX
	SHLQ $2, DX
	VMOVUPD (AX), Y8
	VMOVUPD 32(AX), Y9
	VMOVUPD 64(AX), Y10
	VMOVUPD 96(AX), Y11
	VMOVUPD 128(AX), Y12
	VMOVUPD 160(AX), Y13
	VMOVUPD 192(AX), Y14
	VMOVUPD 224(AX), Y15
	TESTQ CX, CX
	JLE done
loop:
	VCVTPS2PD (SI), Y0
	VCVTPS2PD 16(SI), Y1
	VCVTPS2PD 32(SI), Y2
	VCVTPS2PD 48(SI), Y3
	VADDPD Y0, Y8, Y8
	VADDPD Y1, Y9, Y9
	VADDPD Y2, Y10, Y10
	VADDPD Y3, Y11, Y11
	VCVTPS2PD 64(SI), Y0
	VCVTPS2PD 80(SI), Y1
	VCVTPS2PD 96(SI), Y2
	VCVTPS2PD 112(SI), Y3
	VADDPD Y0, Y12, Y12
	VADDPD Y1, Y13, Y13
	VADDPD Y2, Y14, Y14
	VADDPD Y3, Y15, Y15
	ADDQ DX, SI
	DECQ CX
	JNZ loop
done:
	VMOVUPD Y8, (AX)
	VMOVUPD Y9, 32(AX)
	VMOVUPD Y10, 64(AX)
	VMOVUPD Y11, 96(AX)
	VMOVUPD Y12, 128(AX)
	VMOVUPD Y13, 160(AX)
	VMOVUPD Y14, 192(AX)
	VMOVUPD Y15, 224(AX)
	VZEROUPPER
	RET
