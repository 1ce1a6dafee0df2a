package graph_test

import (
	"fmt"
	"regexp"
	"slices"
	"strings"
	"testing"

	"gorgonia.org/gorgonia"
	"gorgonia.org/tensor"

	"github.com/unroll-ml/unroll/graph"
	"github.com/unroll-ml/unroll/nodes"
)

// rnnLoss adds an RNN cell (2 -> 3) unrolled over steps x1..x<steps> from h0, an output layer
// on the last state and a squared error against y; it returns the loss.
func rnnLoss(t *testing.T, b *graph.Builder, cell *nodes.RNNCell, out *nodes.Dense, steps int) *gorgonia.Node {
	t.Helper()
	h, err := b.Input("h0", 1, 3)
	if err != nil {
		t.Fatal(err)
	}
	for s := 1; s <= steps; s++ {
		x, err := b.Input(fmt.Sprintf("x%d", s), 1, 2)
		if err != nil {
			t.Fatal(err)
		}
		st, err := cell.Step(b, x, nodes.State{H: h})
		if err != nil {
			t.Fatal(err)
		}
		h = st.H
	}
	o, err := out.Forward(b, h)
	if err != nil {
		t.Fatal(err)
	}
	y, err := b.Input("y", 1, 1)
	if err != nil {
		t.Fatal(err)
	}
	loss, err := nodes.MSE(b, o, y)
	if err != nil {
		t.Fatal(err)
	}
	return loss
}

// rnnBuilder returns a training builder holding rnnLoss over steps, compiled with
// NewTrainer when compiled is set.
func rnnBuilder(t *testing.T, steps int, compiled bool) *graph.Builder {
	t.Helper()
	ps := graph.NewParams(graph.Seed(1), graph.Dtype(tensor.Float64))
	cell, err := nodes.NewRNNCell(ps, "rnn", 2, 3)
	if err != nil {
		t.Fatal(err)
	}
	out, err := nodes.NewDense(ps, "out", 3, 1)
	if err != nil {
		t.Fatal(err)
	}
	b := graph.NewBuilder(ps, graph.Train)
	loss := rnnLoss(t, b, cell, out, steps)
	if compiled {
		if _, err := graph.NewTrainer(b, loss, nil); err != nil {
			t.Fatal(err)
		}
	}
	return b
}

var (
	dotNodeLine = regexp.MustCompile(`^  n(\d+) \[label="((?:[^"\\]|\\.)*)"(.*)\];$`)
	dotEdgeLine = regexp.MustCompile(`^  n(\d+) -> n(\d+)( \[.*\])?;$`)
)

// dotGraph is a parsed Dot output: node attributes and labels by ID, edges with attributes.
type dotGraph struct {
	attrs  map[string]string // by node ID: what follows the label
	labels map[string]string // by node ID, with \n for line breaks
	edges  map[[2]string]string
	rows   []string // the rank=same lines
}

func parseDot(t *testing.T, d string) *dotGraph {
	t.Helper()
	g := &dotGraph{attrs: map[string]string{}, labels: map[string]string{}, edges: map[[2]string]string{}}
	for _, line := range strings.Split(d, "\n") {
		if m := dotNodeLine.FindStringSubmatch(line); m != nil {
			g.attrs[m[1]], g.labels[m[1]] = m[3], m[2]
		} else if m := dotEdgeLine.FindStringSubmatch(line); m != nil && !strings.Contains(line, "invis") {
			g.edges[[2]string{m[1], m[2]}] = m[3]
		} else if strings.Contains(line, "rank=same") {
			g.rows = append(g.rows, line)
		}
	}
	if len(g.attrs) == 0 || len(g.edges) == 0 {
		t.Fatalf("no nodes or edges in:\n%s", d)
	}
	return g
}

// ids returns the IDs of the nodes whose label starts with prefix.
func (g *dotGraph) ids(prefix string) []string {
	var out []string
	for id, l := range g.labels {
		if strings.HasPrefix(l, prefix) {
			out = append(out, id)
		}
	}
	return out
}

