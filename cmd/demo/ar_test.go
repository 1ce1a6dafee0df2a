package main

import (
	"bytes"
	"encoding/json"
	"math"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/unroll-ml/unroll/data"
)

// demo ar -json prints one JSON object with the 1-step test RMSE of every model (persistence
// among them) and the k-step RMSEs, and writes its figures and checkpoint.
func TestARDemoJSON(t *testing.T) {
	out := t.TempDir()
	var stdout, stderr bytes.Buffer
	args := []string{"ar", "-epochs", "3", "-latent-epochs", "1", "-hidden", "4", "-window", "6", "-k", "1,3", "-out", out, "-json"}
	if code := run(args, &stdout, &stderr); code != 0 {
		t.Fatalf("exit %d: %s", code, stderr.String())
	}
	var res struct {
		Persistence, LeastSquaresAR, AR, LatentAR float64
		KStep                                     map[string]map[string]float64 `json:"k_step"`
		Test                                      int                           `json:"test_values"`
	}
	dec := json.NewDecoder(bytes.NewReader(stdout.Bytes()))
	if err := dec.Decode(&res); err != nil {
		t.Fatalf("stdout is not one JSON object: %v\n%s", err, stdout.String())
	}
	if dec.More() {
		t.Fatalf("stdout holds more than one JSON object:\n%s", stdout.String())
	}
	var raw map[string]any
	if err := json.Unmarshal(stdout.Bytes(), &raw); err != nil {
		t.Fatal(err)
	}
	checkSnakeCase(t, raw)
	for _, k := range []string{"persistence", "least_squares_ar", "ar", "latent_ar", "k_step", "seconds"} {
		if _, ok := raw[k]; !ok {
			t.Errorf("JSON lacks %q", k)
		}
	}
	// Persistence and least squares are deterministic: they are the figures PyTorch gives.
	b, err := os.ReadFile(filepath.Join("..", "..", "models", "rnn", "testdata", "sunspots_reference.json"))
	if err != nil {
		t.Fatal(err)
	}
	var ref struct {
		Persistence float64 `json:"persistence_rmse"`
		LS          float64 `json:"ls_rmse"`
	}
	if err := json.Unmarshal(b, &ref); err != nil {
		t.Fatal(err)
	}
	if p := raw["persistence"].(float64); math.Abs(p-ref.Persistence) > 1e-9 {
		t.Errorf("persistence %v, reference %v", p, ref.Persistence)
	}
	if p := raw["least_squares_ar"].(float64); math.Abs(p-ref.LS) > 1e-9 {
		t.Errorf("least-squares AR %v, reference %v", p, ref.LS)
	}
	for _, model := range []string{"persistence", "least_squares_ar", "ar", "latent_ar"} {
		ks := res.KStep[model]
		if !(ks["1"] > 0) || !(ks["3"] > 0) {
			t.Errorf("%s: k-step RMSEs %v", model, ks)
		}
	}
	if res.KStep["persistence"]["3"] <= res.KStep["persistence"]["1"] {
		t.Errorf("persistence: 3-step RMSE %v is not above the 1-step %v", res.KStep["persistence"]["3"], res.KStep["persistence"]["1"])
	}
	for _, f := range []string{"ar-forecast.png", "ar-loss.png", "ar.safetensors"} {
		if st, err := os.Stat(filepath.Join(out, f)); err != nil || st.Size() == 0 {
			t.Errorf("%s not written: %v", f, err)
		}
	}
	if !strings.Contains(stderr.String(), "RMSE of forecasts") {
		t.Errorf("the table did not go to stderr with -json: %q", stderr.String())
	}
}

// Series the flags cannot give are errors that say what is wrong, before any training.
func TestARDemoBadSeries(t *testing.T) {
	dir := t.TempDir()
	csv := filepath.Join(dir, "short.csv")
	if err := os.WriteFile(csv, []byte("day,value\n1,3\n2,4\n3,NA\n4,6\n5,7\n6,8\n7,9\n8,8\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		args []string
		code int
		want string
	}{
		{[]string{"ar", "-data", csv, "-column", "price"}, 1, `no column "price"; the columns are ["day" "value"]`},
		{[]string{"ar", "-data", csv}, 2, "-data " + csv + " needs -column NAME"},
		{[]string{"ar", "-data", csv, "-column", "value"}, 1, "1 missing values (lines 4); choose a fill"},
		{[]string{"ar", "-data", csv, "-column", "value", "-fill", "interpolate", "-tau", "20"}, 2, "-tau 20: the MLP AR model reads 20 past values"},
		{[]string{"ar", "-data", csv, "-column", "value", "-fill", "drop", "-ls-tau", "3"}, 2, "-ls-tau 3: the least-squares AR(3)"},
		{[]string{"ar", "-data", csv, "-column", "value", "-fill", "drop"}, 1, "-k 1,2,4,8 (the default): the 8-step forecasts of the test part, even persistence's, need 8 values before the test part, and the 5 of short.csv (value) are too few"},
		{[]string{"ar", "-series", "co2"}, 1, "59 missing values"},
		{[]string{"ar", "-series", "co2"}, 1, "rerun with -fill drop or -fill interpolate"},
		{[]string{"ar", "-series", "moon"}, 2, `-series "moon": want sunspots or co2`},
		{[]string{"ar", "-fill", "zero"}, 2, `-fill "zero": want none, drop or interpolate`},
		{[]string{"ar", "-tau", "0"}, 2, "-tau 0: must be at least 1"},
		{[]string{"ar", "-k", "1,x"}, 2, `-k "1,x"`},
		{[]string{"ar", "-cell", "tcn"}, 2, `unknown recurrent cell "tcn"`},
	} {
		var stdout, stderr bytes.Buffer
		code := run(c.args, &stdout, &stderr)
		if code != c.code || !strings.Contains(stderr.String(), c.want) {
			t.Errorf("%v: exit %d, stderr %q; want exit %d and %q", c.args, code, stderr.String(), c.code, c.want)
		}
	}
}

// The built-in CO2 series under each fill: an error without one, 2225 weekly values when the
// 59 gaps are dropped, all 2284 weeks when they are interpolated.
func TestARDemoCO2Fill(t *testing.T) {
	for _, c := range []struct {
		fill   data.Fill
		values int
		filled int
	}{{data.FillDrop, 2225, 0}, {data.FillInterpolate, 2284, 59}} {
		s, _, err := loadSeries(arFlags{series: "co2"}, c.fill)
		if err != nil {
			t.Fatalf("%v: %v", c.fill, err)
		}
		if len(s.Values) != c.values || len(s.Missing) != 59 || len(s.Filled) != c.filled {
			t.Errorf("%v: %d values, %d missing, %d filled; want %d, 59, %d", c.fill, len(s.Values), len(s.Missing), len(s.Filled), c.values, c.filled)
		}
	}
	if _, _, err := loadSeries(arFlags{series: "co2"}, data.FillNone); err == nil || !strings.Contains(err.Error(), "-fill drop") {
		t.Errorf("no fill: %v", err)
	}
	// Dates become fractional years on the x axis of the plots.
	s, _, _ := loadSeries(arFlags{series: "co2"}, data.FillDrop)
	x, label := seriesX(s)
	if label != "year" || !(x[0] > 1958 && x[0] < 1959) || !(x[len(x)-1] > 2001 && x[len(x)-1] < 2002) {
		t.Errorf("x axis %s from %v to %v", label, x[0], x[len(x)-1])
	}
}
