//go:build amd64 && !purego

#include "textflag.h"

// The moves between NCHW planes and the padded layout of the direct convolution (conv_pack.go).
// Both walk a table of packVec entries, one per vector of 16 padded positions: off (bytes, in
// the plane) at 0, lanes (the positions that hold a plane value) at 8, low (the lowest
// popcount(lanes) lanes) at 10. The plane's values of a vector are consecutive, so one masked
// load (or store) of `low` lanes moves them, and VEXPANDPS (VCOMPRESSPS) puts them in (takes
// them from) their lanes. Lanes outside a mask are neither read nor written in the plane, so a
// vector whose values end a plane never touches memory past it.

// func convExpand(a *packArgs)
TEXT ·convExpand(SB), NOSPLIT, $0-8
	MOVQ a+0(FP), AX
	MOVQ 0(AX), SI  // plane
	MOVQ 8(AX), DI  // packed
	MOVQ 32(AX), DX // planes
	TESTQ DX, DX
	JZ   edone

eplane:
	MOVQ 16(AX), R8 // table
	MOVQ 24(AX), CX // vectors
	MOVQ DI, R9

evec:
	MOVQ  0(R8), BX
	KMOVW 8(R8), K1
	KMOVW 10(R8), K2
	VMOVUPS.Z (SI)(BX*1), K2, Z0
	VEXPANDPS.Z Z0, K1, Z0
	VMOVUPS Z0, (R9)
	ADDQ  $16, R8
	ADDQ  56(AX), R9
	DECQ  CX
	JNZ   evec
	ADDQ  40(AX), SI
	ADDQ  48(AX), DI
	DECQ  DX
	JNZ   eplane

edone:
	VZEROUPPER
	RET

// func convCompress(a *packArgs)
TEXT ·convCompress(SB), NOSPLIT, $0-8
	MOVQ a+0(FP), AX
	MOVQ 0(AX), SI  // plane
	MOVQ 8(AX), DI  // packed
	MOVQ 32(AX), DX // planes
	TESTQ DX, DX
	JZ   cdone

cplane:
	MOVQ 16(AX), R8
	MOVQ 24(AX), CX
	MOVQ DI, R9

cvec:
	MOVQ  0(R8), BX
	KMOVW 8(R8), K1
	KMOVW 10(R8), K2
	VMOVUPS (R9), Z0
	VCOMPRESSPS.Z Z0, K1, Z0
	VMOVUPS Z0, K2, (SI)(BX*1)
	ADDQ  $16, R8
	ADDQ  56(AX), R9
	DECQ  CX
	JNZ   cvec
	ADDQ  40(AX), SI
	ADDQ  48(AX), DI
	DECQ  DX
	JNZ   cplane

cdone:
	VZEROUPPER
	RET
