//go:build mpi && cgo

package dist_test

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/unroll-ml/unroll/dist"
)

// The tests of this file need a binary built with -tags mpi and started by mpirun (see
// mpitest.sh); elsewhere they skip. TestRankFailure starts mpirun itself when given -mpirun.
var launch = flag.Bool("mpirun", false, "let TestRankFailure start mpirun to check that a failed rank ends the job")

// world is the MPI group of the job, or nil when mpirun did not start this process.
var world dist.Group

func TestMain(m *testing.M) {
	flag.Parse()
	if _, ok := os.LookupEnv("OMPI_COMM_WORLD_SIZE"); ok {
		g, err := dist.Open()
		if err != nil {
			fmt.Fprintln(os.Stderr, err)
			os.Exit(1)
		}
		world = g
	}
	code := m.Run()
	if world != nil {
		if code != 0 {
			world.Abort(code) // the other ranks may wait in a collective
		}
		if err := world.Close(); err != nil {
			fmt.Fprintln(os.Stderr, err)
			code = 1
		}
	}
	os.Exit(code)
}

// mpiWorld returns the job's group or skips the test.
func mpiWorld(tb testing.TB) dist.Group {
	if world == nil {
		tb.Skip("not started by mpirun (see dist/mpitest.sh)")
	}
	return world
}

func TestMPIWorld(t *testing.T) {
	g := mpiWorld(t)
	size, _ := strconv.Atoi(os.Getenv("OMPI_COMM_WORLD_SIZE"))
	rank, _ := strconv.Atoi(os.Getenv("OMPI_COMM_WORLD_RANK"))
	if g.Size() != size || g.Rank() != rank {
		t.Errorf("rank %d of %d, mpirun says %d of %d", g.Rank(), g.Size(), rank, size)
	}
	if _, err := dist.Open(); err == nil || !strings.Contains(err.Error(), "already opened") {
		t.Errorf("second Open: %v, want an error", err)
	}
}

// TestMPIGoSignals checks that MPI_Init left Go's signal handlers in place: a nil pointer
// dereference is still a panic that recover catches.
func TestMPIGoSignals(t *testing.T) {
	mpiWorld(t)
	var p *[8]float32
	defer func() {
		if recover() == nil {
			t.Error("no panic")
		}
	}()
	p[1] = 1
}

func TestMPICollectives(t *testing.T) {
	if err := checkCollectives(mpiWorld(t)); err != nil {
		t.Error(err)
	}
}

// TestMPISplitCalls runs the collectives with at most 7 elements per MPI call, so that every
// buffer longer than that takes several calls, and gathers several rounds.
func TestMPISplitCalls(t *testing.T) {
	g := mpiWorld(t)
	defer dist.SetMaxCount(g, 7)()
	if err := checkCollectives(g); err != nil {
		t.Error(err)
	}
}

// TestMPIIdenticalSums checks that every rank receives the same bits from all-reduces of
// 4 MiB of float32 and 8 MiB of float64, whatever algorithm MPI picks for them.
func TestMPIIdenticalSums(t *testing.T) {
	if err := checkIdenticalSums(mpiWorld(t), 1<<20); err != nil {
		t.Error(err)
	}
}

// TestMPIErrorNamesCall breaks the contract on purpose: rank 1 receives a broadcast into a
// buffer shorter than rank 0's. MPI reports a truncated message, which must come back as a Go
// error naming MPI_Bcast. It needs exactly 2 ranks: with more, MPI_Bcast runs over a tree, and
// the ranks that a truncated rank should have passed the message on to wait for it forever
// (the group is in an undefined state after an error, as Group says).
func TestMPIErrorNamesCall(t *testing.T) {
	g := mpiWorld(t)
	if g.Size() != 2 {
		t.Skip("needs exactly 2 ranks")
	}
	n := 64
	if g.Rank() != 0 {
		n = 32
	}
	err := g.Broadcast32(make([]float32, n), 0)
	want := "dist: MPI_Bcast: MPI_ERR_TRUNCATE"
	if g.Rank() != 0 && (err == nil || !strings.HasPrefix(err.Error(), want)) {
		t.Errorf("rank %d: error %v, want one starting %q", g.Rank(), err, want)
	}
	t.Logf("rank %d: %v", g.Rank(), err)
	if err := g.Barrier(); err != nil {
		t.Errorf("barrier after the error: %v", err)
	}
}

