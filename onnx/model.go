package onnx

import (
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"strings"

	"google.golang.org/protobuf/proto"
	"gorgonia.org/tensor"

	"github.com/unroll-ml/unroll/graph"
	"github.com/unroll-ml/unroll/nodes"
	"github.com/unroll-ml/unroll/onnx/internal/onnxpb"
)

const (
	// Opset is the version of ONNX's default operator set the files use unless
	// Model.SetOpset or the option OpsetVersion asks for another.
	Opset = 17
	// MinOpset is the oldest operator set version a file can be written for: every operator
	// the layers write has the same form from opset 13 to 17.
	MinOpset = 13
	// Producer is the producer name written into every file.
	Producer = "unroll"
	// batchParam and stepsParam name the dynamic batch and time axes in the files.
	batchParam = "batch"
	stepsParam = "steps"
)

// irVersion is ONNX's IR version that goes with operator set version opset: 7 (ONNX 1.8 and
// 1.9) for opsets 13 and 14, 8 (ONNX 1.10 to 1.12) for 15 to 17.
func irVersion(opset int) int64 {
	if opset <= 14 {
		return 7
	}
	return 8
}

// Model is an ONNX model being written: a graph of nodes over named values, the model's
// parameters as initializers, inputs with a dynamic batch axis and named outputs. It
// implements nodes.ONNXGraph, through which layers write themselves. Build it with NewModel;
// a Model is not safe for concurrent use.
type Model struct {
	ps      *graph.Params
	g       *onnxpb.GraphProto
	values  map[string]bool   // every value name: inputs, initializers, node outputs
	nodes   map[string]bool   // node names
	params  map[string]string // parameter name -> initializer name
	outputs map[string]bool
	opset   int
	meta    []*onnxpb.StringStringEntryProto
}

var _ nodes.ONNXModelGraph = (*Model)(nil)

// NewModel starts a model named name whose parameters and buffers are read from ps (nil for a
// model without parameters).
func NewModel(ps *graph.Params, name string) *Model {
	if name == "" {
		name = "model"
	}
	return &Model{
		ps:      ps,
		g:       &onnxpb.GraphProto{Name: proto.String(name)},
		values:  map[string]bool{},
		nodes:   map[string]bool{},
		params:  map[string]string{},
		outputs: map[string]bool{},
		opset:   Opset,
	}
}

// SetOpset makes the file use version v of ONNX's default operator set, from MinOpset (13)
// to Opset (17, the default).
func (m *Model) SetOpset(v int) error {
	if v < MinOpset || v > Opset {
		return fmt.Errorf("onnx model %s: opset %d: need %d to %d", m.g.GetName(), v, MinOpset, Opset)
	}
	m.opset = v
	return nil
}

// SetMetadata records key and its value in the file's metadata (metadata_props), replacing an
// earlier value of the same key. ONNX Runtime's Python API reads it back with
// session.get_modelmeta().custom_metadata_map.
func (m *Model) SetMetadata(key, value string) {
	for _, e := range m.meta {
		if e.GetKey() == key {
			e.Value = proto.String(value)
			return
		}
	}
	m.meta = append(m.meta, &onnxpb.StringStringEntryProto{Key: proto.String(key), Value: proto.String(value)})
}

// fresh returns base, or base_2, base_3, ... if base is taken, and takes it.
func fresh(used map[string]bool, base string) string {
	name := base
	for i := 2; used[name]; i++ {
		name = fmt.Sprintf("%s_%d", base, i)
	}
	used[name] = true
	return name
}

// Input declares a graph input called name of element type dtype (tensor.Float32, or
// tensor.Int64 for ids) and shape shape, where nodes.ONNXBatch marks the dynamic batch axis
// and nodes.ONNXSteps the dynamic time axis of a sequence.
func (m *Model) Input(name string, dtype tensor.Dtype, shape ...int) (nodes.ONNXValue, error) {
	if name == "" {
		return nodes.ONNXValue{}, fmt.Errorf("onnx input: empty name")
	}
	if m.values[name] {
		return nodes.ONNXValue{}, fmt.Errorf("onnx input %s: the name is taken", name)
	}
	v := nodes.ONNXValue{Name: name, Dtype: dtype, Shape: append([]int(nil), shape...)}
	info, err := valueInfo(v)
	if err != nil {
		return nodes.ONNXValue{}, fmt.Errorf("onnx input %s: %w", name, err)
	}
	m.values[name] = true
	m.g.Input = append(m.g.Input, info)
	return v, nil
}

