package main

import (
	"bytes"
	"fmt"
	"io"
	"os"
	"strings"

	"github.com/unroll-ml/unroll/dist"
	"github.com/unroll-ml/unroll/graph"
)

// world is the process group the demo runs in: one process, unless main found itself started
// by mpirun (dist.Open). Under mpirun, demo cnn and demo rnn train data-parallel over it: every
// rank trains on its share of each batch, and only rank 0 prints, draws and writes files.
var world = dist.Single()

// runWorld is main without the exit: it opens the process group, runs the subcommand on this
// rank and closes the group. Ranks other than 0 print nothing but the error that ends them;
// a rank that fails ends the whole job (Abort), so that no rank waits for it forever.
func runWorld(args []string) int {
	g, err := dist.Open()
	if err != nil {
		fmt.Fprintf(os.Stderr, "demo: %v\n", err)
		return 1
	}
	world = g
	if g.Size() == 1 {
		return run(args, os.Stdout, os.Stderr)
	}
	var stdout, stderr io.Writer = os.Stdout, os.Stderr
	var quiet bytes.Buffer
	if g.Rank() != 0 {
		stdout, stderr = io.Discard, &quiet
	}
	code := run(args, stdout, stderr)
	if code != 0 {
		if g.Rank() != 0 {
			lines := strings.Split(strings.TrimSpace(quiet.String()), "\n")
			fmt.Fprintf(os.Stderr, "rank %d: %s\n", g.Rank(), lines[len(lines)-1])
		}
		g.Abort(code)
	}
	if err := g.Close(); err != nil {
		fmt.Fprintf(os.Stderr, "demo: %v\n", err)
		return 1
	}
	return 0
}

// rank0 reports whether this process is the one that prints, draws and writes: rank 0 of a
// data-parallel run, or the only process.
func rank0() bool { return world.Rank() == 0 }

// dataParallel returns the fit option of a data-parallel run over world, nil in one process.
func dataParallel() graph.FitOption {
	if world.Size() == 1 {
		return nil
	}
	return graph.DataParallel(world)
}

// checkRanks refuses a global batch of n (images, streams) that the ranks cannot share
// equally.
func checkRanks(n int) error {
	if r := world.Size(); n%r != 0 {
		return usagef("-batch %d does not split among %d ranks: make it a multiple of %d", n, r, r)
	}
	return nil
}

// mkdirRank0 makes the output directory dir on rank 0, the rank that writes there.
func mkdirRank0(dir string) error {
	if !rank0() {
		return nil
	}
	return os.MkdirAll(dir, 0o755)
}
