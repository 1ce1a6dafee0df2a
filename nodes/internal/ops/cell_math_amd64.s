// The AVX2 versions of sigmoid32 and tanh32 (cell_math.go), eight values at a time, of the
// LSTM and GRU backward loops (cellBackward), four values at a time in float64, and of the
// maximum and exponentials of a softmax row (softmaxRow32): the same operations in the same
// order (no fused multiply-add), so that they give the same bits as the Go code.

//go:build amd64 && !purego

#include "textflag.h"

DATA cellm_log2e<>+0(SB)/4, $0x3fb8aa3b
DATA cellm_log2e<>+4(SB)/4, $0x3fb8aa3b
DATA cellm_log2e<>+8(SB)/4, $0x3fb8aa3b
DATA cellm_log2e<>+12(SB)/4, $0x3fb8aa3b
DATA cellm_log2e<>+16(SB)/4, $0x3fb8aa3b
DATA cellm_log2e<>+20(SB)/4, $0x3fb8aa3b
DATA cellm_log2e<>+24(SB)/4, $0x3fb8aa3b
DATA cellm_log2e<>+28(SB)/4, $0x3fb8aa3b
GLOBL cellm_log2e<>(SB), RODATA|NOPTR, $32
DATA cellm_magic<>+0(SB)/4, $0x4b400000
DATA cellm_magic<>+4(SB)/4, $0x4b400000
DATA cellm_magic<>+8(SB)/4, $0x4b400000
DATA cellm_magic<>+12(SB)/4, $0x4b400000
DATA cellm_magic<>+16(SB)/4, $0x4b400000
DATA cellm_magic<>+20(SB)/4, $0x4b400000
DATA cellm_magic<>+24(SB)/4, $0x4b400000
DATA cellm_magic<>+28(SB)/4, $0x4b400000
GLOBL cellm_magic<>(SB), RODATA|NOPTR, $32
DATA cellm_c1<>+0(SB)/4, $0x3f318000
DATA cellm_c1<>+4(SB)/4, $0x3f318000
DATA cellm_c1<>+8(SB)/4, $0x3f318000
DATA cellm_c1<>+12(SB)/4, $0x3f318000
DATA cellm_c1<>+16(SB)/4, $0x3f318000
DATA cellm_c1<>+20(SB)/4, $0x3f318000
DATA cellm_c1<>+24(SB)/4, $0x3f318000
DATA cellm_c1<>+28(SB)/4, $0x3f318000
GLOBL cellm_c1<>(SB), RODATA|NOPTR, $32
DATA cellm_c2<>+0(SB)/4, $0xb95e8083
DATA cellm_c2<>+4(SB)/4, $0xb95e8083
DATA cellm_c2<>+8(SB)/4, $0xb95e8083
DATA cellm_c2<>+12(SB)/4, $0xb95e8083
DATA cellm_c2<>+16(SB)/4, $0xb95e8083
DATA cellm_c2<>+20(SB)/4, $0xb95e8083
DATA cellm_c2<>+24(SB)/4, $0xb95e8083
DATA cellm_c2<>+28(SB)/4, $0xb95e8083
GLOBL cellm_c2<>(SB), RODATA|NOPTR, $32
DATA cellm_p0<>+0(SB)/4, $0x39506967
DATA cellm_p0<>+4(SB)/4, $0x39506967
DATA cellm_p0<>+8(SB)/4, $0x39506967
DATA cellm_p0<>+12(SB)/4, $0x39506967
DATA cellm_p0<>+16(SB)/4, $0x39506967
DATA cellm_p0<>+20(SB)/4, $0x39506967
DATA cellm_p0<>+24(SB)/4, $0x39506967
DATA cellm_p0<>+28(SB)/4, $0x39506967
GLOBL cellm_p0<>(SB), RODATA|NOPTR, $32
DATA cellm_p1<>+0(SB)/4, $0x3ab743ce
DATA cellm_p1<>+4(SB)/4, $0x3ab743ce
DATA cellm_p1<>+8(SB)/4, $0x3ab743ce
DATA cellm_p1<>+12(SB)/4, $0x3ab743ce
DATA cellm_p1<>+16(SB)/4, $0x3ab743ce
DATA cellm_p1<>+20(SB)/4, $0x3ab743ce
DATA cellm_p1<>+24(SB)/4, $0x3ab743ce
DATA cellm_p1<>+28(SB)/4, $0x3ab743ce
GLOBL cellm_p1<>(SB), RODATA|NOPTR, $32
DATA cellm_p2<>+0(SB)/4, $0x3c088908
DATA cellm_p2<>+4(SB)/4, $0x3c088908
DATA cellm_p2<>+8(SB)/4, $0x3c088908
DATA cellm_p2<>+12(SB)/4, $0x3c088908
DATA cellm_p2<>+16(SB)/4, $0x3c088908
DATA cellm_p2<>+20(SB)/4, $0x3c088908
DATA cellm_p2<>+24(SB)/4, $0x3c088908
DATA cellm_p2<>+28(SB)/4, $0x3c088908
GLOBL cellm_p2<>(SB), RODATA|NOPTR, $32
DATA cellm_p3<>+0(SB)/4, $0x3d2aa9c1
DATA cellm_p3<>+4(SB)/4, $0x3d2aa9c1
DATA cellm_p3<>+8(SB)/4, $0x3d2aa9c1
DATA cellm_p3<>+12(SB)/4, $0x3d2aa9c1
DATA cellm_p3<>+16(SB)/4, $0x3d2aa9c1
DATA cellm_p3<>+20(SB)/4, $0x3d2aa9c1
DATA cellm_p3<>+24(SB)/4, $0x3d2aa9c1
DATA cellm_p3<>+28(SB)/4, $0x3d2aa9c1
GLOBL cellm_p3<>(SB), RODATA|NOPTR, $32
DATA cellm_p4<>+0(SB)/4, $0x3e2aaaaa
DATA cellm_p4<>+4(SB)/4, $0x3e2aaaaa
DATA cellm_p4<>+8(SB)/4, $0x3e2aaaaa
DATA cellm_p4<>+12(SB)/4, $0x3e2aaaaa
DATA cellm_p4<>+16(SB)/4, $0x3e2aaaaa
DATA cellm_p4<>+20(SB)/4, $0x3e2aaaaa
DATA cellm_p4<>+24(SB)/4, $0x3e2aaaaa
DATA cellm_p4<>+28(SB)/4, $0x3e2aaaaa
GLOBL cellm_p4<>(SB), RODATA|NOPTR, $32
DATA cellm_p5<>+0(SB)/4, $0x3f000000
DATA cellm_p5<>+4(SB)/4, $0x3f000000
DATA cellm_p5<>+8(SB)/4, $0x3f000000
DATA cellm_p5<>+12(SB)/4, $0x3f000000
DATA cellm_p5<>+16(SB)/4, $0x3f000000
DATA cellm_p5<>+20(SB)/4, $0x3f000000
DATA cellm_p5<>+24(SB)/4, $0x3f000000
DATA cellm_p5<>+28(SB)/4, $0x3f000000
GLOBL cellm_p5<>(SB), RODATA|NOPTR, $32
DATA cellm_one<>+0(SB)/4, $0x3f800000
DATA cellm_one<>+4(SB)/4, $0x3f800000
DATA cellm_one<>+8(SB)/4, $0x3f800000
DATA cellm_one<>+12(SB)/4, $0x3f800000
DATA cellm_one<>+16(SB)/4, $0x3f800000
DATA cellm_one<>+20(SB)/4, $0x3f800000
DATA cellm_one<>+24(SB)/4, $0x3f800000
DATA cellm_one<>+28(SB)/4, $0x3f800000
GLOBL cellm_one<>(SB), RODATA|NOPTR, $32
DATA cellm_two<>+0(SB)/4, $0x40000000
DATA cellm_two<>+4(SB)/4, $0x40000000
DATA cellm_two<>+8(SB)/4, $0x40000000
DATA cellm_two<>+12(SB)/4, $0x40000000
DATA cellm_two<>+16(SB)/4, $0x40000000
DATA cellm_two<>+20(SB)/4, $0x40000000
DATA cellm_two<>+24(SB)/4, $0x40000000
DATA cellm_two<>+28(SB)/4, $0x40000000
GLOBL cellm_two<>(SB), RODATA|NOPTR, $32
DATA cellm_hi<>+0(SB)/4, $0x42b0c0a5
DATA cellm_hi<>+4(SB)/4, $0x42b0c0a5
DATA cellm_hi<>+8(SB)/4, $0x42b0c0a5
DATA cellm_hi<>+12(SB)/4, $0x42b0c0a5
DATA cellm_hi<>+16(SB)/4, $0x42b0c0a5
DATA cellm_hi<>+20(SB)/4, $0x42b0c0a5
DATA cellm_hi<>+24(SB)/4, $0x42b0c0a5
DATA cellm_hi<>+28(SB)/4, $0x42b0c0a5
GLOBL cellm_hi<>(SB), RODATA|NOPTR, $32
DATA cellm_lo<>+0(SB)/4, $0xc2aeac4f
DATA cellm_lo<>+4(SB)/4, $0xc2aeac4f
DATA cellm_lo<>+8(SB)/4, $0xc2aeac4f
DATA cellm_lo<>+12(SB)/4, $0xc2aeac4f
DATA cellm_lo<>+16(SB)/4, $0xc2aeac4f
DATA cellm_lo<>+20(SB)/4, $0xc2aeac4f
DATA cellm_lo<>+24(SB)/4, $0xc2aeac4f
DATA cellm_lo<>+28(SB)/4, $0xc2aeac4f
GLOBL cellm_lo<>(SB), RODATA|NOPTR, $32
DATA cellm_inf<>+0(SB)/4, $0x7f800000
DATA cellm_inf<>+4(SB)/4, $0x7f800000
DATA cellm_inf<>+8(SB)/4, $0x7f800000
DATA cellm_inf<>+12(SB)/4, $0x7f800000
DATA cellm_inf<>+16(SB)/4, $0x7f800000
DATA cellm_inf<>+20(SB)/4, $0x7f800000
DATA cellm_inf<>+24(SB)/4, $0x7f800000
DATA cellm_inf<>+28(SB)/4, $0x7f800000
GLOBL cellm_inf<>(SB), RODATA|NOPTR, $32
DATA cellm_small<>+0(SB)/4, $0x3f200000
DATA cellm_small<>+4(SB)/4, $0x3f200000
DATA cellm_small<>+8(SB)/4, $0x3f200000
DATA cellm_small<>+12(SB)/4, $0x3f200000
DATA cellm_small<>+16(SB)/4, $0x3f200000
DATA cellm_small<>+20(SB)/4, $0x3f200000
DATA cellm_small<>+24(SB)/4, $0x3f200000
DATA cellm_small<>+28(SB)/4, $0x3f200000
GLOBL cellm_small<>(SB), RODATA|NOPTR, $32
DATA cellm_nine<>+0(SB)/4, $0x41100000
DATA cellm_nine<>+4(SB)/4, $0x41100000
DATA cellm_nine<>+8(SB)/4, $0x41100000
DATA cellm_nine<>+12(SB)/4, $0x41100000
DATA cellm_nine<>+16(SB)/4, $0x41100000
DATA cellm_nine<>+20(SB)/4, $0x41100000
DATA cellm_nine<>+24(SB)/4, $0x41100000
DATA cellm_nine<>+28(SB)/4, $0x41100000
GLOBL cellm_nine<>(SB), RODATA|NOPTR, $32
DATA cellm_t0<>+0(SB)/4, $0xbbbaf0ea
DATA cellm_t0<>+4(SB)/4, $0xbbbaf0ea
DATA cellm_t0<>+8(SB)/4, $0xbbbaf0ea
DATA cellm_t0<>+12(SB)/4, $0xbbbaf0ea
DATA cellm_t0<>+16(SB)/4, $0xbbbaf0ea
DATA cellm_t0<>+20(SB)/4, $0xbbbaf0ea
DATA cellm_t0<>+24(SB)/4, $0xbbbaf0ea
DATA cellm_t0<>+28(SB)/4, $0xbbbaf0ea
GLOBL cellm_t0<>(SB), RODATA|NOPTR, $32
DATA cellm_t1<>+0(SB)/4, $0x3ca9134e
DATA cellm_t1<>+4(SB)/4, $0x3ca9134e
DATA cellm_t1<>+8(SB)/4, $0x3ca9134e
DATA cellm_t1<>+12(SB)/4, $0x3ca9134e
DATA cellm_t1<>+16(SB)/4, $0x3ca9134e
DATA cellm_t1<>+20(SB)/4, $0x3ca9134e
DATA cellm_t1<>+24(SB)/4, $0x3ca9134e
DATA cellm_t1<>+28(SB)/4, $0x3ca9134e
GLOBL cellm_t1<>(SB), RODATA|NOPTR, $32
DATA cellm_t2<>+0(SB)/4, $0xbd5c1e2d
DATA cellm_t2<>+4(SB)/4, $0xbd5c1e2d
DATA cellm_t2<>+8(SB)/4, $0xbd5c1e2d
DATA cellm_t2<>+12(SB)/4, $0xbd5c1e2d
DATA cellm_t2<>+16(SB)/4, $0xbd5c1e2d
DATA cellm_t2<>+20(SB)/4, $0xbd5c1e2d
DATA cellm_t2<>+24(SB)/4, $0xbd5c1e2d
DATA cellm_t2<>+28(SB)/4, $0xbd5c1e2d
GLOBL cellm_t2<>(SB), RODATA|NOPTR, $32
DATA cellm_t3<>+0(SB)/4, $0x3e088393
DATA cellm_t3<>+4(SB)/4, $0x3e088393
DATA cellm_t3<>+8(SB)/4, $0x3e088393
DATA cellm_t3<>+12(SB)/4, $0x3e088393
DATA cellm_t3<>+16(SB)/4, $0x3e088393
DATA cellm_t3<>+20(SB)/4, $0x3e088393
DATA cellm_t3<>+24(SB)/4, $0x3e088393
DATA cellm_t3<>+28(SB)/4, $0x3e088393
GLOBL cellm_t3<>(SB), RODATA|NOPTR, $32
DATA cellm_t4<>+0(SB)/4, $0xbeaaaa99
DATA cellm_t4<>+4(SB)/4, $0xbeaaaa99
DATA cellm_t4<>+8(SB)/4, $0xbeaaaa99
DATA cellm_t4<>+12(SB)/4, $0xbeaaaa99
DATA cellm_t4<>+16(SB)/4, $0xbeaaaa99
DATA cellm_t4<>+20(SB)/4, $0xbeaaaa99
DATA cellm_t4<>+24(SB)/4, $0xbeaaaa99
DATA cellm_t4<>+28(SB)/4, $0xbeaaaa99
GLOBL cellm_t4<>(SB), RODATA|NOPTR, $32
DATA cellm_sign<>+0(SB)/4, $0x80000000
DATA cellm_sign<>+4(SB)/4, $0x80000000
DATA cellm_sign<>+8(SB)/4, $0x80000000
DATA cellm_sign<>+12(SB)/4, $0x80000000
DATA cellm_sign<>+16(SB)/4, $0x80000000
DATA cellm_sign<>+20(SB)/4, $0x80000000
DATA cellm_sign<>+24(SB)/4, $0x80000000
DATA cellm_sign<>+28(SB)/4, $0x80000000
GLOBL cellm_sign<>(SB), RODATA|NOPTR, $32
DATA cellm_abs<>+0(SB)/4, $0x7fffffff
DATA cellm_abs<>+4(SB)/4, $0x7fffffff
DATA cellm_abs<>+8(SB)/4, $0x7fffffff
DATA cellm_abs<>+12(SB)/4, $0x7fffffff
DATA cellm_abs<>+16(SB)/4, $0x7fffffff
DATA cellm_abs<>+20(SB)/4, $0x7fffffff
DATA cellm_abs<>+24(SB)/4, $0x7fffffff
DATA cellm_abs<>+28(SB)/4, $0x7fffffff
GLOBL cellm_abs<>(SB), RODATA|NOPTR, $32
DATA cellm_bias<>+0(SB)/4, $0x0000007f
DATA cellm_bias<>+4(SB)/4, $0x0000007f
DATA cellm_bias<>+8(SB)/4, $0x0000007f
DATA cellm_bias<>+12(SB)/4, $0x0000007f
DATA cellm_bias<>+16(SB)/4, $0x0000007f
DATA cellm_bias<>+20(SB)/4, $0x0000007f
DATA cellm_bias<>+24(SB)/4, $0x0000007f
DATA cellm_bias<>+28(SB)/4, $0x0000007f
GLOBL cellm_bias<>(SB), RODATA|NOPTR, $32