// Output declares v a graph output called name (v's own name when name is empty), through an
// Identity node when the names differ.
func (m *Model) Output(name string, v nodes.ONNXValue) error {
	if !m.values[v.Name] {
		return fmt.Errorf("onnx output %s: no value called %q in the graph", name, v.Name)
	}
	if name == "" {
		name = v.Name
	}
	if m.outputs[name] {
		return fmt.Errorf("onnx output %s: declared twice", name)
	}
	if name != v.Name {
		if m.values[name] {
			return fmt.Errorf("onnx output %s: the name is taken by another value", name)
		}
		m.values[name] = true
		m.addNode("Identity", []string{v.Name}, []string{name}, nil)
		v.Name = name
	}
	info, err := valueInfo(v)
	if err != nil {
		return fmt.Errorf("onnx output %s: %w", name, err)
	}
	m.outputs[name] = true
	m.g.Output = append(m.g.Output, info)
	return nil
}

// ParamValue returns the value of the model's parameter or buffer called name.
func (m *Model) ParamValue(name string) (*tensor.Dense, error) {
	if m.ps == nil {
		return nil, fmt.Errorf("parameter %s: the model has no parameters", name)
	}
	v := m.ps.Value(name)
	if v == nil {
		return nil, fmt.Errorf("no parameter or buffer called %s", name)
	}
	return v, nil
}

// Param adds the model's parameter or buffer called name as an initializer, once, and returns
// its name in the graph.
func (m *Model) Param(name string) (string, error) {
	if n, ok := m.params[name]; ok {
		return n, nil
	}
	v, err := m.ParamValue(name)
	if err != nil {
		return "", err
	}
	n, err := m.Constant(name, v)
	if err != nil {
		return "", err
	}
	m.params[name] = n
	return n, nil
}

// Constant adds t as an initializer with a fresh name made from name and returns that name.
// float32 and float64 values are written as float32 and must be finite; int64 values as
// int64.
func (m *Model) Constant(name string, t *tensor.Dense) (string, error) {
	if name == "" {
		return "", fmt.Errorf("onnx constant: empty name")
	}
	tp, err := tensorProto(t)
	if err != nil {
		return "", fmt.Errorf("%s: %w", name, err)
	}
	n := fresh(m.values, name)
	tp.Name = proto.String(n)
	m.g.Initializer = append(m.g.Initializer, tp)
	return n, nil
}

// Node adds a node applying the ONNX operator opType to inputs ("" leaves an optional input
// out) and returns the names of its outputs, fresh names made from outputs. Every input must
// be a value of the graph already.
func (m *Model) Node(opType string, inputs, outputs []string, attrs ...nodes.ONNXAttr) ([]string, error) {
	if opType == "" || len(outputs) == 0 {
		return nil, fmt.Errorf("onnx node %q: needs an operator and at least one output", opType)
	}
	for _, in := range inputs {
		if in != "" && !m.values[in] {
			return nil, fmt.Errorf("%s node %s: input %q is not a value of the graph", opType, outputs[0], in)
		}
	}
	ap := make([]*onnxpb.AttributeProto, len(attrs))
	for i, a := range attrs {
		var err error
		if ap[i], err = attrProto(a); err != nil {
			return nil, fmt.Errorf("%s node %s: %w", opType, outputs[0], err)
		}
	}
	outs := make([]string, len(outputs))
	for i, o := range outputs {
		if o == "" {
			return nil, fmt.Errorf("%s node %s: output %d has an empty name", opType, outputs[0], i)
		}
		outs[i] = fresh(m.values, o)
	}
	m.addNode(opType, inputs, outs, ap)
	return outs, nil
}

func (m *Model) addNode(opType string, inputs, outputs []string, attrs []*onnxpb.AttributeProto) {
	m.g.Node = append(m.g.Node, &onnxpb.NodeProto{
		Name:      proto.String(fresh(m.nodes, outputs[0])),
		OpType:    proto.String(opType),
		Input:     append([]string(nil), inputs...),
		Output:    outputs,
		Attribute: attrs,
	})
}

