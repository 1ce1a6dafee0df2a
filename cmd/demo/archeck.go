package main

import (
	"errors"
	"fmt"
	"slices"
	"strings"
)

// arTrainFrac is the part of the series demo ar trains on, from its start; the rest is the
// test part its forecasts are scored on.
const arTrainFrac = 0.8

// checkOrders refuses, before anything is trained, a flag that asks more past values than the
// training part holds: each model reads a window of past values, trains on windows followed
// by a target, and forecasts the test part k steps ahead from windows that end k-1 values
// before it, so the training part must hold a window, the largest k's lead and (with -diff)
// one value more for the first change. The error names the flag, what it needs, and the
// largest value of it or the series length that would do. n is the series' length, train
// its training part's.
func checkOrders(f *arFlags, label string, n, train int) error {
	k := slices.Max(f.horizons)
	lead := max(1, k-1) // a target after the last training window; the lead of k-step forecasts
	diff := 0
	reads := func(model string, order int) string {
		return fmt.Sprintf("%s reads %d past values: training it and its %d-step forecasts", model, order, k)
	}
	if f.diff {
		diff = 1
		reads = func(model string, order int) string {
			return fmt.Sprintf("%s reads %d past changes, so %d values with -diff: training it and its %d-step forecasts", model, order, order+1, k)
		}
	}
	checks := []orderCheck{
		{"-k", fmt.Sprintf("the %d-step forecasts of the test part, even persistence's,", k), k, k, train, false},
		{"-tau", reads("the MLP AR model", f.tau), f.tau, f.tau + diff + lead, train - diff - lead, k > 2},
		{"-window", reads("the latent AR model", f.window), f.window, f.window + diff + lead, train - diff - lead, k > 2},
		{"-ls-tau", fmt.Sprintf("the least-squares AR(%d) fits %d coefficients on as many windows at least: fitting it and its %d-step forecasts",
			f.lsTau, f.lsTau+1, k), f.lsTau, max(2*f.lsTau+1, f.lsTau+k-1), min((train-1)/2, train-k+1), k > f.lsTau+2},
	}
	// A flag given on the command line is blamed first; a default one that asks too much
	// means the series is too short.
	var failed *orderCheck
	for i, c := range checks {
		if train < c.need && (failed == nil || (f.explicit[c.flag[1:]] && !f.explicit[failed.flag[1:]])) {
			failed = &checks[i]
		}
	}
	if failed == nil {
		return nil
	}
	return orderError(f, failed, label, n, train)
}

// orderError says what the check c needs and what would do: a flag given on the command line
// is a usage error; a default that the series is too short for is the series' error.
func orderError(f *arFlags, c *orderCheck, label string, n, train int) error {
	var instead []string
	switch {
	case c.flag == "-k":
		instead = append(instead, fmt.Sprintf("horizons of %d or less", c.fits))
	case c.fits >= 1:
		instead = append(instead, fmt.Sprintf("%s %d or less", c.flag, c.fits))
	}
	if c.byK {
		instead = append(instead, fmt.Sprintf("shorter horizons than -k %s", f.ks))
	}
	instead = append(instead, fmt.Sprintf("a series of at least %d values", seriesFor(c.need)))
	subject, what, usage := fmt.Sprintf("%s %d", c.flag, c.value), c.what, f.explicit[c.flag[1:]]
	if c.flag == "-k" {
		subject = "-k " + f.ks
	}
	switch {
	case !usage && c.byK && f.explicit["k"]: // the horizons asked make the default order too long
		subject, what, usage = "-k "+f.ks, fmt.Sprintf("with %s %d (the default), %s", c.flag, c.value, c.what), true
	case !usage:
		subject += " (the default)"
	}
	msg := fmt.Sprintf("%s: %s need %d values before the test part, and the %d of %s are too few (the first %.0f%% of its %d values): use %s",
		subject, what, c.need, train, label, 100*arTrainFrac, n, strings.Join(instead, ", or "))
	if usage {
		return usageError{msg} // the flags ask too much of this series
	}
	return errors.New(msg) // the series is too short for the defaults
}

// orderCheck is one model's or horizon's need of values before the test part.
type orderCheck struct {
	flag, what string
	value      int
	need       int  // values the training part must hold
	fits       int  // the largest value of the flag the training part allows
	byK        bool // whether shorter horizons need fewer values
}

// seriesFor is the shortest series whose training part holds need values.
func seriesFor(need int) int {
	n := need + 1
	for int(arTrainFrac*float64(n)) < need {
		n++
	}
	return n
}
