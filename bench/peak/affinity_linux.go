package main

import "golang.org/x/sys/unix"

// pin binds the calling OS thread to CPU c, so that two loops run on two cores rather than
// wherever the scheduler moves them. It reports whether it could.
func pin(c int) bool {
	var set unix.CPUSet
	set.Set(c)
	return unix.SchedSetaffinity(0, &set) == nil
}
