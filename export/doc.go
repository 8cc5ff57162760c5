// Package export writes a network, lowered to a blocks.Graph, in the forms
// the rest of the world consumes: an ONNX model (opset 13, weights inside,
// dynamic batch, input "input", output "logits") encoded with
// google.golang.org/protobuf, and a self-contained PyTorch source file whose
// nn.Module has exactly the Graph's parameter and buffer names as its
// state_dict keys, with a reader for nas's safetensors checkpoints.
//
// The exporters work on primitive ops only, so every block family that
// lowers itself (blocks.Lowerer) exports without code here. Weights are a
// map from the Graph's parameter names to float32 data (Weights);
// RandomWeights makes seeded ones for a network that has not been trained.
//
// What export does not do: train, run or profile networks, or read arch
// strings (cmd/nas does that with space). Whether an exported file is
// right is checked by its consumers (onnx.checker, ONNX Runtime, PyTorch):
// see scripts/check-export.sh and docs/export.md.
package export