func (g *dotGraph) one(t *testing.T, prefix string) string {
	t.Helper()
	ids := g.ids(prefix)
	if len(ids) != 1 {
		t.Fatalf("%d nodes labelled %q, want 1", len(ids), prefix)
	}
	return ids[0]
}

func TestDotGradient(t *testing.T) {
	// Without a backward pass, the option changes nothing.
	fwd := rnnBuilder(t, 2, false)
	if a, b := fwd.Dot(), fwd.Dot(graph.DotGradient()); a != b {
		t.Errorf("DotGradient changed an uncompiled graph:\n%s\nwant\n%s", b, a)
	}
	b := rnnBuilder(t, 2, true)
	plain, grad := b.Dot(), b.Dot(graph.DotGradient())
	if strings.Contains(plain, "#d62728") || strings.Contains(plain, "dashed") {
		t.Errorf("Dot() without options draws a backward pass:\n%s", plain)
	}
	p, g := parseDot(t, plain), parseDot(t, grad)
	if len(p.attrs) != len(g.attrs) || len(p.edges) != len(g.edges) {
		t.Fatalf("DotGradient draws %d nodes and %d edges, Dot() %d and %d", len(g.attrs), len(g.edges), len(p.attrs), len(p.edges))
	}
	red := func(id string) bool { return strings.Contains(g.attrs[id], `fillcolor="#f9d0d0"`) }
	dead := func(id string) bool { return strings.Contains(g.attrs[id], "dashed") }
	// Forward nodes keep their colours; the backward nodes are red.
	for _, prefix := range []string{"rnn_tanhStep(", "x·Wᵀ+b", "mse", "rnn.weight_hh", "x1"} {
		for _, id := range g.ids(prefix) {
			if red(id) || g.attrs[id] != p.attrs[id] {
				t.Errorf("forward node %s %q drawn %s, Dot() %s", id, prefix, g.attrs[id], p.attrs[id])
			}
		}
	}
	steps, inputs := g.ids("rnn_tanhStepGrad"), g.ids("rnn_tanhInputGrad")
	if len(steps) != 2 || len(inputs) != 2 {
		t.Fatalf("%d step gradients and %d input gradients, want 2 and 2", len(steps), len(inputs))
	}
	for _, id := range append(steps, inputs...) {
		if !red(id) {
			t.Errorf("backward node %q not red: %s", g.labels[id], g.attrs[id])
		}
	}
	// The step gradients are computed, the gradients of the fed inputs x_t are not.
	for _, id := range steps {
		if dead(id) {
			t.Errorf("live step gradient %s drawn dashed", id)
		}
	}
	for _, id := range inputs {
		if !dead(id) {
			t.Errorf("input gradient %s, which nothing computes, drawn solid", id)
		}
	}
	// The joint weight gradient over both steps is live; the per-step ones it replaced are not.
	if id := g.one(t, "rnn_tanhWeightGrad(2 steps"); dead(id) {
		t.Errorf("the joint weight gradient is drawn dashed")
	}
	for _, id := range g.ids("rnn_tanhWeightGrad(1 steps") {
		if !dead(id) {
			t.Errorf("a replaced per-step weight gradient is drawn solid")
		}
	}
	// Through time: a red edge between the two step gradients, and dashed grey edges from the
	// forward steps into the backward pass.
	redEdges, greyEdges := 0, 0
	for e, a := range g.edges {
		if strings.Contains(a, "#d62728") {
			redEdges++
			if !red(e[0]) || !red(e[1]) {
				t.Errorf("red edge %v between %q and %q", e, g.labels[e[0]], g.labels[e[1]])
			}
		}
		if strings.Contains(a, "dashed") {
			greyEdges++
			if red(e[0]) || !red(e[1]) {
				t.Errorf("dashed edge %v from %q to %q", e, g.labels[e[0]], g.labels[e[1]])
			}
		}
	}
	if redEdges == 0 || greyEdges == 0 {
		t.Errorf("%d red and %d dashed edges", redEdges, greyEdges)
	}
	// The gradient of step 2's state reaches step 1's along red edges (through time).
	if !g.redPath(steps[0], steps[1]) && !g.redPath(steps[1], steps[0]) {
		t.Errorf("no red path between the step gradients:\n%s", grad)
	}
}