// CELLEXP8 sets Y3 to exp32(X) (X is left alone); it uses Y1, Y2, Y4, Y5 and Y6.
#define CELLEXP8(X) \
	VMULPS cellm_log2e<>(SB), X, Y1 \
	VADDPS cellm_magic<>(SB), Y1, Y1 \
	VSUBPS cellm_magic<>(SB), Y1, Y1 \
	VMULPS cellm_c1<>(SB), Y1, Y2 \
	VSUBPS Y2, X, Y2 \
	VMULPS cellm_c2<>(SB), Y1, Y4 \
	VSUBPS Y4, Y2, Y2 \
	VMULPS cellm_p0<>(SB), Y2, Y4 \
	VADDPS cellm_p1<>(SB), Y4, Y4 \
	VMULPS Y2, Y4, Y4 \
	VADDPS cellm_p2<>(SB), Y4, Y4 \
	VMULPS Y2, Y4, Y4 \
	VADDPS cellm_p3<>(SB), Y4, Y4 \
	VMULPS Y2, Y4, Y4 \
	VADDPS cellm_p4<>(SB), Y4, Y4 \
	VMULPS Y2, Y4, Y4 \
	VADDPS cellm_p5<>(SB), Y4, Y4 \
	VMULPS Y2, Y4, Y4 \
	VMULPS Y2, Y4, Y4 \
	VADDPS Y2, Y4, Y4 \
	VADDPS cellm_one<>(SB), Y4, Y4 \
	VCVTTPS2DQ Y1, Y5 \
	VPADDD cellm_bias<>(SB), Y5, Y5 \
	VPSLLD $23, Y5, Y5 \
	VMULPS Y5, Y4, Y3 \
	VCMPPS $0x1e, cellm_hi<>(SB), X, Y6 \
	VBLENDVPS Y6, cellm_inf<>(SB), Y3, Y3 \
	VCMPPS $0x11, cellm_lo<>(SB), X, Y6 \
	VANDNPS Y3, Y6, Y3

