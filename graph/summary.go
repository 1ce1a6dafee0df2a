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
	hide     []string
	rows     [][]string
}

// DotGradient draws the backward pass of a graph compiled with a loss (NewTrainer): the nodes
// symbolic differentiation added are filled red, and an edge between two of them, the path a
// gradient travels from the loss back to a parameter or an earlier state, is red. An edge from
// a forward node into the backward pass (a gradient op reading a value of the forward pass) is
// grey and dashed. Backward nodes that no computed gradient needs, which the program never
// runs (the gradient of a fed input, say), are drawn with a dashed border. Before compiling,
// the graph has no backward pass and the option changes nothing.
func DotGradient() DotOption { return func(c *dotConfig) { c.gradient = true } }

// DotHide leaves out the nodes whose name (Gorgonia's node name: a parameter's or an input's
// name, or what a layer named its operation) matches one of the patterns, in which * stands for
// any run of characters and every other character for itself. Edges go through a hidden node:
// when a feeds h and h feeds c, with h hidden, the drawing has an edge from a to c.
func DotHide(patterns ...string) DotOption {
	return func(c *dotConfig) { c.hide = append(c.hide, patterns...) }
}

// DotRow draws the nodes whose name matches one of the patterns (as in DotHide) side by side
// on one row, left to right in the order of the patterns, and those one pattern matches in the
// order they were added to the graph: the time steps of an unrolled network (DotRow("x*") for
// its inputs x1, x2, ...) read along the row as along time. The backward pass is built from
// the last step back, so its row names each step: DotRow("dstep(s)", "dstep(s#2)"). Each
// DotRow is a row of its own; a node matching several rows goes on the first.
func DotRow(patterns ...string) DotOption {
	return func(c *dotConfig) { c.rows = append(c.rows, patterns) }
}

// Dot writes the builder's graph in Graphviz's dot language: one box per node with its name,
// operation and shape; inputs and parameters are coloured. Render it with `dot -Tsvg`. Options
// draw the backward pass (DotGradient), leave nodes out (DotHide) and put nodes on a row
// (DotRow); without them every node is drawn the same way, laid out by Graphviz.
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
	hidden := func(n *gorgonia.Node) bool { return matchAny(cfg.hide, n.Name()) }
	var sb strings.Builder
	sb.WriteString("digraph unroll {\n  rankdir=BT;\n  node [shape=box, style=\"rounded,filled\", fillcolor=white, fontname=\"Helvetica\", fontsize=10];\n")
	for _, n := range nodes {
		if hidden(n) {
			continue
		}
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
		if hidden(n) {
			continue
		}
		for _, c := range b.visibleInputs(n, hidden) {
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
	placed := map[int64]bool{}
	for _, row := range cfg.rows {
		var ids []string
		for _, p := range row {
			for _, n := range nodes {
				if !hidden(n) && !placed[n.ID()] && matchStar(p, n.Name()) {
					placed[n.ID()] = true
					ids = append(ids, fmt.Sprintf("n%d", n.ID()))
				}
			}
		}
		if len(ids) == 0 {
			continue
		}
		// Invisible edges between neighbours keep the row in order.
		fmt.Fprintf(&sb, "  { rank=same; %s; }\n", strings.Join(ids, "; "))
		if len(ids) > 1 {
			fmt.Fprintf(&sb, "  %s [style=invis];\n", strings.Join(ids, " -> "))
		}
	}
	sb.WriteString("}\n")
	return sb.String()
}

// visibleInputs returns the inputs of n as Dot draws its edges: its visible arguments, in
// the order and as many times as Gorgonia's graph lists them (as Dot always has), then, for its
// hidden arguments, their own visible inputs found through any number of hidden nodes, each
// once and only when not already listed.
func (b *Builder) visibleInputs(n *gorgonia.Node, hidden func(*gorgonia.Node) bool) []*gorgonia.Node {
	var out, through []*gorgonia.Node
	listed := map[int64]bool{}
	children := b.g.From(n.ID())
	for children != nil && children.Next() {
		c := children.Node().(*gorgonia.Node)
		if hidden(c) {
			through = append(through, c)
		} else {
			out = append(out, c)
			listed[c.ID()] = true
		}
	}
	expanded := map[int64]bool{}
	for len(through) > 0 {
		h := through[0]
		through = through[1:]
		if expanded[h.ID()] {
			continue
		}
		expanded[h.ID()] = true
		cs := b.g.From(h.ID())
		for cs != nil && cs.Next() {
			c := cs.Node().(*gorgonia.Node)
			switch {
			case hidden(c):
				through = append(through, c)
			case !listed[c.ID()]:
				out = append(out, c)
				listed[c.ID()] = true
			}
		}
	}
	return out
}

// matchAny reports whether name matches one of the patterns, in which * stands for any run of
// characters.
func matchAny(patterns []string, name string) bool {
	for _, p := range patterns {
		if matchStar(p, name) {
			return true
		}
	}
	return false
}

// matchStar matches name against pattern, in which * stands for any run of characters and
// every other character for itself.
func matchStar(pattern, name string) bool {
	parts := strings.Split(pattern, "*")
	if len(parts) == 1 {
		return pattern == name
	}
	if !strings.HasPrefix(name, parts[0]) {
		return false
	}
	name = name[len(parts[0]):]
	last := parts[len(parts)-1]
	for _, p := range parts[1 : len(parts)-1] {
		i := strings.Index(name, p)
		if i < 0 {
			return false
		}
		name = name[i+len(p):]
	}
	return len(name) >= len(last) && strings.HasSuffix(name, last)
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
