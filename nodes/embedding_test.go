package nodes_test

import (
	"strings"
	"testing"

	"gorgonia.org/gorgonia"
	"gorgonia.org/tensor"

	"github.com/unroll-ml/unroll/graph"
	"github.com/unroll-ml/unroll/nodes"
)

// The lookup returns the ids' rows, and its gradient (a scatter-add, exercised by repeated
// ids) passes the finite-difference check.
func TestEmbedding(t *testing.T) {
	ps := graph.NewParams(graph.Seed(3), graph.Dtype(tensor.Float64))
	emb, err := nodes.NewEmbedding(ps, "emb", 6, 3)
	if err != nil {
		t.Fatal(err)
	}
	ids := []float64{4, 0, 4, 5, 2, 4} // (2, 3), id 4 three times, ids 1 and 3 never
	feeds := graph.Feeds{"ids": graph.NewTensor(tensor.Float64, []int{2, 3}, ids)}
	build := func(b *graph.Builder) (*gorgonia.Node, error) {
		x, err := b.Input("ids", 2, 3)
		if err != nil {
			return nil, err
		}
		return emb.Forward(b, x) // (2, 3, 3)
	}

	b := graph.NewBuilder(ps, graph.Eval)
	y, err := build(b)
	if err != nil {
		t.Fatal(err)
	}
	if !y.Shape().Eq(tensor.Shape{2, 3, 3}) {
		t.Fatalf("shape %v", y.Shape())
	}
	prog, err := graph.Compile(b, map[string]*gorgonia.Node{"y": y})
	if err != nil {
		t.Fatal(err)
	}
	out, err := prog.Run(feeds)
	if err != nil {
		t.Fatal(err)
	}
	w := graph.Float64s(ps.Value("emb.weight"))
	got := graph.Float64s(out["y"])
	for p, id := range ids {
		for j := 0; j < 3; j++ {
			if got[p*3+j] != w[int(id)*3+j] {
				t.Fatalf("position %d: got %v, want row %v", p, got[p*3:p*3+3], w[int(id)*3:int(id)*3+3])
			}
		}
	}

	rep, err := graph.GradCheck(ps, build, feeds, graph.MaxPerTensor(0))
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("%d elements, worst %v", rep.Checked, rep.Worst)

	for _, bad := range []struct {
		id   float64
		want string
	}{{6, "emb: id 6 at position 2 is not a whole number in [0, 6)"}, {-1, "id -1 at position 2"}, {1.5, "id 1.5 at position 2"}} {
		v := append([]float64{}, ids...)
		v[2] = bad.id
		_, err := prog.Run(graph.Feeds{"ids": graph.NewTensor(tensor.Float64, []int{2, 3}, v)})
		if err == nil || !strings.Contains(err.Error(), bad.want) {
			t.Errorf("id %v: got error %v, want %q", bad.id, err, bad.want)
		}
	}
}

func TestEmbeddingErrors(t *testing.T) {
	ps := graph.NewParams()
	if _, err := nodes.NewEmbedding(ps, "emb", 0, 3); err == nil || err.Error() != "emb: embedding sizes must be positive, got vocabulary 0, dimension 3" {
		t.Errorf("sizes: %v", err)
	}
	emb, err := nodes.NewEmbedding(ps, "emb", 5, 3)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := nodes.NewEmbedding(ps, "emb", 5, 3); err == nil || !strings.Contains(err.Error(), `"emb.weight" already exists`) {
		t.Errorf("duplicate: %v", err)
	}
	b := graph.NewBuilder(ps, graph.Eval)
	if _, err := emb.Forward(b, nil); err == nil || err.Error() != "emb: nil builder or input" {
		t.Errorf("nil: %v", err)
	}
}
