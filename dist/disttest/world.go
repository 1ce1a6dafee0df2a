package disttest

import (
	"fmt"
	"math"
	"os"
	"path/filepath"
	"testing"

	"github.com/unroll-ml/unroll/dist"
	"github.com/unroll-ml/unroll/graph"
)

// world is the group of the MPI job that Main opened, or nil outside one.
var world dist.Group

// Main runs the tests of m as one rank of an MPI job, for a test binary started by mpirun
// (built with go test -c -tags mpi): it opens the job's group (dist.Open), which World then
// returns, runs the tests, and closes the group; when a test fails on this rank it ends every
// rank (Abort), so that none waits forever in a collective. A binary started without mpirun
// runs its tests as usual, World returning nil. Call it from TestMain:
//
//	func TestMain(m *testing.M) { disttest.Main(m) }
func Main(m *testing.M) {
	os.Exit(runMain(m))
}

func runMain(m *testing.M) int {
	if _, ok := os.LookupEnv("OMPI_COMM_WORLD_SIZE"); ok {
		g, err := dist.Open()
		if err != nil {
			fmt.Fprintln(os.Stderr, err)
			return 1
		}
		world = g
	}
	code := m.Run()
	if world == nil {
		return code
	}
	if code != 0 {
		world.Abort(code)
	}
	if err := world.Close(); err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	return code
}

// World returns the group of the MPI job this test binary runs in (see Main), or nil when
// mpirun did not start it or Main was not called.
func World() dist.Group { return world }

// RequireWorld returns the job's group, or skips the test when the binary does not run as a
// rank of an MPI job of at least two processes.
func RequireWorld(tb testing.TB) dist.Group {
	tb.Helper()
	if world == nil || world.Size() < 2 {
		tb.Skip("needs a binary built with -tags mpi and started by mpirun with 2 or more ranks (see models/mpitest.sh)")
	}
	return world
}

// SharedTempDir returns a temporary directory whose path every rank of g receives, for files
// the ranks share, such as a checkpoint rank 0 writes and every rank reads (the ranks must
// share a file system, as they do on one machine). Rank 0 makes it, and removes it when the
// test ends, after every rank is done with it. It is collective.
func SharedTempDir(tb testing.TB, g dist.Group) string {
	tb.Helper()
	var dir []byte
	if g.Rank() == 0 {
		d, err := os.MkdirTemp("", "disttest-")
		if err != nil {
			tb.Fatal(err)
		}
		dir = []byte(d)
	}
	dir, err := g.BroadcastBytes(dir, 0)
	if err != nil {
		tb.Fatal(err)
	}
	path := filepath.Clean(string(dir))
	tb.Cleanup(func() {
		if err := g.Barrier(); err != nil {
			tb.Error(err)
		}
		if g.Rank() == 0 {
			os.RemoveAll(path)
		}
	})
	return path
}

// MaxDiff returns the largest absolute difference between the values of a and b, two
// parameter sets (graph.Params) of the same names and shapes, and the name of the parameter
// or buffer where it is; a NaN counts as an infinite difference. Sets that hold other names
// or shapes are an error.
func MaxDiff(a, b *graph.Params) (diff float64, where string, err error) {
	ea, eb := a.Entries(), b.Entries()
	if len(ea) != len(eb) {
		return 0, "", fmt.Errorf("disttest: %d parameters against %d", len(ea), len(eb))
	}
	for i, e := range ea {
		if e.Name != eb[i].Name || !e.Value.Shape().Eq(eb[i].Value.Shape()) {
			return 0, "", fmt.Errorf("disttest: parameter %d is %s %v against %s %v", i, e.Name, e.Value.Shape(), eb[i].Name, eb[i].Value.Shape())
		}
		va, vb := graph.Float64s(e.Value), graph.Float64s(eb[i].Value)
		for j := range va {
			d := math.Abs(va[j] - vb[j])
			if math.IsNaN(d) {
				d = math.Inf(1)
			}
			if d > diff || where == "" {
				diff, where = d, e.Name
			}
		}
	}
	return diff, where, nil
}