// func sigmoids32AVX2(p *float32, n int) replaces p[i] by sigmoid32(p[i]) for i < n&^7.
TEXT ·sigmoids32AVX2(SB), NOSPLIT, $0-16
	MOVQ p+0(FP), DI
	MOVQ n+8(FP), CX
	SHRQ $3, CX
	JZ done
loop:
	VMOVUPS (DI), Y0
	VXORPS cellm_sign<>(SB), Y0, Y7
	CELLEXP8(Y7)
	VADDPS cellm_one<>(SB), Y3, Y3
	VMOVUPS cellm_one<>(SB), Y7
	VDIVPS Y3, Y7, Y0
	VMOVUPS Y0, (DI)
	ADDQ $32, DI
	DECQ CX
	JNZ loop
done:
	VZEROUPPER
	RET

// func tanhs32AVX2(p *float32, n int) replaces p[i] by tanh32(p[i]) for i < n&^7.
TEXT ·tanhs32AVX2(SB), NOSPLIT, $0-16
	MOVQ p+0(FP), DI
	MOVQ n+8(FP), CX
	SHRQ $3, CX
	JZ done
loop:
	VMOVUPS (DI), Y0
	VANDPS cellm_abs<>(SB), Y0, Y8
	VMULPS Y0, Y0, Y10
	VMULPS cellm_t0<>(SB), Y10, Y9
	VADDPS cellm_t1<>(SB), Y9, Y9
	VMULPS Y10, Y9, Y9
	VADDPS cellm_t2<>(SB), Y9, Y9
	VMULPS Y10, Y9, Y9
	VADDPS cellm_t3<>(SB), Y9, Y9
	VMULPS Y10, Y9, Y9
	VADDPS cellm_t4<>(SB), Y9, Y9
	VMULPS Y10, Y9, Y9
	VMULPS Y0, Y9, Y9
	VADDPS Y0, Y9, Y9
	VADDPS Y8, Y8, Y11
	CELLEXP8(Y11)
	VADDPS cellm_one<>(SB), Y3, Y3
	VMOVUPS cellm_two<>(SB), Y12
	VDIVPS Y3, Y12, Y3
	VMOVUPS cellm_one<>(SB), Y12
	VSUBPS Y3, Y12, Y3
	VCMPPS $0x11, cellm_nine<>(SB), Y8, Y6
	VBLENDVPS Y6, Y3, Y12, Y3
	VXORPS Y12, Y12, Y12
	VCMPPS $0x11, Y12, Y0, Y6
	VANDPS cellm_sign<>(SB), Y6, Y6
	VXORPS Y6, Y3, Y3
	VCMPPS $0x11, cellm_small<>(SB), Y8, Y6
	VBLENDVPS Y6, Y9, Y3, Y0
	VMOVUPS Y0, (DI)
	ADDQ $32, DI
	DECQ CX
	JNZ loop
