package compute

// ArgMax returns the index of the largest value of v, the first one of equal largest values,
// or -1 for an empty v. A NaN is never larger than anything, so NaNs are passed over unless
// v[0] is one.
func ArgMax[T Float](v []T) int {
	if len(v) == 0 {
		return -1
	}
	best := 0
	for i, x := range v {
		if x > v[best] {
			best = i
		}
	}
	return best
}
