package main

import (
	"bytes"
	"strings"
	"testing"

	"github.com/unroll-ml/unroll/dist/disttest"
)

// On several ranks, the subcommands that do not train data-parallel refuse to run, and demo
// cnn and demo rnn refuse a batch the ranks cannot share, before any collective operation.
func TestRanksRefused(t *testing.T) {
	gs, err := disttest.Local(2)
	if err != nil {
		t.Fatal(err)
	}
	saved := world
	defer func() { world = saved }()
	world = gs[0]
	for _, c := range []struct {
		args []string
		code int
		want string
	}{
		{[]string{"conv"}, 1, "demo conv: it does not train data-parallel: run it without mpirun (demo cnn and demo rnn do)"},
		{[]string{"cnn", "-batch", "63"}, 2, "demo cnn: -batch 63 does not split among 2 ranks: make it a multiple of 2"},
		{[]string{"rnn", "-batch", "31"}, 2, "demo rnn: -batch 31 does not split among 2 ranks: make it a multiple of 2"},
	} {
		var stdout, stderr bytes.Buffer
		if code := run(c.args, &stdout, &stderr); code != c.code || !strings.Contains(stderr.String(), c.want) {
			t.Errorf("%v: status %d, %q; want %d, %q", c.args, code, stderr.String(), c.code, c.want)
		}
	}
}