done:
	VZEROUPPER
	RET

DATA cellm_one64<>+0(SB)/8, $0x3ff0000000000000
DATA cellm_one64<>+8(SB)/8, $0x3ff0000000000000
DATA cellm_one64<>+16(SB)/8, $0x3ff0000000000000
DATA cellm_one64<>+24(SB)/8, $0x3ff0000000000000
GLOBL cellm_one64<>(SB), RODATA|NOPTR, $32

// func lstmBackward32AVX2(gates, tc, cp, gout, dg, dc *float32, h int) computes, for j < h&^3,
// the LSTM step gradients of cellBackward in float64, four values at a time: gates holds
// i, f, g, o at 0, h, 2h, 3h, gout dh' and dc' at 0 and h, dg receives dG at 0, h, 2h, 3h.
TEXT ·lstmBackward32AVX2(SB), NOSPLIT, $0-56
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
	SHRQ $2, CX
	JZ lstmdone
	VMOVUPD cellm_one64<>(SB), Y15
lstmloop:
	VCVTPS2PD (SI), Y0
	VCVTPS2PD (SI)(R8*1), Y1
	VCVTPS2PD (SI)(R8*2), Y2
	VCVTPS2PD (SI)(R10*1), Y3
	VCVTPS2PD (R11), Y4
	VCVTPS2PD (R13), Y5
	VCVTPS2PD (R13)(R8*1), Y6
	VCVTPS2PD (R12), Y7
	VMULPD Y3, Y5, Y8
	VMULPD Y4, Y4, Y9
	VSUBPD Y9, Y15, Y9
	VMULPD Y9, Y8, Y8
	VADDPD Y8, Y6, Y6
	VMULPD Y2, Y6, Y8
	VMULPD Y0, Y8, Y8
	VSUBPD Y0, Y15, Y9
	VMULPD Y9, Y8, Y8
	VCVTPD2PSY Y8, X8
	VMOVUPS X8, (DI)
	VMULPD Y7, Y6, Y8
	VMULPD Y1, Y8, Y8
	VSUBPD Y1, Y15, Y9
	VMULPD Y9, Y8, Y8
	VCVTPD2PSY Y8, X8
	VMOVUPS X8, (DI)(R8*1)
	VMULPD Y0, Y6, Y8
	VMULPD Y2, Y2, Y9
	VSUBPD Y9, Y15, Y9
	VMULPD Y9, Y8, Y8
	VCVTPD2PSY Y8, X8
	VMOVUPS X8, (DI)(R8*2)
	VMULPD Y4, Y5, Y8
	VMULPD Y3, Y8, Y8
	VSUBPD Y3, Y15, Y9
	VMULPD Y9, Y8, Y8
	VCVTPD2PSY Y8, X8
	VMOVUPS X8, (DI)(R10*1)
	VMULPD Y1, Y6, Y8
	VCVTPD2PSY Y8, X8
	VMOVUPS X8, (R14)
	ADDQ $16, SI
	ADDQ $16, R11
	ADDQ $16, R12
	ADDQ $16, R13
	ADDQ $16, DI
	ADDQ $16, R14
	DECQ CX
	JNZ lstmloop
