//go:build !amd64 || purego

package ops

// add32 sets dst = a + b.
func add32(dst, a, b []float32) { add32Go(dst, a, b) }

// mul32 sets dst = a ⊙ b.
func mul32(dst, a, b []float32) { mul32Go(dst, a, b) }

// relu32 sets y = max(x, 0), 0 for NaN.
func relu32(x, y []float32) { relu32Go(x, y) }

// reluGrad32 sets dx = dy where x > 0, else 0.
func reluGrad32(x, dy, dx []float32) { reluGrad32Go(x, dy, dx) }

// biasReLU32 sets dst = max(0, src + b), 0 for NaN.
func biasReLU32(src, dst []float32, b float32) { biasReLU32Go(src, dst, b) }

// div32 sets p = p / s.
func div32(p []float32, s float32) { div32Go(p, s) }

// softmaxRowVector leaves every row to the Go loop on this platform.
func softmaxRowVector(z, p []float32) (m, s float32, ok bool) { return 0, 0, false }

// scale32 sets out[j] = float32(scale · float64(p[j])).
func scale32(out, p []float32, scale float64) { scale32Go(out, p, scale) }

// mulAdd32 sets dst = a ⊙ b + c ⊙ d.
func mulAdd32(dst, a, b, c, d []float32) { mulAdd32Go(dst, a, b, c, d) }

// addMul32 sets dst = a + b ⊙ c.
func addMul32(dst, a, b, c []float32) { addMul32Go(dst, a, b, c) }

// lerp32 sets dst = a + z ⊙ (b - a).
func lerp32(dst, a, z, b []float32) { lerp32Go(dst, a, z, b) }

// colSums32 leaves the sums to the Go loop on this platform.
func colSums32(acc *[32]float64, m []float32, rows, ld int) bool { return false }