// TestRankFailure starts mpirun with two ranks of TestFailingRank in each way a rank can fail
// and checks that the job ends with a non-zero status within seconds.
func TestRankFailure(t *testing.T) {
	if !*launch || world != nil {
		t.Skip("needs -mpirun, outside mpirun")
	}
	mpirun, err := exec.LookPath("mpirun")
	if err != nil {
		t.Fatal(err)
	}
	for _, mode := range []string{"exit", "kill", "panic", "abort"} {
		t.Run(mode, func(t *testing.T) { runFailingJob(t, mpirun, mode) })
	}
}

func runFailingJob(t *testing.T, mpirun, mode string) {
	stamp := filepath.Join(t.TempDir(), "failed")
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, mpirun, "--allow-run-as-root", "--oversubscribe", "-np", "2",
		"-x", "DIST_FAIL_MODE="+mode, "-x", "DIST_FAIL_STAMP="+stamp,
		os.Args[0], "-test.run=^TestFailingRank$", "-test.v")
	cmd.Cancel = func() error { return cmd.Process.Signal(syscall.SIGTERM) }
	cmd.WaitDelay = 10 * time.Second
	start := time.Now()
	out, err := cmd.CombinedOutput()
	end := time.Now()
	if ctx.Err() != nil {
		t.Fatalf("the job still ran after 60 s: the failed rank left the other waiting\n%s", out)
	}
	var exit *exec.ExitError
	if !errors.As(err, &exit) || exit.ExitCode() == 0 {
		t.Fatalf("mpirun: %v, want a non-zero exit status\n%s", err, out)
	}
	b, err := os.ReadFile(stamp)
	if err != nil {
		t.Fatalf("rank 1 did not reach its failure: %v\n%s", err, out)
	}
	ns, _ := strconv.ParseInt(string(b), 10, 64)
	after := end.Sub(time.Unix(0, ns))
	t.Logf("%s: mpirun exited with status %d %.2f s after rank 1 failed (%.2f s in all)",
		mode, exit.ExitCode(), after.Seconds(), end.Sub(start).Seconds())
	if after > 10*time.Second {
		t.Errorf("the job took %v to end after rank 1 failed", after)
	}
	if strings.Contains(string(out), "all-reduce returned") {
		t.Errorf("rank 0's all-reduce returned\n%s", out)
	}
}

// TestFailingRank is TestRankFailure's job: rank 1 fails after 300 ms, as DIST_FAIL_MODE
// says, while rank 0 waits for it in an all-reduce.
func TestFailingRank(t *testing.T) {
	mode := os.Getenv("DIST_FAIL_MODE")
	if mode == "" || world == nil {
		t.Skip("the job of TestRankFailure")
	}
	if world.Rank() == 1 {
		time.Sleep(300 * time.Millisecond)
		stamp := strconv.FormatInt(time.Now().UnixNano(), 10)
		if err := os.WriteFile(os.Getenv("DIST_FAIL_STAMP"), []byte(stamp), 0o644); err != nil {
			t.Fatal(err)
		}
		switch mode {
		case "exit":
			os.Exit(3)
		case "kill":
			syscall.Kill(os.Getpid(), syscall.SIGKILL)
			time.Sleep(time.Minute)
		case "panic":
			panic("rank 1 fails")
		case "abort":
			world.Abort(3)
		}
		t.Fatalf("unknown DIST_FAIL_MODE %q", mode)
	}
	err := world.AllReduceSum32(make([]float32, 1<<20))
	t.Errorf("rank %d: all-reduce returned (%v) although rank 1 failed", world.Rank(), err)
}

// BenchmarkAllReduceSum32 times the all-reduce of float32 buffers of 1, 4 and 16 MiB. Every
// rank must run the same number of iterations: run it under mpirun with -test.benchtime=Nx.
func BenchmarkAllReduceSum32(b *testing.B) {
	g := mpiWorld(b)
	for _, mib := range []int{1, 4, 16} {
		b.Run(fmt.Sprintf("%dMiB", mib), func(b *testing.B) {
			buf := make([]float32, mib<<20/4)
			n := []float64{float64(b.N)}
			if err := g.AllReduceSum64(n); err != nil {
				b.Fatal(err)
			}
			if n[0] != float64(b.N*g.Size()) {
				b.Fatalf("the ranks run different numbers of iterations: run with -test.benchtime=Nx")
			}
			b.SetBytes(int64(4 * len(buf)))
			b.ResetTimer()
			for range b.N {
				if err := g.AllReduceSum32(buf); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