lstmdone:
	VZEROUPPER
	RET

// func gruBackward32AVX2(gates, gout, hp, dgi, dgh, dh *float32, h int) computes, for j < h&^3,
// the GRU step gradients of cellBackward in float64, four values at a time: gates holds
// r, z, W_hn h + b_hn, n at 0, h, 2h, 3h; dgi and dgh receive dG_i and dG_h at 0, h, 2h.
TEXT ·gruBackward32AVX2(SB), NOSPLIT, $0-56
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
	SHRQ $2, CX
	JZ grudone
	VMOVUPD cellm_one64<>(SB), Y15
gruloop:
	VCVTPS2PD (SI), Y0
	VCVTPS2PD (SI)(R8*1), Y1
	VCVTPS2PD (SI)(R8*2), Y2
	VCVTPS2PD (SI)(R10*1), Y3
	VCVTPS2PD (R11), Y4
	VCVTPS2PD (R12), Y5
	VSUBPD Y1, Y15, Y9
	VMULPD Y9, Y4, Y6
	VMULPD Y3, Y3, Y9
	VSUBPD Y9, Y15, Y9
	VMULPD Y9, Y6, Y6
	VSUBPD Y3, Y5, Y9
	VMULPD Y9, Y4, Y7
	VMULPD Y1, Y7, Y7
	VSUBPD Y1, Y15, Y9
	VMULPD Y9, Y7, Y7
	VMULPD Y2, Y6, Y8
	VMULPD Y0, Y8, Y8
	VSUBPD Y0, Y15, Y9
	VMULPD Y9, Y8, Y8
	VCVTPD2PSY Y8, X8
	VMOVUPS X8, (DI)
	VMOVUPS X8, (R13)
	VCVTPD2PSY Y7, X7
	VMOVUPS X7, (DI)(R8*1)
	VMOVUPS X7, (R13)(R8*1)
	VCVTPD2PSY Y6, X9
	VMOVUPS X9, (DI)(R8*2)
	VMULPD Y0, Y6, Y9
	VCVTPD2PSY Y9, X9
	VMOVUPS X9, (R13)(R8*2)
	VMULPD Y1, Y4, Y9
	VCVTPD2PSY Y9, X9
	VMOVUPS X9, (R14)
	ADDQ $16, SI
	ADDQ $16, R11
	ADDQ $16, R12
	ADDQ $16, DI
	ADDQ $16, R13
	ADDQ $16, R14
	DECQ CX
	JNZ gruloop
