// Package onnximport brings a network from an ONNX model into nas: it
// decodes the ModelProto (sizes bounded before anything is allocated),
// lowers its nodes to the primitive ops of a blocks.Graph (conv, batch
// norm, activations, pools, global pooling, linear, channel shuffle,
// channel slices, concat, add, channel multiply), and groups those ops
// into the block specs of a space.Arch whose own lowering is the same
// graph, so that the weights, renamed to the Arch's parameter names, load
// into the network nas builds from it.
//
// The Arch format is a sequence of block specs, not a free op graph, so the
// import is a search for that sequence: at each block boundary the importer
// proposes the specs the ops there suggest (an inverted residual, a Fire
// module, a ShuffleNet unit, a Ghost bottleneck, a conv-BN-activation
// unit, a pool, ...),
// lowers each with blocks.Builder and accepts one only if its ops match the
// model's op for op (kinds, attributes, how values flow, and no value read
// from outside the block), backtracking when a choice leads nowhere. A
// model exported with its batch norms folded into the convolutions gets
// them back as batch norms with identity statistics wherever the block
// family has one, so that training and NetAdapt see the usual blocks.
//
// What it does not do: run the model, import operators outside the set
// nas's blocks are made of (Supported lists them), or import a graph whose
// ops cannot be grouped into nas's block families; each of those is an
// error that names the ONNX node.
package onnximport
