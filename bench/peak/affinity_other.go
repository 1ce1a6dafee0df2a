//go:build !linux

package main

// pin is a no-op outside Linux: the loops still run on locked OS threads.
func pin(int) bool { return false }
