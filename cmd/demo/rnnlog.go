package main

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"github.com/unroll-ml/unroll/data"
	"github.com/unroll-ml/unroll/data/builtin"
)

// lmLog is what demo rnn keeps beside its checkpoint (rnn-log.json): the loss of every
// training step, the scheduled validation scores and the run's settings, for a resumed run to
// report and plot the whole run. The checkpoint holds the model and the training run.
type lmLog struct {
	Losses   []float64    `json:"losses"`
	ValCurve [][2]float64 `json:"val_curve"` // (step, validation loss)
	Seq      int          `json:"seq"`
	Batch    int          `json:"batch"`
	LR       float64      `json:"lr"`
	Clip     float64      `json:"clip"`
	Val      float64      `json:"val"`
	Data     string       `json:"data"` // the text's file as an absolute path, "" for Moby Dick
	// TextSHA256 is the SHA-256 of the training text (as read, before the quotes are mapped):
	// a resumed run must go on in the text its data position is a position in.
	TextSHA256 string `json:"text_sha256,omitempty"`
}

// logPath is where the log of a checkpoint lives: rnn.safetensors has rnn-log.json.
func logPath(checkpoint string) string {
	return strings.TrimSuffix(checkpoint, filepath.Ext(checkpoint)) + "-log.json"
}

// readLMLog reads the log beside a checkpoint.
func readLMLog(checkpoint string) (*lmLog, error) {
	path := logPath(checkpoint)
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("the log of checkpoint %s: %w (was it written by demo rnn?)", checkpoint, err)
	}
	var log lmLog
	if err := json.Unmarshal(b, &log); err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	if log.Seq < 1 || log.Batch < 1 || !(log.LR > 0) || log.Clip < 0 || !(log.Val > 0 && log.Val < 1) {
		return nil, fmt.Errorf("%s: settings out of range (seq %d, batch %d, lr %g, clip %g, val %g)", path, log.Seq, log.Batch, log.LR, log.Clip, log.Val)
	}
	if b, err := hex.DecodeString(log.TextSHA256); err != nil || (len(b) != 0 && len(b) != sha256.Size) {
		return nil, fmt.Errorf("%s: text_sha256 %q is not a SHA-256 in hex", path, log.TextSHA256)
	}
	return &log, nil
}

// writeFileAtomic writes b to path through a temporary file in the same directory, synced and
// renamed over path.
func writeFileAtomic(path string, b []byte) error {
	tmp, err := os.CreateTemp(filepath.Dir(path), "."+filepath.Base(path)+".tmp")
	if err != nil {
		return err
	}
	_, err = tmp.Write(b)
	if err == nil {
		err = tmp.Sync()
	}
	if cerr := tmp.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		if rerr := os.Remove(tmp.Name()); rerr != nil {
			err = fmt.Errorf("%w (removing %s: %v)", err, tmp.Name(), rerr)
		}
		return err
	}
	return os.Rename(tmp.Name(), path)
}

// loadText reads the training text: file, or Moby Dick when file is "".
func loadText(file string) (text, source string, err error) {
	if file == "" {
		t, err := builtin.MobyDick()
		return t, "Moby Dick", err
	}
	t, err := data.ReadText(file)
	return t, filepath.Base(file), err
}

// textSHA256 is the hex SHA-256 of a text, its fingerprint in demo rnn's log.
func textSHA256(text string) string {
	sum := sha256.Sum256([]byte(text))
	return hex.EncodeToString(sum[:])
}

// textPath is where -data points, as an absolute path ("" for Moby Dick), so that a log names
// its text wherever a resumed run starts.
func textPath(file string) (string, error) {
	if file == "" {
		return "", nil
	}
	abs, err := filepath.Abs(file)
	if err != nil {
		return "", fmt.Errorf("-data %s: %w", file, err)
	}
	return abs, nil
}

// textName names a text of the log: its file, or the built-in Moby Dick.
func textName(path string) string {
	if path == "" {
		return "Moby Dick (built in)"
	}
	return path
}

// sameText makes sure a resumed run trains on the text its checkpoint was trained on: the
// checkpoint holds a position in that text and that text's vocabulary, so another text would
// be read from a position that means nothing in it. sum is the fingerprint of the text -data
// (or the log) named. The same text under another name is fine, with a note; another text,
// given with -data or changed since in its file, is an error that names it and the
// checkpoint's text.
func sameText(f *rnnFlags, log *lmLog, sum string) (note string, err error) {
	given, err := textPath(f.file)
	if err != nil {
		return "", err
	}
	saved, err := textPath(log.Data) // absolute already, unless an older log wrote it
	if err != nil {
		return "", err
	}
	switch {
	case log.TextSHA256 == "" && given == saved: // an older log, without a fingerprint
		return "", nil
	case log.TextSHA256 == sum && given == saved:
		return "", nil
	case log.TextSHA256 == sum:
		return fmt.Sprintf("-data %s: the same text as the checkpoint's, %s", f.file, textName(saved)), nil
	case f.explicit["data"]:
		return "", fmt.Errorf("-data %s: checkpoint %s was trained on another text, %s; a resumed run goes on in the text it was "+
			"trained on (the checkpoint holds its position in it and its vocabulary): leave out -data to go on, or leave out -resume to train anew on this one",
			quoteEmpty(f.file), f.resume, textName(saved))
	}
	return "", fmt.Errorf("the text of checkpoint %s, %s, has changed since the checkpoint was written (its SHA-256 is not the log's); "+
		"a resumed run goes on in the text it was trained on: put that text back, or leave out -resume to train anew", f.resume, textName(saved))
}

// quoteEmpty shows an empty flag value as "" (for -data, the built-in Moby Dick).
func quoteEmpty(s string) string {
	if s == "" {
		return `"" (Moby Dick, built in)`
	}
	return s
}

// checkpointPath is where demo rnn writes its checkpoint, "" without -out.
func (r *lmRun) checkpointPath() string {
	if r.c.out == "" {
		return ""
	}
	return filepath.Join(r.c.out, "rnn.safetensors")
}
