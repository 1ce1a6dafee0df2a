// Package dist is the process group of data-parallel training: the processes (ranks) that
// each hold the whole model, train on their own share of every batch, and sum their gradients
// with an all-reduce before each solver step, as in PyTorch's DistributedDataParallel and
// Horovod. Look first at Group, the interface of the operations training needs (rank, size,
// in-place sum all-reduce, broadcast, gather to rank 0, barrier, close, abort), and at Open,
// which returns the group this process was started in. The training loop takes a group with
// the fit option graph.DataParallel(g), for any model's Fit.
//
// There are two implementations. Single is the group of one process, whose operations leave
// their buffers as they are; it is what a default build (pure Go, no cgo) has. With the build
// tag mpi, the package also binds OpenMPI's C API through cgo, found with pkg-config (module
// ompi-c); nothing else in unroll needs cgo. Package disttest holds what tests of
// data-parallel code need: an in-process group of several ranks and a Counter of operations.
//
// # Running on MPI
//
// On Debian or Ubuntu, OpenMPI comes with
//
//	apt-get install libopenmpi-dev openmpi-bin
//	go build -tags mpi -o train ./cmd/yourprogram
//	mpirun -np 2 ./train
//
// (as root, mpirun also wants --allow-run-as-root; with more ranks than cores,
// --oversubscribe). Across machines, mpirun takes a hostfile or --host a,b and starts the
// same binary, at the same path, on each; the machines must reach each other over ssh
// without a password. See OpenMPI's mpirun(1).
//
// Open decides from the environment mpirun gives each process (OMPI_COMM_WORLD_SIZE): a
// process started alone gets Single; a process started by mpirun gets the MPI group, or,
// if the binary was built without -tags mpi and mpirun started several processes, an error
// (silently training N unconnected copies of the model would be wrong). MPI() tells the build.
//
// The MPI group initialises MPI with MPI_Init_thread at MPI_THREAD_SERIALIZED: any OS thread
// may call MPI, one at a time. Go moves goroutines between threads, so MPI_THREAD_FUNNELED
// (only the thread that initialised MPI calls it) cannot be promised, and MPI_THREAD_MULTIPLE
// (concurrent calls) is not needed, since the collectives of one communicator must run in the
// same order on every rank anyway; the group runs its operations one at a time under a mutex.
// It works on its own duplicate of MPI_COMM_WORLD (MPI_Comm_dup) with the error handler
// MPI_ERRORS_RETURN, so that an MPI error is a Go error naming the call, such as
// "dist: MPI_Bcast: MPI_ERR_TRUNCATE: message truncated", not an abort. MPI counts are C
// ints: buffers longer than 2^31-1 elements are sent in several calls, and gathers whose total
// exceeds 2^31-1 bytes in several rounds. The ranks receive bit-identical sums (MPI chooses
// the order of the additions, which may depend on the number of ranks and the size of the
// buffer, so sums may differ in their last bits from a sum taken in one process).
//
// # When a rank fails
//
// A collective waits for every rank, so a rank that cannot go on must end the job rather than
// leave the others waiting. A rank that exits with a non-zero status (an error returned from
// main, an unrecovered panic, a signal such as SIGKILL) makes mpirun stop the other ranks and
// exit with a non-zero status: on this project's 2-core test machine, 1.1 s after the rank
// ended. Group.Abort (MPI_Abort) ends every rank at once: 0.15 s. A failed rank must not call
// Close: MPI_Finalize waits for the other ranks, which wait in their collective, and the job
// hangs. After an operation returns an error the group is in an undefined state (some ranks
// may still wait in the operation), so the rank should Abort or exit. The tests check each way
// of failing (TestRankFailure; mpitest.sh runs them).
package dist