// redPath reports whether red edges lead from node from to node to.
func (g *dotGraph) redPath(from, to string) bool {
	seen := map[string]bool{from: true}
	stack := []string{from}
	for len(stack) > 0 {
		n := stack[len(stack)-1]
		stack = stack[:len(stack)-1]
		if n == to {
			return true
		}
		for e, a := range g.edges {
			if e[0] == n && strings.Contains(a, "#d62728") && !seen[e[1]] {
				seen[e[1]] = true
				stack = append(stack, e[1])
			}
		}
	}
	return false
}

func TestDotHide(t *testing.T) {
	b := rnnBuilder(t, 2, false)
	all := parseDot(t, b.Dot())
	names := func(g *dotGraph) []string { // the names of the parameters and inputs drawn
		var out []string
		for _, l := range g.labels {
			if name, _, ok := strings.Cut(l, `\n`); ok && !strings.ContainsAny(name, "(·") {
				out = append(out, name)
			}
		}
		slices.Sort(out)
		return out
	}
	for _, c := range []struct {
		patterns []string
		gone     []string // parameters and inputs left out
	}{
		{nil, nil},
		{[]string{"nothing*"}, nil},
		{[]string{"x*"}, []string{"x1", "x2"}},
		{[]string{"*_hh"}, []string{"rnn.bias_hh", "rnn.weight_hh"}},
		{[]string{"rnn.*_i*"}, []string{"rnn.bias_ih", "rnn.weight_ih"}},
		{[]string{"h0", "out.*"}, []string{"h0", "out.bias", "out.weight"}},
		{[]string{"*"}, nil}, // everything: checked below
	} {
		d := b.Dot(graph.DotHide(c.patterns...))
		if len(c.patterns) == 1 && c.patterns[0] == "*" {
			if strings.Contains(d, " n") && strings.Contains(d, "->") {
				t.Errorf("DotHide(\"*\") still draws:\n%s", d)
			}
			continue
		}
		g := parseDot(t, d)
		want := slices.DeleteFunc(names(all), func(n string) bool { return slices.Contains(c.gone, n) })
		if got := names(g); !slices.Equal(got, want) {
			t.Errorf("DotHide(%q) draws %v, want %v", c.patterns, got, want)
		}
		if len(g.attrs) != len(all.attrs)-len(c.gone) {
			t.Errorf("DotHide(%q) draws %d nodes, want %d", c.patterns, len(g.attrs), len(all.attrs)-len(c.gone))
		}
	}

	// Edges go through a hidden node: with the first step (named rnn.step) hidden, its inputs
	// h0 and x1 feed the second step directly.
	g := parseDot(t, b.Dot(graph.DotHide("rnn.step")))
	steps := g.ids("rnn_tanhStep(")
	if len(steps) != 1 {
		t.Fatalf("%d steps drawn, want 1", len(steps))
	}
	for _, in := range []string{`h0\n`, `x1\n`, `x2\n`} {
		id := g.one(t, in)
		if _, ok := g.edges[[2]string{id, steps[0]}]; !ok {
			t.Errorf("no edge from %s to the second step", in)
		}
	}
	if _, ok := all.edges[[2]string{all.one(t, `h0\n`), steps[0]}]; ok {
		t.Errorf("the unhidden graph already has the edge h0 -> second step")
	}
	// On the backward pass, hidden gradient nodes keep the red path through time.
	c := rnnBuilder(t, 2, true)
	g = parseDot(t, c.Dot(graph.DotGradient(), graph.DotHide("part(*", "+ *")))
	if len(g.ids("part(")) != 0 {
		t.Errorf("part nodes still drawn")
	}
	steps = g.ids("rnn_tanhStepGrad")
	if len(steps) != 2 || !g.redPath(steps[0], steps[1]) && !g.redPath(steps[1], steps[0]) {
		t.Errorf("no red path between the step gradients once the part nodes are hidden")
	}
}

