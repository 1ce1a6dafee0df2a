package graph

import (
	"fmt"
	"slices"
	"strings"

	gonumgraph "gonum.org/v1/gonum/graph"
	"gorgonia.org/gorgonia"
)

// JointGradOp is implemented by an op whose nodes share some of their inputs and whose
// gradient with respect to them is best computed for all those nodes at once: every step of an
// unrolled recurrent cell multiplies by the same weights, and the weight gradient
// Σ_t dG_tᵀ x_t is one matrix product over the stacked steps, where Gorgonia would add up T
// weight-sized products one by one.
//
// The op's SymDiff still returns the true gradient of each input for its node, so a graph
// differentiated by gorgonia.Grad is right as it is. After gorgonia.Grad, compiling a
// gradient replaces the gradient of each parameter whose every differentiable consumer is a
// node of a JointGradOp sharing it (one group of nodes with the same shared inputs) by the
// node JointGrad returns; unroll's executor then never runs the per-node gradients.
type JointGradOp interface {
	// JointInputs reports which inputs of the op are shared among its nodes.
	JointInputs() []bool
	// JointGrad adds to the graph the gradients of the loss with respect to the shared inputs
	// of nodes, the nodes of one group in the order they were added to the graph, once their
	// graph is differentiated; it returns one node per shared input, in input order.
	JointGrad(nodes []*gorgonia.Node) ([]*gorgonia.Node, error)
}

// jointGradients replaces grads[i], Gorgonia's gradient of wrt[i], by a joint gradient (see
// JointGradOp) where every differentiable consumer of wrt[i] that was differentiated belongs to
// one group of a JointGradOp. Others keep Gorgonia's gradient.
func jointGradients(g *gorgonia.ExprGraph, wrt, grads []*gorgonia.Node) error {
	built := map[string][]*gorgonia.Node{} // joint gradients by group
	for i, p := range wrt {
		key, group, at, ok := jointGroupOf(g, p)
		if !ok {
			continue
		}
		jg, done := built[key]
		if !done {
			var err error
			op := group[0].Op().(JointGradOp)
			if jg, err = op.JointGrad(jointMembers(g, key)); err != nil {
				return fmt.Errorf("graph: joint gradient of %s: %w", p.Name(), err)
			}
			built[key] = jg
		}
		if at >= len(jg) || jg[at] == nil || !jg[at].Shape().Eq(p.Shape()) {
			return fmt.Errorf("graph: joint gradient of %s: no gradient of its shape %v", p.Name(), p.Shape())
		}
		grads[i] = jg[at]
	}
	return nil
}

// jointGroupOf returns the group whose nodes are all the differentiated consumers of p through
// a differentiable input, with the position of p among the group's shared inputs; ok is false
// when some such consumer is not a shared input of one same group.
func jointGroupOf(g *gorgonia.ExprGraph, p *gorgonia.Node) (key string, group []*gorgonia.Node, at int, ok bool) {
	at = -1
	for _, c := range parentsOf(g, p) {
		if c.Deriv() == nil {
			continue // not differentiated: it adds nothing to the gradient
		}
		children := childrenOf(g, c)
		sd, isSD := c.Op().(gorgonia.SDOp)
		jop, isJoint := c.Op().(JointGradOp)
		for j, ch := range children {
			if ch != p || !isSD || !sd.DiffWRT(len(children))[j] {
				continue
			}
			if !isJoint || !jop.JointInputs()[j] {
				return "", nil, 0, false
			}
			k, pos := jointKey(g, c, jop, j)
			if (key != "" && k != key) || (at >= 0 && pos != at) {
				return "", nil, 0, false
			}
			key, at = k, pos
			group = append(group, c)
		}
	}
	return key, group, at, len(group) > 0
}

// jointKey names the group of node c, an op of type jop: the op's type and the nodes of its
// shared inputs; pos is the position of input j among them.
func jointKey(g *gorgonia.ExprGraph, c *gorgonia.Node, jop JointGradOp, j int) (key string, pos int) {
	var b strings.Builder
	fmt.Fprintf(&b, "%T", jop)
	pos = -1
	shared := jop.JointInputs()
	for i, ch := range childrenOf(g, c) {
		if i < len(shared) && shared[i] {
			if i == j {
				pos = strings.Count(b.String(), "|")
			}
			fmt.Fprintf(&b, "|%d", ch.ID())
		}
	}
	return b.String(), pos
}

// jointMembers lists the differentiated nodes of the group key in the order they were added.
func jointMembers(g *gorgonia.ExprGraph, key string) []*gorgonia.Node {
	var out []*gorgonia.Node
	for _, n := range g.AllNodes() {
		jop, ok := n.Op().(JointGradOp)
		if !ok || n.Deriv() == nil {
			continue
		}
		shared := jop.JointInputs()
		for j := range shared {
			if shared[j] {
				if k, _ := jointKey(g, n, jop, j); k == key {
					out = append(out, n)
				}
				break
			}
		}
	}
	slices.SortFunc(out, func(a, b *gorgonia.Node) int { return int(a.ID() - b.ID()) })
	return out
}

// childrenOf lists the inputs of n's op, in order.
func childrenOf(g *gorgonia.ExprGraph, n *gorgonia.Node) []*gorgonia.Node {
	return nodesOf(g.From(n.ID()))
}

// parentsOf lists the nodes that take n as an input.
func parentsOf(g *gorgonia.ExprGraph, n *gorgonia.Node) []*gorgonia.Node {
	return nodesOf(g.To(n.ID()))
}

func nodesOf(it gonumgraph.Nodes) []*gorgonia.Node {
	var out []*gorgonia.Node
	for it != nil && it.Next() {
		out = append(out, it.Node().(*gorgonia.Node))
	}
	return out
}
