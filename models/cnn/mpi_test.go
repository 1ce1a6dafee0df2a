package cnn_test

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"gorgonia.org/gorgonia"
	"gorgonia.org/tensor"

	"github.com/unroll-ml/unroll/data"
	"github.com/unroll-ml/unroll/data/builtin"
	"github.com/unroll-ml/unroll/dist"
	"github.com/unroll-ml/unroll/dist/disttest"
	"github.com/unroll-ml/unroll/graph"
	"github.com/unroll-ml/unroll/models/cnn"
	"github.com/unroll-ml/unroll/nodes"
	"github.com/unroll-ml/unroll/solvers"
)

// The tests named TestMPI* need a binary built with go test -c -tags mpi and started by
// mpirun with 2 ranks (models/mpitest.sh); elsewhere they skip. TestMPIKilledRank starts
// mpirun itself when given -mpirun.
var launch = flag.Bool("mpirun", false, "let TestMPIKilledRank start mpirun")

func TestMain(m *testing.M) { disttest.Main(m) }

// countingModel records the batch size of every graph its Forward builds.
type countingModel struct {
	nodes.Model
	batches []int
}

func (m *countingModel) Forward(b *graph.Builder, x *gorgonia.Node) (*gorgonia.Node, error) {
	m.batches = append(m.batches, x.Shape()[0])
	return m.Model.Forward(b, x)
}

// newW1 returns a classifier of the W1 net (bench/WORKLOADS.md) in dtype dt, seed 1, its
// model counting the batch sizes of its graphs.
func newW1(t *testing.T, dt tensor.Dtype) (*cnn.Classifier, *countingModel) {
	t.Helper()
	ps := graph.NewParams(graph.Seed(1), graph.Dtype(dt))
	net, err := cnn.NewSmallCNN(ps)
	if err != nil {
		t.Fatal(err)
	}
	m := &countingModel{Model: net}
	c, err := cnn.NewClassifier(m)
	if err != nil {
		t.Fatal(err)
	}
	m.batches = nil // NewClassifier's graph of one image
	return c, m
}

// mnistHead is the first n images of MNIST's training set.
func mnistHead(t *testing.T, n int) *data.ImageSet {
	t.Helper()
	train, _, err := builtin.MNIST()
	if err != nil {
		t.Fatal(err)
	}
	return train.Head(n)
}

// Two ranks with batches of 32 (a global batch of 64) train W1 to the parameters one process
// trains with batches of 64, after 20 steps of Adam: within 1e-9 in float64 and 1e-4 in
// float32. Each rank's training graph takes 32 images, and each step runs one all-reduce per
// gradient bucket (the loss riding in the first; W1's 421,642 values fit one bucket of 2^20)
// and one of the count of right answers.
func TestMPIW1MatchesOneProcess(t *testing.T) {
	g := disttest.RequireWorld(t)
	const steps, batch = 20, 64
	train := mnistHead(t, steps*batch)
	for _, c := range []struct {
		dt  tensor.Dtype
		tol float64
	}{{tensor.Float64, 1e-9}, {tensor.Float32, 1e-4}} {
		t.Run(c.dt.String(), func(t *testing.T) {
			one, _ := newW1(t, c.dt)
			if _, err := one.Fit(train, graph.Steps(steps), graph.Batch(batch), graph.Solver(solvers.NewAdam(1e-3))); err != nil {
				t.Fatal(err)
			}
			par, m := newW1(t, c.dt)
			counter := disttest.NewCounter(g)
			if _, err := par.Fit(train, graph.Steps(steps), graph.Batch(batch), graph.Solver(solvers.NewAdam(1e-3)), graph.DataParallel(counter)); err != nil {
				t.Fatal(err)
			}
			diff, where, err := disttest.MaxDiff(one.Params(), par.Params())
			if err != nil {
				t.Fatal(err)
			}
			t.Logf("rank %d, %v: largest difference %.3g (%s)", g.Rank(), c.dt, diff, where)
			if diff > c.tol {
				t.Errorf("rank %d: parameters differ by %.3g at %s, want at most %g", g.Rank(), diff, where, c.tol)
			}
			if want := []int{batch / g.Size()}; !slices.Equal(m.batches, want) {
				t.Errorf("rank %d: training graphs for batches of %v, want %v", g.Rank(), m.batches, want)
			}
			checkAllReduces(t, g, counter, par.Params(), c.dt, steps)
		})
	}
}

