package ops

import "syscall"

// processCPU returns the CPU time, user and system, the process has used so far, in ns (0
// where it cannot be read). On a machine shared with other work the CPU time of a step
// measures its cost better than the wall time does.
func processCPU() int64 {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return ru.Utime.Nano() + ru.Stime.Nano()
}
