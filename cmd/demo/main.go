// Command demo runs unroll's demonstrations on built-in real data: convolution arithmetic,
// CNNs on MNIST, recurrent networks, gradient flow and sequence models.
//
//	demo <subcommand> [flags]
//	demo <subcommand> -h
//
// Every subcommand runs with sensible defaults, writes its figures and checkpoint under -out,
// takes -seed, and with -json prints one final JSON object of its metrics on stdout.
//
// Built with -tags mpi and started by mpirun, demo cnn and demo rnn train data-parallel over
// the ranks (graph.DataParallel), -batch being the batch of all ranks together; only rank 0
// prints, draws and writes:
//
//	go build -tags mpi -o demo ./cmd/demo
//	mpirun -np 2 ./demo cnn -out /tmp/cnn
package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"sort"
	"strings"
)

// command is one subcommand of the demo.
type command struct {
	name    string
	summary string
	run     func(args []string, stdout, stderr io.Writer) error
	// parallel is set for the subcommands that train data-parallel when started by mpirun.
	parallel bool
}

// commands is filled by each subcommand's file.
var commands = map[string]command{}

func register(c command) { commands[c.name] = c }

func main() {
	os.Exit(runWorld(os.Args[1:]))
}

// run is main without the exit, so tests can call it: 0 on success, 2 on a usage error and 1
// on any other error, reported as one line.
func run(args []string, stdout, stderr io.Writer) int {
	if len(args) == 0 || args[0] == "-h" || args[0] == "-help" || args[0] == "--help" || args[0] == "help" {
		usage(stdout)
		return 0
	}
	c, ok := commands[args[0]]
	if !ok {
		fmt.Fprintf(stderr, "demo: unknown subcommand %q\n", args[0])
		usage(stderr)
		return 2
	}
	var err error
	if world.Size() > 1 && !c.parallel {
		err = fmt.Errorf("it does not train data-parallel: run it without mpirun (demo cnn and demo rnn do)")
	} else {
		err = c.run(args[1:], stdout, stderr)
	}
	switch {
	case err == nil:
		return 0
	case errors.Is(err, flag.ErrHelp):
		return 0
	case errors.As(err, new(usageError)):
		fmt.Fprintf(stderr, "demo %s: %v\n", c.name, err)
		return 2
	default:
		fmt.Fprintf(stderr, "demo %s: %s\n", c.name, strings.ReplaceAll(err.Error(), "\n", " "))
		return 1
	}
}

func usage(w io.Writer) {
	fmt.Fprintln(w, "demo runs unroll's demonstrations on built-in real data.")
	fmt.Fprintln(w)
	fmt.Fprintln(w, "usage: demo <subcommand> [flags]   (demo <subcommand> -h for its flags)")
	fmt.Fprintln(w)
	fmt.Fprintln(w, "subcommands:")
	names := make([]string, 0, len(commands))
	for n := range commands {
		names = append(names, n)
	}
	sort.Strings(names)
	for _, n := range names {
		fmt.Fprintf(w, "  %-10s %s\n", n, commands[n].summary)
	}
}

// usageError is a bad flag or argument: the demo exits with status 2.
type usageError struct{ msg string }

func (e usageError) Error() string { return e.msg }

func usagef(format string, args ...any) error { return usageError{fmt.Sprintf(format, args...)} }

// newFlags returns a flag set that reports errors instead of exiting, with the flags every
// subcommand shares.
func newFlags(name string, stderr io.Writer) (*flag.FlagSet, *common) {
	fs := flag.NewFlagSet("demo "+name, flag.ContinueOnError)
	fs.SetOutput(stderr)
	c := &common{}
	fs.Uint64Var(&c.seed, "seed", 1, "random seed")
	fs.StringVar(&c.out, "out", "", "directory for figures and checkpoints (none written when empty)")
	fs.BoolVar(&c.json, "json", false, "print one JSON object of the final metrics on stdout")
	return fs, c
}

// common holds the flags every subcommand takes.
type common struct {
	seed uint64
	out  string
	json bool
}

// parse parses args, turning flag errors into usage errors.
func parse(fs *flag.FlagSet, args []string) error {
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return err
		}
		return usageError{err.Error()}
	}
	if fs.NArg() > 0 {
		return usagef("unexpected argument %q", fs.Arg(0))
	}
	return nil
}
