package graph

import (
	"fmt"
	"sort"
	"strings"
	"text/tabwriter"

	"gorgonia.org/gorgonia"
)

// Summary lists every parameter and buffer with its kind, shape and number of values, then the
// totals, like Keras's model.summary().
func (p *Params) Summary() string {
	var sb strings.Builder
	w := tabwriter.NewWriter(&sb, 0, 0, 2, ' ', 0)
	fmt.Fprintln(w, "name\tkind\tshape\tvalues")
	var np, nb, vp, vb int
	for _, e := range p.Entries() {
		kind := "param"
		n := e.Value.Shape().TotalSize()
		if e.Trainable {
			np++
			vp += n
		} else {
			kind = "buffer"
			nb++
			vb += n
		}
		fmt.Fprintf(w, "%s\t%s\t%v\t%s\n", e.Name, kind, e.Value.Shape(), thousands(n))
	}
	w.Flush()
	fmt.Fprintf(&sb, "total: %d parameters (%s values), %d buffers (%s values), %v\n", np, thousands(vp), nb, thousands(vb), p.dtype)
	return sb.String()
}

// thousands formats n with comma separators: 1234567 -> "1,234,567".
func thousands(n int) string {
	s := fmt.Sprint(n)
	if n < 0 {
		return "-" + thousands(-n)
	}
	for i := len(s) - 3; i > 0; i -= 3 {
		s = s[:i] + "," + s[i:]
	}
	return s
}

// Dot writes the builder's graph in Graphviz's dot language: one box per node with its name,
// operation and shape; inputs and parameters are coloured. Render it with `dot -Tsvg`.
func (b *Builder) Dot() string {
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

func nodeLabel(b *Builder, n *gorgonia.Node) (label, color string) {
	shape := fmt.Sprint(n.Shape())
	if n.Op() == nil {
		if e := b.ps.Get(n.Name()); e != nil {
			if e.Trainable {
				return n.Name() + "\n" + shape, "#fde2b8"
			}
			return n.Name() + "\n" + shape, "#e0e0e0"
		}
		return n.Name() + "\n" + shape, "#cfe3f7"
	}
	return fmt.Sprintf("%s\n%s", n.Op(), shape), "white"
}
