//go:build !amd64

package main

// loops lists no FMA loop: they are written in amd64 assembly only.
func loops() []loop { return nil }

func accumulators(string) int { return 0 }
