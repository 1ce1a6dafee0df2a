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
// few seconds and at the end, so logs and pipes stay readable.
type progress struct {
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
		_ = p.bar.Set(n)
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

// println prints a line of its own (a sample, a note) without breaking the bar.
func (p *progress) println(format string, args ...any) {
	if p.bar != nil {
		_ = p.bar.Clear()
	}
	fmt.Fprintf(p.w, format+"\n", args...)
	if p.bar != nil {
		_ = p.bar.RenderBlank()
		_ = p.bar.Set(p.n)
	}
}

// finish ends the bar, or logs the final line if the last update was not logged.
func (p *progress) finish() {
	if p.bar != nil {
		_ = p.bar.Finish()
		fmt.Fprintln(p.w)
		return
	}
	if p.n != p.total { // update logs the last unit itself
		p.logLine()
	}
}
