package main

import (
	"fmt"
	"io"
	"os"
	"time"

	"github.com/schollz/progressbar/v3"
)

// progress shows how far a long loop has come: a progress bar (with the rate, a status such as
// the loss, and the time left) when w is a terminal, and otherwise one plain log line every
// few seconds and at the end, so logs and pipes stay readable. When the bar fails to draw, it
// gives way to the log lines, and finish returns the failure.
type progress struct {
	err     error // the bar's first failure
	w       io.Writer
	bar     *progressbar.ProgressBar
	total   int
	what    string // the unit counted: "step", "epoch"
	start   time.Time
	lastLog time.Time
	every   time.Duration
	n       int
	status  string
}

// newProgress starts reporting on a loop of total units named what.
func newProgress(w io.Writer, total int, what string) *progress {
	p := &progress{w: w, total: total, what: what, start: time.Now(), every: 10 * time.Second}
	p.lastLog = p.start
	if isTerminal(w) {
		p.bar = progressbar.NewOptions(total,
			progressbar.OptionSetWriter(w),
			progressbar.OptionSetWidth(24),
			progressbar.OptionShowCount(),
			progressbar.OptionSetPredictTime(true),
			progressbar.OptionSetElapsedTime(true),
			progressbar.OptionShowDescriptionAtLineEnd(),
			progressbar.OptionThrottle(100*time.Millisecond),
			progressbar.OptionSetRenderBlankState(true),
		)
	}
	return p
}

// isTerminal reports whether w is a character device such as a terminal.
func isTerminal(w io.Writer) bool {
	f, ok := w.(*os.File)
	if !ok {
		return false
	}
	st, err := f.Stat()
	return err == nil && st.Mode()&os.ModeCharDevice != 0
}

// update records that n units are done, with a short status ("loss 1.92, 9,800 tok/s").
func (p *progress) update(n int, status string) {
	p.n, p.status = n, status
	if p.bar != nil {
		p.bar.Describe(status)
		p.check(p.bar.Set(n))
		return
	}
	if now := time.Now(); now.Sub(p.lastLog) >= p.every || n == p.total {
		p.lastLog = now
		p.logLine()
	}
}

func (p *progress) logLine() {
	el := time.Since(p.start)
	eta := ""
	if p.n > 0 && p.n < p.total {
		left := time.Duration(float64(el) * float64(p.total-p.n) / float64(p.n))
		eta = fmt.Sprintf(", %s left", left.Round(time.Second))
	}
	fmt.Fprintf(p.w, "%s %d/%d (%.0f%%) %s [%s%s]\n", p.what, p.n, p.total, 100*float64(p.n)/float64(max(p.total, 1)),
		p.status, el.Round(time.Second), eta)
}

// check records the bar's first failure and turns the bar off, so that plain log lines follow.
func (p *progress) check(err error) {
	if err != nil && p.bar != nil {
		p.err, p.bar = fmt.Errorf("progress bar: %w", err), nil
	}
}

// println prints a line of its own (a sample, a note) without breaking the bar.
func (p *progress) println(format string, args ...any) {
	if p.bar != nil {
		p.check(p.bar.Clear())
	}
	fmt.Fprintf(p.w, format+"\n", args...)
	if p.bar != nil {
		p.check(p.bar.RenderBlank())
	}
	if p.bar != nil {
		p.check(p.bar.Set(p.n))
	}
}

// finish ends the bar, or logs the final line if the last update was not logged. It returns
// the bar's first failure to draw, if any.
func (p *progress) finish() error {
	if p.bar != nil {
		p.check(p.bar.Finish())
		if p.bar != nil {
			fmt.Fprintln(p.w)
			return nil
		}
	}
	if p.n != p.total { // update logs the last unit itself
		p.logLine()
	}
	return p.err
}
