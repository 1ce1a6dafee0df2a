package graph

import (
	"fmt"
	"sort"
	"strings"
	"testing"

	"gorgonia.org/gorgonia"
)

// dotWithoutOptions is Builder.Dot as it was before it took options, kept as the reference
// that Dot() with no options must still match byte for byte.
func dotWithoutOptions(b *Builder) string {
	nodes := b.g.AllNodes()
	sort.Slice(nodes, func(i, j int) bool { return nodes[i].ID() < nodes[j].ID() })
	var sb strings.Builder
	sb.WriteString("digraph unroll {\n  rankdir=BT;\n  node [shape=box, style=\"rounded,filled\", fillcolor=white, fontname=\"Helvetica\", fontsize=10];\n")
	for _, n := range nodes {
		label, color := nodeLabel(b, n)
		fmt.Fprintf(&sb, "  n%d [label=%q, fillcolor=%q];\n", n.ID(), label, color)
	}
	for _, n := range nodes {
		children := b.g.From(n.ID())
		for children != nil && children.Next() {
			fmt.Fprintf(&sb, "  n%d -> n%d;\n", children.Node().ID(), n.ID())
		}
	}
	sb.WriteString("}\n")
	return sb.String()
}

func TestDotWithoutOptionsUnchanged(t *testing.T) {
	ps := NewParams(Seed(1))
	if _, err := ps.Add("w", []int{3, 3}, nil); err != nil {
		t.Fatal(err)
	}
	if _, err := ps.AddBuffer("scale", []int{3}, nil); err != nil {
		t.Fatal(err)
	}
	b := NewBuilder(ps, Train)
	x, err := b.Input("x", 2, 3)
	if err != nil {
		t.Fatal(err)
	}
	w, err := b.Param("w")
	if err != nil {
		t.Fatal(err)
	}
	s, err := b.Buffer("scale")
	if err != nil {
		t.Fatal(err)
	}
	h := x
	for i := 0; i < 3; i++ { // a recurrence, with a node used twice by one op (the square)
		h = gorgonia.Must(gorgonia.Tanh(gorgonia.Must(gorgonia.Mul(h, w))))
		h = gorgonia.Must(gorgonia.Add(h, x))
	}
	h = gorgonia.Must(gorgonia.BroadcastHadamardProd(h, s, nil, []byte{0}))
	loss := gorgonia.Must(gorgonia.Mean(gorgonia.Must(gorgonia.HadamardProd(h, h))))
	if got, want := b.Dot(), dotWithoutOptions(b); got != want {
		t.Fatalf("Dot() of the forward graph changed:\n%s\nwant\n%s", got, want)
	}
	if _, err := NewTrainer(b, loss, nil); err != nil {
		t.Fatal(err)
	}
	got, want := b.Dot(), dotWithoutOptions(b)
	if got != want {
		t.Fatalf("Dot() of the graph with its gradient changed:\n%s\nwant\n%s", got, want)
	}
	if !strings.Contains(want, "->") || len(b.g.AllNodes()) < 30 {
		t.Fatalf("the reference graph is too small to test anything (%d nodes)", len(b.g.AllNodes()))
	}
	edges, repeated := map[string]bool{}, false // an op reading one node twice: its edge twice
	for _, line := range strings.Split(want, "\n") {
		if strings.Contains(line, "->") {
			repeated = repeated || edges[line]
			edges[line] = true
		}
	}
	if !repeated {
		t.Errorf("the reference graph has no repeated edge; the case Dot() must keep is not tested")
	}
	// The options leave the boxes' text alone: the same labels, only colours and rows added.
	if n := strings.Count(b.Dot(DotGradient()), "[label="); n != strings.Count(want, "[label=") {
		t.Errorf("DotGradient draws %d boxes, Dot() %d", n, strings.Count(want, "[label="))
	}
}