// checkAllReduces checks the all-reduces a data-parallel Fit of steps steps ran: first the
// one with which the ranks agree on the parameters (float64, one value per rank), then per
// step one of the loss and the gradients (one bucket), in the parameters' dtype, and one of
// the count of right answers (float64).
func checkAllReduces(t *testing.T, g dist.Group, c *disttest.Counter, ps *graph.Params, dt tensor.Dtype, steps int) {
	t.Helper()
	bucket := 1 // the loss
	for _, e := range ps.Entries() {
		if e.Trainable {
			bucket += e.Value.Shape().TotalSize()
		}
	}
	var want32 []int
	want64 := []int{g.Size()}
	for range steps {
		if dt == tensor.Float32 {
			want32 = append(want32, bucket)
		} else {
			want64 = append(want64, bucket)
		}
		want64 = append(want64, 1)
	}
	if got := c.Lengths(disttest.AllReduceSum32); !slices.Equal(got, want32) {
		t.Errorf("rank %d: float32 all-reduces of %v, want %v", g.Rank(), got, want32)
	}
	if got := c.Lengths(disttest.AllReduceSum64); !slices.Equal(got, want64) {
		t.Errorf("rank %d: float64 all-reduces of %v, want %v", g.Rank(), got, want64)
	}
}

// A checkpoint written by two ranks after 6 steps resumes, under two ranks, to the parameters
// of 10 steps run straight, exactly; a single process refuses it, naming the rank counts.
func TestMPIW1Checkpoint(t *testing.T) {
	g := disttest.RequireWorld(t)
	const batch = 64
	train := mnistHead(t, 10*batch)
	path := filepath.Join(disttest.SharedTempDir(t, g), "w1.safetensors")
	fit := func(c *cnn.Classifier, opts ...graph.FitOption) {
		t.Helper()
		opts = append(opts, graph.Batch(batch), graph.Solver(solvers.NewAdam(1e-3)), graph.DataParallel(g))
		if _, err := c.Fit(train, opts...); err != nil {
			t.Fatal(err)
		}
	}
	straight, _ := newW1(t, tensor.Float32)
	fit(straight, graph.Steps(10))
	first, _ := newW1(t, tensor.Float32)
	fit(first, graph.Steps(6), graph.Checkpoints(path, 0))
	if err := g.Barrier(); err != nil { // rank 0 has written the file
		t.Fatal(err)
	}
	resumed, _ := newW1(t, tensor.Float32)
	if err := resumed.LoadCheckpoint(path); err != nil {
		t.Fatal(err)
	}
	fit(resumed, graph.Steps(4))
	if diff, where, err := disttest.MaxDiff(straight.Params(), resumed.Params()); err != nil || diff != 0 {
		t.Errorf("rank %d: the resumed run differs from the straight one by %g at %s (%v)", g.Rank(), diff, where, err)
	}
	alone, _ := newW1(t, tensor.Float32)
	if err := alone.LoadCheckpoint(path); err != nil {
		t.Fatal(err)
	}
	_, err := alone.Fit(train, graph.Steps(1), graph.Batch(batch))
	if want := "was written by 2 ranks, this run has 1: resume it with as many"; err == nil || !strings.Contains(err.Error(), want) {
		t.Errorf("a single process resumed a checkpoint of 2 ranks: %v, want an error containing %q", err, want)
	}
}

