//go:build amd64 && !purego

#include "textflag.h"

// func anyNonFinite32(p *float32, n int) bool
// n is a positive multiple of 64. A value is NaN or infinite when its exponent bits are all
// ones: the lanes of four vectors are tested at a time and their masks ORed.
TEXT ·anyNonFinite32(SB), NOSPLIT, $0-17
	MOVQ p+0(FP), SI
	MOVQ n+8(FP), CX
	MOVL $0x7f800000, AX
	VPBROADCASTD AX, Z1

loop:
	VPANDD   (SI), Z1, Z2
	VPANDD   64(SI), Z1, Z3
	VPANDD   128(SI), Z1, Z4
	VPANDD   192(SI), Z1, Z5
	VPCMPEQD Z1, Z2, K1
	VPCMPEQD Z1, Z3, K2
	KORW     K1, K2, K1
	VPCMPEQD Z1, Z4, K2
	KORW     K1, K2, K1
	VPCMPEQD Z1, Z5, K2
	KORTESTW K1, K2
	JNZ      found
	ADDQ     $256, SI
	SUBQ     $64, CX
	JNZ      loop
	MOVB     $0, ret+16(FP)
	VZEROUPPER
	RET

found:
	MOVB $1, ret+16(FP)
	VZEROUPPER
	RET
