//go:build !amd64 || purego

package compute

func supported() ISA { return Generic }
