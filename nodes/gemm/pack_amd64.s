//go:build amd64 && !purego

#include "textflag.h"

#include "transpose_amd64.h"

// func spackContig6(d, s *float32, ld, kb int)
// d[6p+r] = s[p*ld+r] for p < kb, r < 6.
TEXT ·spackContig6(SB), NOSPLIT, $0-32
	MOVQ d+0(FP), DI
	MOVQ s+8(FP), SI
	MOVQ ld+16(FP), DX
	SHLQ $2, DX
	MOVQ kb+24(FP), CX
	TESTQ CX, CX
	JZ   done

loop:
	VMOVUPS (SI), X0
	VMOVQ   16(SI), X1
	VMOVUPS X0, (DI)
	VMOVQ   X1, 16(DI)
	ADDQ    DX, SI
	ADDQ    $24, DI
	DECQ    CX
	JNZ     loop

done:
	RET

// func spackContig16(d, s *float32, ld, kb int)
// d[16p+j] = s[p*ld+j] for p < kb, j < 16.
TEXT ·spackContig16(SB), NOSPLIT, $0-32
	MOVQ d+0(FP), DI
	MOVQ s+8(FP), SI
	MOVQ ld+16(FP), DX
	SHLQ $2, DX
	MOVQ kb+24(FP), CX
	TESTQ CX, CX
	JZ   done

loop:
	VMOVUPS (SI), Y0
	VMOVUPS 32(SI), Y1
	VMOVUPS Y0, (DI)
	VMOVUPS Y1, 32(DI)
	ADDQ    DX, SI
	ADDQ    $64, DI
	DECQ    CX
	JNZ     loop

	VZEROUPPER

done:
	RET

// func spackStrided6(d, s *float32, ld, chunks int)
// d[6p+r] = s[r*ld+p] for r < 6 and p < 8*chunks. Columns 0..6 of a chunk
// are stored 8 wide, each store's two extra values overwritten by the next
// column; column 7 is stored exactly.
TEXT ·spackStrided6(SB), NOSPLIT, $0-32
	MOVQ d+0(FP), DI
	MOVQ s+8(FP), SI
	MOVQ ld+16(FP), DX
	SHLQ $2, DX
	MOVQ chunks+24(FP), CX
	TESTQ CX, CX
	JZ   done
	LEAQ (DX)(DX*2), BX // 3*ld
	LEAQ (DX)(DX*4), R8 // 5*ld

loop:
	VMOVUPS (SI), Y0
	VMOVUPS (SI)(DX*1), Y1
	VMOVUPS (SI)(DX*2), Y2
	VMOVUPS (SI)(BX*1), Y3
	VMOVUPS (SI)(DX*4), Y4
	VMOVUPS (SI)(R8*1), Y5
	VXORPS  Y6, Y6, Y6
	VXORPS  Y7, Y7, Y7
	TRANSPOSE8
	VMOVUPS Y8, (DI)
	VMOVUPS Y9, 24(DI)
	VMOVUPS Y10, 48(DI)
	VMOVUPS Y11, 72(DI)
	VMOVUPS Y12, 96(DI)
	VMOVUPS Y13, 120(DI)
	VMOVUPS Y14, 144(DI)
	VMOVUPS X15, 168(DI)
	VEXTRACTF128 $1, Y15, X0
	VMOVQ   X0, 184(DI)
	ADDQ    $32, SI
	ADDQ    $192, DI
	DECQ    CX
	JNZ     loop

	VZEROUPPER

done:
	RET

// func spackStrided16(d, s *float32, ld, chunks int)
// d[16p+j] = s[j*ld+p] for j < 16 and p < 8*chunks.
TEXT ·spackStrided16(SB), NOSPLIT, $0-32
	MOVQ d+0(FP), DI
	MOVQ s+8(FP), SI
	MOVQ ld+16(FP), DX
	SHLQ $2, DX
	MOVQ chunks+24(FP), CX
	TESTQ CX, CX
	JZ   done
	LEAQ (DX)(DX*2), BX // 3*ld
	LEAQ (DX)(DX*4), R8 // 5*ld
	LEAQ (BX)(DX*4), R9 // 7*ld
	LEAQ (SI)(DX*8), R10 // rows 8..15

