package main

import (
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// demo gradflow prints, with -json, the curves of the three cells after training and at
// initialisation, one norm per step back, and writes both plots under -out.
func TestGradflowJSON(t *testing.T) {
	dir := t.TempDir()
	var out, errb bytes.Buffer
	code := run([]string{"gradflow", "-steps", "6", "-hidden", "4", "-iters", "3", "-batch", "4", "-json", "-out", dir}, &out, &errb)
	if code != 0 {
		t.Fatalf("exit %d: %s", code, errb.String())
	}
	var res map[string]any
	if err := json.Unmarshal(out.Bytes(), &res); err != nil {
		t.Fatalf("%v: %q", err, out.String())
	}
	checkSnakeCase(t, res)
	for _, k := range []string{"rnn", "lstm", "gru", "rnn_init", "lstm_init", "gru_init"} {
		curve, ok := res[k].([]any)
		if !ok || len(curve) != 6 {
			t.Fatalf("%s: %v, want 6 norms", k, res[k])
		}
		for i, v := range curve {
			if f, ok := v.(float64); !ok || !(f > 0) {
				t.Errorf("%s[%d] = %v, want a positive norm", k, i, v)
			}
		}
	}
	for _, f := range []string{"gradflow-init.png", "gradflow-trained.png", "gradflow-rnn.safetensors", "gradflow-lstm.safetensors", "gradflow-gru.safetensors"} {
		if st, err := os.Stat(filepath.Join(dir, f)); err != nil || st.Size() == 0 {
			t.Errorf("%s not written: %v", f, err)
		}
	}

	out.Reset()
	if code := run([]string{"gradflow", "-steps", "4", "-hidden", "3", "-iters", "1", "-batch", "2", "-cells", "gru"}, &out, &errb); code != 0 {
		t.Fatalf("table: exit %d: %s", code, errb.String())
	}
	if !strings.Contains(out.String(), "gru init") || !strings.Contains(out.String(), "decay") {
		t.Errorf("no table: %q", out.String())
	}
	for _, args := range [][]string{{"gradflow", "-steps", "1"}, {"gradflow", "-cells", "transformer"}} {
		errb.Reset()
		if code := run(args, &out, &errb); code != 2 {
			t.Errorf("%v: exit %d, want 2 (%s)", args, code, errb.String())
		}
	}
}
