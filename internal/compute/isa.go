package compute

import (
	"fmt"
	"sync/atomic"
)

// ISA names an instruction set a kernel may be written for. The kernels that have several
// versions (the matrix multiply, the recurrent gate maths, elementwise loops) read ISA() at
// each call and run the version it names, or the best lower one they have.
type ISA int32

const (
	// Generic is portable Go, on every machine and in the purego build.
	Generic ISA = iota
	// AVX2 is AVX2 with FMA (x86-64 v3).
	AVX2
	// AVX512 is AVX-512 F, BW, VL and DQ with 512-bit registers (x86-64 v4).
	AVX512
)

func (i ISA) String() string {
	switch i {
	case Generic:
		return "generic"
	case AVX2:
		return "avx2"
	case AVX512:
		return "avx512"
	}
	return fmt.Sprintf("isa(%d)", int32(i))
}

// current is the ISA in use, the best supported one unless SetISA chose another.
var current atomic.Int32

func init() { current.Store(int32(Supported())) }

// Supported returns the best instruction set this processor and operating system support
// (AVX-512 needs the OS to save its registers, which golang.org/x/sys/cpu checks), or Generic
// in the purego build.
func Supported() ISA { return supported() }

// Current returns the instruction set the kernels use now.
func Current() ISA { return ISA(current.Load()) }

// SetISA makes the kernels use isa from now on and returns the previous choice; it refuses an
// instruction set the machine does not support. Tests and benchmarks use it to run each path
// the machine has; nothing else needs to. It must not be called while kernels run.
func SetISA(isa ISA) (ISA, error) {
	if isa < Generic || isa > Supported() {
		return Current(), fmt.Errorf("compute: instruction set %v is not supported here (best: %v)", isa, Supported())
	}
	return ISA(current.Swap(int32(isa))), nil
}

// Each returns the instruction sets this machine supports, from Generic up: the paths a test
// should force in turn.
func Each() []ISA {
	var out []ISA
	for i := Generic; i <= Supported(); i++ {
		out = append(out, i)
	}
	return out
}