loop:
	VMOVUPS (SI), Y0
	VMOVUPS (SI)(DX*1), Y1
	VMOVUPS (SI)(DX*2), Y2
	VMOVUPS (SI)(BX*1), Y3
	VMOVUPS (SI)(DX*4), Y4
	VMOVUPS (SI)(R8*1), Y5
	VMOVUPS (SI)(BX*2), Y6
	VMOVUPS (SI)(R9*1), Y7
	TRANSPOSE8
	VMOVUPS Y8, (DI)
	VMOVUPS Y9, 64(DI)
	VMOVUPS Y10, 128(DI)
	VMOVUPS Y11, 192(DI)
	VMOVUPS Y12, 256(DI)
	VMOVUPS Y13, 320(DI)
	VMOVUPS Y14, 384(DI)
	VMOVUPS Y15, 448(DI)

	VMOVUPS (R10), Y0
	VMOVUPS (R10)(DX*1), Y1
	VMOVUPS (R10)(DX*2), Y2
	VMOVUPS (R10)(BX*1), Y3
	VMOVUPS (R10)(DX*4), Y4
	VMOVUPS (R10)(R8*1), Y5
	VMOVUPS (R10)(BX*2), Y6
	VMOVUPS (R10)(R9*1), Y7
	TRANSPOSE8
	VMOVUPS Y8, 32(DI)
	VMOVUPS Y9, 96(DI)
	VMOVUPS Y10, 160(DI)
	VMOVUPS Y11, 224(DI)
	VMOVUPS Y12, 288(DI)
	VMOVUPS Y13, 352(DI)
	VMOVUPS Y14, 416(DI)
	VMOVUPS Y15, 480(DI)

	ADDQ    $32, SI
	ADDQ    $32, R10
	ADDQ    $512, DI
	DECQ    CX
	JNZ     loop

	VZEROUPPER

done:
	RET

// maskTable holds 16 all-ones lanes then 16 zero lanes: the 16 lanes from
// maskTable+4*(16-n) select the first n of 16 (or of 8) values.
DATA maskTable<>+0(SB)/8, $-1
DATA maskTable<>+8(SB)/8, $-1
DATA maskTable<>+16(SB)/8, $-1
DATA maskTable<>+24(SB)/8, $-1
DATA maskTable<>+32(SB)/8, $-1
DATA maskTable<>+40(SB)/8, $-1
DATA maskTable<>+48(SB)/8, $-1
DATA maskTable<>+56(SB)/8, $-1
DATA maskTable<>+64(SB)/8, $0
DATA maskTable<>+72(SB)/8, $0
DATA maskTable<>+80(SB)/8, $0
DATA maskTable<>+88(SB)/8, $0
DATA maskTable<>+96(SB)/8, $0
DATA maskTable<>+104(SB)/8, $0
DATA maskTable<>+112(SB)/8, $0
DATA maskTable<>+120(SB)/8, $0
GLOBL maskTable<>(SB), RODATA|NOPTR, $128

// func spackContigMask16(d, s *float32, ld, kb, n int)
// d[16p+j] = s[p*ld+j] for j < n and 0 for n <= j < 16, p < kb; 1 <= n <= 16.
// Masked loads do not touch the values past n.
TEXT ·spackContigMask16(SB), NOSPLIT, $0-40
	MOVQ d+0(FP), DI
	MOVQ s+8(FP), SI
	MOVQ ld+16(FP), DX
	SHLQ $2, DX
	MOVQ kb+24(FP), CX
	MOVQ n+32(FP), AX
	TESTQ CX, CX
	JZ   done
	LEAQ maskTable<>(SB), BX
	NEGQ AX
	LEAQ 64(BX)(AX*4), BX
	VMOVDQU (BX), Y14
	VMOVDQU 32(BX), Y15

loop:
	VMASKMOVPS (SI), Y14, Y0
	VMASKMOVPS 32(SI), Y15, Y1
	VMOVUPS    Y0, (DI)
	VMOVUPS    Y1, 32(DI)
	ADDQ       DX, SI
	ADDQ       $64, DI
	DECQ       CX
	JNZ        loop

	VZEROUPPER

done:
	RET

// func spackContigMask6(d, s *float32, ld, kb, n int)
// d[6p+r] = s[p*ld+r] for r < n and 0 for n <= r < 6, p < kb; 1 <= n <= 6.
TEXT ·spackContigMask6(SB), NOSPLIT, $0-40
	MOVQ d+0(FP), DI
	MOVQ s+8(FP), SI
	MOVQ ld+16(FP), DX
	SHLQ $2, DX
	MOVQ kb+24(FP), CX
	MOVQ n+32(FP), AX
	TESTQ CX, CX
	JZ   done
	LEAQ maskTable<>(SB), BX
	NEGQ AX
	LEAQ 64(BX)(AX*4), BX
	VMOVDQU (BX), Y14

loop:
	VMASKMOVPS   (SI), Y14, Y0
	VEXTRACTF128 $1, Y0, X1
	VMOVUPS      X0, (DI)
	VMOVQ        X1, 16(DI)
	ADDQ         DX, SI
	ADDQ         $24, DI
	DECQ         CX
	JNZ          loop

	VZEROUPPER

done:
	RET
