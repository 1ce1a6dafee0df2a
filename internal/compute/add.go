package compute

// Add sets dst = a + b, element by element (dst may be a or b; b and dst at least as long as
// a). float32 runs AVX-512 or AVX2 assembly where the machine has it; every path rounds each
// sum once, so all give the same bits.
func Add[T Float](dst, a, b []T) {
	n := len(a)
	dst, b = dst[:n], b[:n]
	if n == 0 {
		return
	}
	done := 0
	if d, ok := any(dst).([]float32); ok {
		done = addF32(d, any(a).([]float32), any(b).([]float32))
	}
	for i := done; i < n; i++ {
		dst[i] = a[i] + b[i]
	}
}
