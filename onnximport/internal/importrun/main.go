// Command importrun runs a network that `nas import` wrote (arch JSON and
// safetensors weights) on the input of a scripts/check-import.sh case, with
// nas's executor in eval mode, and writes the logits next to it, for
// check_import.py to compare with ONNX Runtime's.
//
//	go run ./onnximport/internal/importrun ARCH.json WEIGHTS.safetensors INPUT.safetensors OUT.safetensors
package main

import (
	"fmt"
	"math/rand/v2"
	"os"

	"nas/blocks"
	"nas/blocks/nn"
	"nas/internal/safetensors"
	"nas/space"
)

func main() {
	if len(os.Args) != 5 {
		fmt.Fprintln(os.Stderr, "usage: importrun ARCH.json WEIGHTS.safetensors INPUT.safetensors OUT.safetensors")
		os.Exit(2)
	}
	if err := run(os.Args[1], os.Args[2], os.Args[3], os.Args[4]); err != nil {
		fmt.Fprintln(os.Stderr, "importrun:", err)
		os.Exit(1)
	}
}

func run(archPath, weightsPath, inputPath, outPath string) error {
	a, err := space.LoadArch(archPath)
	if err != nil {
		return err
	}
	g, err := a.Graph()
	if err != nil {
		return err
	}
	net, err := blocks.NewNetwork(g, rand.New(rand.NewPCG(1, 0)))
	if err != nil {
		return err
	}
	wf, err := safetensors.Read(weightsPath)
	if err != nil {
		return err
	}
	w := map[string][]float32{}
	for name, t := range wf.Tensors {
		w[name] = t.F32
	}
	if err := net.LoadState(w); err != nil {
		return fmt.Errorf("%s: %w", weightsPath, err)
	}
	in, err := safetensors.Read(inputPath)
	if err != nil {
		return err
	}
	t, ok := in.Tensors["input"]
	if !ok || len(t.Shape) != 4 {
		return fmt.Errorf("%s: no 4-D tensor named input", inputPath)
	}
	x := nn.New(t.Shape...)
	copy(x.Data, t.F32)
	y := net.Forward(nil, x)
	n := y.Shape[0]
	return safetensors.Write(outPath, &safetensors.File{Tensors: map[string]safetensors.Tensor{
		"logits": {Shape: []int{n, y.Len() / n}, F32: y.Data},
	}})
}