// Layer writes l reading x and returns its output. l must implement nodes.Exporter; a layer
// that does not is an error naming it.
func (m *Model) Layer(l nodes.Layer, x nodes.ONNXValue) (nodes.ONNXValue, error) {
	if l == nil {
		return nodes.ONNXValue{}, fmt.Errorf("onnx: nil layer")
	}
	if v := reflect.ValueOf(l); (v.Kind() == reflect.Pointer || v.Kind() == reflect.Func) && v.IsNil() {
		return nodes.ONNXValue{}, fmt.Errorf("onnx: nil %T layer", l)
	}
	e, ok := l.(nodes.Exporter)
	if !ok {
		return nodes.ONNXValue{}, fmt.Errorf("%s: no ONNX export rule: %T does not implement nodes.Exporter", layerName(l), l)
	}
	return e.ExportONNX(m, x)
}

// Layers writes ls in order, each reading the previous one's output, and returns the last
// output.
func (m *Model) Layers(x nodes.ONNXValue, ls ...nodes.Layer) (nodes.ONNXValue, error) {
	for i, l := range ls {
		var err error
		if x, err = m.Layer(l, x); err != nil {
			return nodes.ONNXValue{}, fmt.Errorf("layer %d: %w", i, err)
		}
	}
	return x, nil
}

// layerName is the layer's Name, or its type when it has none.
func layerName(l nodes.Layer) string {
	if n, ok := l.(interface{ Name() string }); ok && n.Name() != "" {
		return n.Name()
	}
	return fmt.Sprintf("layer %T", l)
}

// proto assembles the model message.
func (m *Model) proto() (*onnxpb.ModelProto, error) {
	if len(m.g.Output) == 0 {
		return nil, fmt.Errorf("onnx model %s: no outputs declared", m.g.GetName())
	}
	return &onnxpb.ModelProto{
		IrVersion:     proto.Int64(irVersion(m.opset)),
		ProducerName:  proto.String(Producer),
		OpsetImport:   []*onnxpb.OperatorSetIdProto{{Domain: proto.String(""), Version: proto.Int64(int64(m.opset))}},
		Graph:         m.g,
		MetadataProps: m.meta,
	}, nil
}

// Marshal returns the model as the bytes of an ONNX file (the same bytes for the same model).
func (m *Model) Marshal() ([]byte, error) {
	mp, err := m.proto()
	if err != nil {
		return nil, err
	}
	b, err := proto.MarshalOptions{Deterministic: true}.Marshal(mp)
	if err != nil {
		return nil, fmt.Errorf("onnx model %s: %w", m.g.GetName(), err)
	}
	return b, nil
}

// Save writes the model to the file path atomically: to a temporary file beside it, synced,
// then renamed over path, so a crash leaves the old file or the new one, never part of one.
func (m *Model) Save(path string) error {
	b, err := m.Marshal()
	if err != nil {
		return err
	}
	if err := writeAtomic(path, b); err != nil {
		return fmt.Errorf("onnx: %w", err)
	}
	return nil
}

func writeAtomic(path string, data []byte) (err error) {
	dir := filepath.Dir(path)
	f, err := os.CreateTemp(dir, "."+filepath.Base(path)+".tmp*")
	if err != nil {
		return err
	}
	defer func() {
		if err != nil {
			f.Close()
			os.Remove(f.Name())
		}
	}()
	if _, err = f.Write(data); err != nil {
		return err
	}
	if err = f.Sync(); err != nil {
		return err
	}
	if err = f.Close(); err != nil {
		return err
	}
	if err = os.Rename(f.Name(), path); err != nil {
		return err
	}
	if d, derr := os.Open(dir); derr == nil {
		_ = d.Sync() // the rename itself durable where the platform allows
		d.Close()
	}
	return nil
}

// String lists the model: its inputs, one line per node (operator, inputs, outputs) and its
// outputs.
func (m *Model) String() string {
	var sb strings.Builder
	for _, in := range m.g.Input {
		fmt.Fprintf(&sb, "input %s %s\n", in.GetName(), typeString(in.GetType()))
	}
	for _, n := range m.g.Node {
		fmt.Fprintf(&sb, "%s(%s) -> %s\n", n.GetOpType(), strings.Join(n.GetInput(), ", "), strings.Join(n.GetOutput(), ", "))
	}
	for _, out := range m.g.Output {
		fmt.Fprintf(&sb, "output %s %s\n", out.GetName(), typeString(out.GetType()))
	}
	return sb.String()
}
