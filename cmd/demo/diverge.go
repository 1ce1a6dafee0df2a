package main

import (
	"errors"
	"fmt"
	"math"
	"os"

	"github.com/unroll-ml/unroll/graph"
)

// divergedHint turns a diverged fit into the demo's message: the step, what was seen, the
// flags to change and which checkpoint is the last good one (a diverged state is never
// saved). saved is the step of the newest checkpoint this run wrote, -1 for none; checkpoint
// is where the run writes ("" for nowhere), resume the checkpoint it started from. A
// checkpoint an earlier run left at checkpoint is named as kept. Other errors pass through.
func divergedHint(err error, lr float64, saved int, checkpoint, resume string) error {
	var d *graph.DivergedError
	if !errors.As(err, &d) {
		return err
	}
	kept := "no checkpoint was written"
	switch {
	case saved >= 0:
		kept = fmt.Sprintf("the last good checkpoint, step %d, is kept in %s", saved, checkpoint)
	case resume != "":
		kept = fmt.Sprintf("the checkpoint resumed from, %s, is unchanged", resume)
	case checkpoint != "":
		if _, err := os.Stat(checkpoint); err == nil {
			kept += fmt.Sprintf("; the one an earlier run wrote, %s, is unchanged", checkpoint)
		}
	}
	at := fmt.Sprintf("step %d", d.Step)
	if !math.IsNaN(d.Loss) {
		at = fmt.Sprintf("step %d (loss %.4g)", d.Step, d.Loss)
	}
	msg := fmt.Sprintf("training diverged at %s: %s; rerun with a lower -lr than %g or with -clip (such as -clip 5); %s",
		at, d.Reason, lr, kept)
	return &rephrased{msg, err}
}

// rephrased is an error told in the demo's words that still unwraps to the original.
type rephrased struct {
	msg string
	err error
}

func (e *rephrased) Error() string { return e.msg }
func (e *rephrased) Unwrap() error { return e.err }