func TestDotRow(t *testing.T) {
	b := rnnBuilder(t, 3, true)
	if d := b.Dot(graph.DotRow("nothing*")); d != b.Dot() {
		t.Errorf("a row that matches nothing changed the drawing")
	}
	d := b.Dot(graph.DotRow("x*"), graph.DotRow("rnn.step*"), graph.DotRow("x1", "h0"), graph.DotHide("x3"))
	g := parseDot(t, d)
	if len(g.rows) != 3 {
		t.Fatalf("%d rows, want 3:\n%s", len(g.rows), d)
	}
	rowIDs := func(line string) []string {
		inner := strings.TrimSuffix(strings.TrimPrefix(strings.TrimSpace(line), "{ rank=same; "), "; }")
		return strings.Split(inner, "; ")
	}
	id := func(prefix string) string { return "n" + g.one(t, prefix) }
	// Row 1: x1 and x2 in order (x3 hidden), kept in order by an invisible edge.
	x1, x2 := id(`x1\n`), id(`x2\n`)
	if got := rowIDs(g.rows[0]); !slices.Equal(got, []string{x1, x2}) {
		t.Errorf("row 1 is %v, want %v", got, []string{x1, x2})
	}
	if !strings.Contains(d, "  "+x1+" -> "+x2+" [style=invis];") {
		t.Errorf("row 1 not kept in order by an invisible edge:\n%s", d)
	}
	// Row 2: the three steps, in the order of time (of their IDs).
	var steps []string
	for _, s := range g.ids("rnn_tanhStep(") {
		steps = append(steps, "n"+s)
	}
	slices.SortFunc(steps, func(a, b string) int { return len(a) - len(b) + boolInt(len(a) == len(b))*strings.Compare(a, b) })
	if got := rowIDs(g.rows[1]); len(steps) != 3 || !slices.Equal(got, steps) {
		t.Errorf("row 2 is %v, want the steps %v", got, steps)
	}
	if !strings.Contains(d, "  "+strings.Join(steps, " -> ")+" [style=invis];") {
		t.Errorf("row 2 not kept in order:\n%s", d)
	}
	// Row 3 holds h0 alone: x1 is on row 1 already.
	if got := rowIDs(g.rows[2]); !slices.Equal(got, []string{id(`h0\n`)}) {
		t.Errorf("row 3 is %v, want h0 alone", got)
	}
	// The order of the patterns orders the row: the step gradients, built from the last step
	// back, in the order of time.
	d = b.Dot(graph.DotGradient(), graph.DotRow("dstep(rnn.step)", "dstep(rnn.step#2)", "dstep(rnn.step#3)"))
	g = parseDot(t, d)
	var grads []string
	for _, s := range g.ids("rnn_tanhStepGrad") {
		grads = append(grads, "n"+s)
	}
	slices.SortFunc(grads, func(a, b string) int { return len(a) - len(b) + boolInt(len(a) == len(b))*strings.Compare(a, b) })
	slices.Reverse(grads) // the gradient of the last step is added first
	if got := rowIDs(g.rows[0]); len(grads) != 3 || !slices.Equal(got, grads) {
		t.Errorf("the row of step gradients is %v, want %v", got, grads)
	}
	// Rows add no visible edge.
	if p, r := parseDot(t, b.Dot(graph.DotGradient())), g; len(p.edges) != len(r.edges) {
		t.Errorf("rows changed the edges: %d, without rows %d", len(g.edges), len(p.edges))
	}
}

func boolInt(b bool) int {
	if b {
		return 1
	}
	return 0
}
