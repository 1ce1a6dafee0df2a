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

// DotOption changes what Builder.Dot draws.
type DotOption func(*dotConfig)

type dotConfig struct {
	gradient bool
}

// DotGradient draws the backward pass of a graph compiled with a loss (NewTrainer): the nodes
// symbolic differentiation added are filled red, and an edge between two of them, the path a
// gradient travels from the loss back to a parameter or an earlier state, is red. An edge from
// a forward node into the backward pass (a gradient op reading a value of the forward pass) is
// grey and dashed. Backward nodes that no computed gradient needs, which the program never
// runs (the gradient of a fed input, say), are drawn with a dashed border. Before compiling,
// the graph has no backward pass and the option changes nothing.
func DotGradient() DotOption { return func(c *dotConfig) { c.gradient = true } }

// Dot writes the builder's graph in Graphviz's dot language: one box per node with its name,
// operation and shape; inputs and parameters are coloured. Render it with `dot -Tsvg`. Options
// draw the backward pass (DotGradient); without them every node is drawn the same way.
func (b *Builder) Dot(opts ...DotOption) string {
	var cfg dotConfig
	for _, o := range opts {
		if o != nil {
			o(&cfg)
		}
	}
	nodes := b.g.AllNodes()
	sort.Slice(nodes, func(i, j int) bool { return nodes[i].ID() < nodes[j].ID() })
	backward := func(n *gorgonia.Node) bool { return cfg.gradient && b.grads != nil && n.ID() >= b.gradFrom }
	var live map[int64]bool
	if cfg.gradient {
		live = b.liveBackward()
	}
	var sb strings.Builder
	sb.WriteString("digraph unroll {\n  rankdir=BT;\n  node [shape=box, style=\"rounded,filled\", fillcolor=white, fontname=\"Helvetica\", fontsize=10];\n")
	for _, n := range nodes {
		label, color := nodeLabel(b, n)
		switch {
		case backward(n) && live[n.ID()]:
			fmt.Fprintf(&sb, "  n%d [label=%q, fillcolor=%q, color=%q];\n", n.ID(), label, gradFill, gradColor)
		case backward(n):
			fmt.Fprintf(&sb, "  n%d [label=%q, fillcolor=%q, color=%q, style=\"rounded,filled,dashed\"];\n", n.ID(), label, gradFill, gradColor)
		default:
			fmt.Fprintf(&sb, "  n%d [label=%q, fillcolor=%q];\n", n.ID(), label, color)
		}
	}
	for _, n := range nodes {
		children := b.g.From(n.ID())
		for children != nil && children.Next() {
			c := children.Node().(*gorgonia.Node)
			switch {
			case backward(n) && backward(c):
				fmt.Fprintf(&sb, "  n%d -> n%d [color=%q, penwidth=1.5];\n", c.ID(), n.ID(), gradColor)
			case backward(n):
				fmt.Fprintf(&sb, "  n%d -> n%d [color=\"#b0b0b0\", style=dashed];\n", c.ID(), n.ID())
			default:
				fmt.Fprintf(&sb, "  n%d -> n%d;\n", c.ID(), n.ID())
			}
		}
	}
	sb.WriteString("}\n")
	return sb.String()
}

// The colours of the backward pass in Dot.
const (
	gradColor = "#d62728"
	gradFill  = "#f9d0d0"
)

// liveBackward returns the IDs of the backward nodes that the gradients the program computes
// depend on.
func (b *Builder) liveBackward() map[int64]bool {
	live := map[int64]bool{}
	stack := append([]*gorgonia.Node(nil), b.grads...)
	for len(stack) > 0 {
		n := stack[len(stack)-1]
		stack = stack[:len(stack)-1]
		if n == nil || n.ID() < b.gradFrom || live[n.ID()] {
			continue
		}
		live[n.ID()] = true
		children := b.g.From(n.ID())
		for children != nil && children.Next() {
			stack = append(stack, children.Node().(*gorgonia.Node))
		}
	}
	return live
}

// nextNodeID is the ID the next node added to g will have.
func nextNodeID(g *gorgonia.ExprGraph) int64 {
	var next int64
	for _, n := range g.AllNodes() {
		next = max(next, n.ID()+1)
	}
	return next
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
