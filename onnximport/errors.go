package onnximport

import (
	"fmt"
	"strings"
)

// Supported lists the ONNX operators the importer lowers, with the forms it
// accepts.
var Supported = []string{
	"Conv (2-D, grouped and depthwise, with or without bias, symmetric padding)",
	"BatchNormalization (inference form)",
	"Relu", "Clip (0..6, ReLU6)", "HardSigmoid (alpha 1/6, beta 1/2)", "HardSwish",
	"Sigmoid", "Mul (x*sigmoid(x), x*hardsigmoid(x), squeeze-and-excitation gate)",
	"Add (residual sum; bias after MatMul)", "Concat (channels)",
	"Reshape-Transpose-Reshape (channel shuffle)", "Split and Slice (channels)",
	"MaxPool", "AveragePool", "GlobalAveragePool", "ReduceMean (over H and W)",
	"Gemm", "MatMul", "Flatten and Reshape (to N x features)", "Dropout", "Identity",
	"Constant, Shape and integer shape arithmetic (Gather, Unsqueeze, Squeeze, Concat, Add, Sub, Mul, Div, Cast, Slice)",
}

// NodeError is a node the importer cannot lower: its name, its operator
// and why.
type NodeError struct {
	Node string // the node's name, or "#i" for an unnamed node i
	Op   string
	Msg  string
}

func (e *NodeError) Error() string {
	return fmt.Sprintf("node %s (%s): %s", e.Node, e.Op, e.Msg)
}

// UnsupportedError is a node whose operator nas's blocks do not cover.
type UnsupportedError struct {
	Node string
	Op   string
}

func (e *UnsupportedError) Error() string {
	return fmt.Sprintf("node %s: operator %s is not supported; nas imports networks made of %s", e.Node, e.Op, strings.Join(Supported, "; "))
}

// GroupError is a part of the graph whose supported ops do not form any
// of nas's block families at that point of the network.
type GroupError struct {
	Node   string // the first node that no block could take
	Op     string
	Layer  int // the index the next layer would have had
	Detail string
}

func (e *GroupError) Error() string {
	return fmt.Sprintf("node %s (%s): no nas block matches the network from here (layer %d would start here): %s; "+
		"nas imports sequences of its block families (conv-BN-activation units, inverted residuals with optional SE, "+
		"Fire modules, ShuffleNet V1/V2 units, Ghost bottlenecks, SqueezeNext blocks, depthwise-separable convs, "+
		"pools, global pooling, linear layers)",
		e.Node, e.Op, e.Layer, e.Detail)
}
