package dist_test

import (
	"errors"
	"fmt"
	"os"
	"os/exec"
	"strings"
	"testing"

	"github.com/unroll-ml/unroll/dist"
)

func TestSingle(t *testing.T) {
	g := dist.Single()
	if g.Rank() != 0 || g.Size() != 1 {
		t.Fatalf("rank %d of %d, want 0 of 1", g.Rank(), g.Size())
	}
	buf := []float32{1.5, -2}
	if err := g.AllReduceSum32(buf); err != nil || buf[0] != 1.5 || buf[1] != -2 {
		t.Errorf("AllReduceSum32: %v, %v", buf, err)
	}
	blob := []byte("state")
	got, err := g.GatherBytes(blob)
	if err != nil || len(got) != 1 || string(got[0]) != "state" {
		t.Fatalf("GatherBytes: %q, %v", got, err)
	}
	got[0][0] = 'S'
	if string(blob) != "state" {
		t.Errorf("GatherBytes returned the caller's blob, not a copy")
	}
	if err := g.Close(); err != nil {
		t.Fatal(err)
	}
	if err := g.Barrier(); !errors.Is(err, dist.ErrClosed) {
		t.Errorf("Barrier after Close: %v, want ErrClosed", err)
	}
	if _, err := g.BroadcastBytes(blob, 0); !errors.Is(err, dist.ErrClosed) {
		t.Errorf("BroadcastBytes after Close: %v, want ErrClosed", err)
	}
	if err := g.Close(); !errors.Is(err, dist.ErrClosed) {
		t.Errorf("second Close: %v, want ErrClosed", err)
	}
}

// TestOpenAlone covers Open outside mpirun, in either build.
func TestOpenAlone(t *testing.T) {
	if _, ok := os.LookupEnv("OMPI_COMM_WORLD_SIZE"); ok {
		t.Skip("started by mpirun")
	}
	g, err := dist.Open()
	if err != nil || g.Size() != 1 {
		t.Fatalf("Open: size %v, %v; want the single-process group", g, err)
	}
	if err := g.Close(); err != nil {
		t.Fatal(err)
	}
}

// TestOpenWithoutMPI covers a binary built without MPI that mpirun starts: one process is
// fine, several are an error that says how to build.
func TestOpenWithoutMPI(t *testing.T) {
	if dist.MPI() {
		t.Skip("built with MPI")
	}
	for _, c := range []struct{ size, want string }{
		{"1", ""},
		{"4", "dist: started by mpirun among 4 processes, but this binary has no MPI support: build it with -tags mpi and cgo enabled"},
		{"x", `dist: OMPI_COMM_WORLD_SIZE is "x", not a process count`},
		{"0", `dist: OMPI_COMM_WORLD_SIZE is "0", not a process count`},
	} {
		t.Setenv("OMPI_COMM_WORLD_SIZE", c.size)
		g, err := dist.Open()
		switch {
		case c.want == "" && (err != nil || g.Size() != 1):
			t.Errorf("size %s: %v, %v; want the single-process group", c.size, g, err)
		case c.want != "" && (err == nil || err.Error() != c.want):
			t.Errorf("size %s: error %v, want %q", c.size, err, c.want)
		}
	}
}

// TestSingleAbort runs Abort in a child process, which must exit with the status given.
func TestSingleAbort(t *testing.T) {
	if os.Getenv("DIST_TEST_ABORT") == "1" {
		dist.Single().Abort(7)
		t.Fatal("Abort returned")
	}
	if _, ok := os.LookupEnv("OMPI_COMM_WORLD_SIZE"); ok {
		t.Skip("started by mpirun: the child would inherit its environment")
	}
	cmd := exec.Command(os.Args[0], "-test.run=^TestSingleAbort$")
	cmd.Env = append(os.Environ(), "DIST_TEST_ABORT=1")
	out, err := cmd.CombinedOutput()
	var exit *exec.ExitError
	if !errors.As(err, &exit) || exit.ExitCode() != 7 {
		t.Fatalf("child: %v, want exit status 7; output:\n%s", err, out)
	}
}

func TestCheckRoot(t *testing.T) {
	for _, c := range []struct {
		root, size int
		ok         bool
	}{{0, 1, true}, {3, 4, true}, {1, 1, false}, {-1, 4, false}, {4, 4, false}} {
		err := dist.CheckRoot("broadcast", c.root, c.size)
		if (err == nil) != c.ok || (err != nil && !strings.HasPrefix(err.Error(), fmt.Sprintf("dist: broadcast from root %d:", c.root))) {
			t.Errorf("root %d of %d: %v", c.root, c.size, err)
		}
	}
}

// Data-parallel training in outline: every rank holds the whole model, computes gradients on
// its share of the batch, and the all-reduce turns them into the sum over the ranks. Run
// alone, Open gives the single-process group and the gradient is left as it is.
func Example() {
	g, err := dist.Open()
	if err != nil {
		fmt.Println(err)
		return
	}
	defer g.Close()

	params := []float32{0.5, -1} // rank 0's values reach every rank
	if err := g.Broadcast32(params, 0); err != nil {
		fmt.Println(err)
		return
	}
	grad := []float32{0.25, 2} // this rank's gradient of its share of the batch
	if err := g.AllReduceSum32(grad); err != nil {
		fmt.Println(err)
		return
	}
	for i := range grad {
		grad[i] /= float32(g.Size()) // the mean over the ranks
	}
	if g.Rank() == 0 {
		fmt.Println("ranks:", g.Size(), "gradient:", grad)
	}
	// Output: ranks: 1 gradient: [0.25 2]
}