grudone:
	VZEROUPPER
	RET

DATA cellm_ninf<>+0(SB)/4, $0xff800000
GLOBL cellm_ninf<>(SB), RODATA|NOPTR, $4

// func softmaxRow32AVX2(z, p *float32, n int) (m, s float32) computes softmaxRow32 of the row
// z of n values, a multiple of 16, into p: the partial maxima and sums of the 16 lanes live in
// Y8 (lanes 0-7) and Y9 (lanes 8-15) and are folded as foldMax16 and foldSum16 fold them.
TEXT ·softmaxRow32AVX2(SB), NOSPLIT, $0-32
	MOVQ z+0(FP), SI
	MOVQ p+8(FP), DI
	MOVQ n+16(FP), DX
	SHRQ $4, DX
	JZ rowdone
	MOVQ SI, R8
	MOVQ DI, R9
	MOVQ DX, CX
	VBROADCASTSS cellm_ninf<>(SB), Y8
	VMOVUPS Y8, Y9
maxloop:
	VMOVUPS (SI), Y0
	VMOVUPS 32(SI), Y1
	VMAXPS Y8, Y0, Y8
	VMAXPS Y9, Y1, Y9
	ADDQ $64, SI
	DECQ CX
	JNZ maxloop
	VMAXPS Y8, Y9, Y8
	VEXTRACTF128 $1, Y8, X1
	VMAXPS X8, X1, X8
	VMOVHLPS X8, X8, X1
	VMAXPS X8, X1, X8
	VMOVSHDUP X8, X1
	VMAXPS X8, X1, X8
	VBROADCASTSS X8, Y10
	MOVQ R8, SI
	MOVQ DX, CX
	VXORPS Y8, Y8, Y8
	VXORPS Y9, Y9, Y9
