package onnx

import (
	"encoding/binary"
	"fmt"
	"math"
	"strings"

	"google.golang.org/protobuf/proto"
	"gorgonia.org/tensor"

	"github.com/unroll-ml/unroll/nodes"
	"github.com/unroll-ml/unroll/onnx/internal/onnxpb"
)

// elemType is ONNX's element type for a value of dtype.
func elemType(dt tensor.Dtype) (onnxpb.TensorProto_DataType, error) {
	switch dt {
	case tensor.Float32:
		return onnxpb.TensorProto_FLOAT, nil
	case tensor.Int64:
		return onnxpb.TensorProto_INT64, nil
	}
	return 0, fmt.Errorf("element type %v: only float32 and int64 values are written", dt)
}

// valueInfo describes a graph input or output: element type and shape, the batch axis
// (nodes.ONNXBatch) as the named dimension "batch" and the time axis (nodes.ONNXSteps) as
// "steps".
func valueInfo(v nodes.ONNXValue) (*onnxpb.ValueInfoProto, error) {
	et, err := elemType(v.Dtype)
	if err != nil {
		return nil, err
	}
	shape := &onnxpb.TensorShapeProto{}
	for _, d := range v.Shape {
		dim := &onnxpb.TensorShapeProto_Dimension{}
		switch {
		case d == nodes.ONNXBatch:
			dim.Value = &onnxpb.TensorShapeProto_Dimension_DimParam{DimParam: batchParam}
		case d == nodes.ONNXSteps:
			dim.Value = &onnxpb.TensorShapeProto_Dimension_DimParam{DimParam: stepsParam}
		case d > 0:
			dim.Value = &onnxpb.TensorShapeProto_Dimension_DimValue{DimValue: int64(d)}
		default:
			return nil, fmt.Errorf("shape %v: sizes must be positive, or nodes.ONNXBatch for the batch axis, nodes.ONNXSteps for the time axis", v.Shape)
		}
		shape.Dim = append(shape.Dim, dim)
	}
	return &onnxpb.ValueInfoProto{
		Name: proto.String(v.Name),
		Type: &onnxpb.TypeProto{Value: &onnxpb.TypeProto_TensorType{TensorType: &onnxpb.TypeProto_Tensor{
			ElemType: proto.Int32(int32(et)),
			Shape:    shape,
		}}},
	}, nil
}

// typeString formats a tensor type as "float32 (batch, 1, 28, 28)".
func typeString(t *onnxpb.TypeProto) string {
	tt := t.GetTensorType()
	dims := make([]string, len(tt.GetShape().GetDim()))
	for i, d := range tt.GetShape().GetDim() {
		if p := d.GetDimParam(); p != "" {
			dims[i] = p
		} else {
			dims[i] = fmt.Sprint(d.GetDimValue())
		}
	}
	name := strings.ToLower(onnxpb.TensorProto_DataType(tt.GetElemType()).String())
	if name == "float" {
		name = "float32"
	}
	return fmt.Sprintf("%s (%s)", name, strings.Join(dims, ", "))
}

// tensorProto converts t to an initializer's message, little-endian raw data: float32 and
// float64 values as float32 (each must be finite), int64 values as int64.
func tensorProto(t *tensor.Dense) (*onnxpb.TensorProto, error) {
	if t == nil {
		return nil, fmt.Errorf("nil tensor")
	}
	tp := &onnxpb.TensorProto{}
	for _, d := range t.Shape() {
		tp.Dims = append(tp.Dims, int64(d))
	}
	switch data := t.Data().(type) {
	case []float32:
		return floatTensor(tp, len(data), func(i int) float64 { return float64(data[i]) })
	case []float64:
		return floatTensor(tp, len(data), func(i int) float64 { return data[i] })
	case float32:
		return floatTensor(tp, 1, func(int) float64 { return float64(data) })
	case float64:
		return floatTensor(tp, 1, func(int) float64 { return data })
	case []int64:
		tp.DataType = proto.Int32(int32(onnxpb.TensorProto_INT64))
		tp.RawData = make([]byte, 8*len(data))
		for i, v := range data {
			binary.LittleEndian.PutUint64(tp.RawData[8*i:], uint64(v))
		}
		return tp, nil
	}
	return nil, fmt.Errorf("tensor of %v: only float32, float64 and int64 values are written", t.Dtype())
}

func floatTensor(tp *onnxpb.TensorProto, n int, at func(int) float64) (*onnxpb.TensorProto, error) {
	tp.DataType = proto.Int32(int32(onnxpb.TensorProto_FLOAT))
	tp.RawData = make([]byte, 4*n)
	for i := 0; i < n; i++ {
		v := at(i)
		if math.IsNaN(v) || math.IsInf(v, 0) || math.Abs(v) > math.MaxFloat32 {
			return nil, fmt.Errorf("element %d is %v, not a finite float32", i, v)
		}
		binary.LittleEndian.PutUint32(tp.RawData[4*i:], math.Float32bits(float32(v)))
	}
	return tp, nil
}

// attrProto converts an attribute: ints, floats, strings and slices of them.
func attrProto(a nodes.ONNXAttr) (*onnxpb.AttributeProto, error) {
	if a.Name == "" {
		return nil, fmt.Errorf("attribute with an empty name")
	}
	p := &onnxpb.AttributeProto{Name: proto.String(a.Name)}
	typ := onnxpb.AttributeProto_UNDEFINED
	switch v := a.Value.(type) {
	case int:
		typ, p.I = onnxpb.AttributeProto_INT, proto.Int64(int64(v))
	case int64:
		typ, p.I = onnxpb.AttributeProto_INT, proto.Int64(v)
	case float32:
		typ, p.F = onnxpb.AttributeProto_FLOAT, proto.Float32(v)
	case float64:
		typ, p.F = onnxpb.AttributeProto_FLOAT, proto.Float32(float32(v))
	case string:
		typ, p.S = onnxpb.AttributeProto_STRING, []byte(v)
	case []int:
		typ = onnxpb.AttributeProto_INTS
		for _, x := range v {
			p.Ints = append(p.Ints, int64(x))
		}
	case []int64:
		typ, p.Ints = onnxpb.AttributeProto_INTS, append([]int64(nil), v...)
	case []float32:
		typ, p.Floats = onnxpb.AttributeProto_FLOATS, append([]float32(nil), v...)
	case []float64:
		typ = onnxpb.AttributeProto_FLOATS
		for _, x := range v {
			p.Floats = append(p.Floats, float32(x))
		}
	case []string:
		typ = onnxpb.AttributeProto_STRINGS
		for _, x := range v {
			p.Strings = append(p.Strings, []byte(x))
		}
	default:
		return nil, fmt.Errorf("attribute %s: values of type %T are not written", a.Name, a.Value)
	}
	p.Type = typ.Enum()
	return p, nil
}