// TestMPIKilledRank starts mpirun with two ranks of TestMPIKilledRankJob, which train W1
// data-parallel with a checkpoint every 2 steps until rank 1 kills itself (SIGKILL) after
// step 7. The job must end with a non-zero status within seconds, and the checkpoint must be
// whole: it loads, at step 4 or 6.
func TestMPIKilledRank(t *testing.T) {
	if !*launch || disttest.World() != nil {
		t.Skip("needs -mpirun, outside mpirun (see models/mpitest.sh)")
	}
	if !dist.MPI() {
		t.Skip("needs a binary built with -tags mpi")
	}
	mpirun, err := exec.LookPath("mpirun")
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	ctx, cancel := context.WithTimeout(context.Background(), 120*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, mpirun, "--allow-run-as-root", "--oversubscribe", "-np", "2",
		"-x", "UNROLL_KILL_DIR="+dir, os.Args[0], "-test.run=^TestMPIKilledRankJob$", "-test.v")
	cmd.Cancel = func() error { return cmd.Process.Signal(syscall.SIGTERM) }
	cmd.WaitDelay = 10 * time.Second
	out, err := cmd.CombinedOutput()
	end := time.Now()
	if ctx.Err() != nil {
		t.Fatalf("the job still ran after 120 s\n%s", out)
	}
	var exit *exec.ExitError
	if !errors.As(err, &exit) || exit.ExitCode() == 0 {
		t.Fatalf("mpirun: %v, want a non-zero exit status\n%s", err, out)
	}
	b, err := os.ReadFile(filepath.Join(dir, "killed"))
	if err != nil {
		t.Fatalf("rank 1 did not reach step 7: %v\n%s", err, out)
	}
	ns, _ := strconv.ParseInt(string(b), 10, 64)
	after := end.Sub(time.Unix(0, ns))
	t.Logf("mpirun exited with status %d, %.2f s after rank 1 was killed", exit.ExitCode(), after.Seconds())
	if after > 10*time.Second {
		t.Errorf("the job took %v to end after rank 1 was killed", after)
	}
	c, _ := newW1(t, tensor.Float32)
	if err := c.LoadCheckpoint(filepath.Join(dir, "w1.safetensors")); err != nil {
		t.Fatalf("the checkpoint left by the job: %v", err)
	}
	if s := c.Run().Steps(); s != 4 && s != 6 {
		t.Errorf("the checkpoint is of step %d, want 4 or 6", s)
	}
	if leftovers, _ := filepath.Glob(filepath.Join(dir, "*.tmp*")); len(leftovers) > 0 {
		t.Logf("temporary files left by the killed write: %v", leftovers)
	}
}

// TestMPIKilledRankJob is TestMPIKilledRank's job.
func TestMPIKilledRankJob(t *testing.T) {
	dir := os.Getenv("UNROLL_KILL_DIR")
	if dir == "" || disttest.World() == nil {
		t.Skip("the job of TestMPIKilledRank")
	}
	g := disttest.World()
	c, _ := newW1(t, tensor.Float32)
	kill := func(p graph.Progress) {
		if g.Rank() != 1 || p.Step != 7 {
			return
		}
		stamp := strconv.FormatInt(time.Now().UnixNano(), 10)
		if err := os.WriteFile(filepath.Join(dir, "killed"), []byte(stamp), 0o644); err != nil {
			t.Error(err)
		}
		syscall.Kill(os.Getpid(), syscall.SIGKILL)
		time.Sleep(time.Minute)
	}
	_, err := c.Fit(mnistHead(t, 100*64), graph.Steps(100), graph.Batch(64), graph.DataParallel(g),
		graph.Checkpoints(filepath.Join(dir, "w1.safetensors"), 2), graph.OnStep(kill))
	t.Errorf("rank %d: Fit returned (%v) although rank 1 was killed", g.Rank(), err)
	fmt.Fprintln(os.Stderr, "Fit returned")
}