exploop:
	VMOVUPS (SI), Y7
	VSUBPS Y10, Y7, Y7
	CELLEXP8(Y7)
	VMOVUPS Y3, (DI)
	VADDPS Y3, Y8, Y8
	VMOVUPS 32(SI), Y7
	VSUBPS Y10, Y7, Y7
	CELLEXP8(Y7)
	VMOVUPS Y3, 32(DI)
	VADDPS Y3, Y9, Y9
	ADDQ $64, SI
	ADDQ $64, DI
	DECQ CX
	JNZ exploop
	VADDPS Y9, Y8, Y8
	VEXTRACTF128 $1, Y8, X1
	VADDPS X1, X8, X8
	VMOVHLPS X8, X8, X1
	VADDPS X1, X8, X8
	VMOVSHDUP X8, X1
	VADDPS X1, X8, X8
	VMOVSS X10, m+24(FP)
	VMOVSS X8, s+28(FP)
	VBROADCASTSS X8, Y11
	MOVQ R9, DI
	MOVQ DX, CX
divloop:
	VMOVUPS (DI), Y0
	VMOVUPS 32(DI), Y1
	VDIVPS Y11, Y0, Y0
	VDIVPS Y11, Y1, Y1
	VMOVUPS Y0, (DI)
	VMOVUPS Y1, 32(DI)
	ADDQ $64, DI
	DECQ CX
	JNZ divloop
rowdone:
	VZEROUPPER
	RET
