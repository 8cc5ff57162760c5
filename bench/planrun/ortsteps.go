package main

import (
	"encoding/json"
	"fmt"
	"io"
	"os"
	"slices"
	"strings"

	"nas/blocks"
	"nas/blocks/kernels"
)

// ortNode is one node of an ONNX Runtime profile: its operator, output
// shape and median kernel time over the profiled runs.
type ortNode struct {
	name, op, shape string
	us              float64
}

// ortWarmup is how many runs bench/ort_run.js makes before it times any:
// their node times are left out.
const ortWarmup = 10

// maxProfileBytes bounds the profile read: a run of a zoo network writes
// about 40 kB per profiled run.
const maxProfileBytes = 1 << 30

// readORTProfile reads the nodes of an ONNX Runtime profile (the Chrome
// trace JSON that enableProfiling writes), in the order of their first
// run, each with its median kernel time over the runs after the warm-up.
func readORTProfile(file string) ([]ortNode, error) {
	st, err := os.Stat(file)
	if err != nil {
		return nil, err
	}
	if st.Size() > maxProfileBytes {
		return nil, fmt.Errorf("%s: %d bytes, more than the %d an ONNX Runtime profile of a zoo network takes; profile fewer runs", file, st.Size(), maxProfileBytes)
	}
	data, err := os.ReadFile(file)
	if err != nil {
		return nil, err
	}
	var events []struct {
		Cat  string  `json:"cat"`
		Name string  `json:"name"`
		Dur  float64 `json:"dur"`
		Args struct {
			Op    string            `json:"op_name"`
			Shape []json.RawMessage `json:"output_type_shape"`
		} `json:"args"`
	}
	if err := json.Unmarshal(data, &events); err != nil {
		return nil, fmt.Errorf("%s: not an ONNX Runtime profile (a JSON array of trace events): %w", file, err)
	}
	var nodes []ortNode
	durs := map[string][]float64{}
	for _, e := range events {
		if e.Cat != "Node" || !strings.HasSuffix(e.Name, "_kernel_time") {
			continue
		}
		if _, seen := durs[e.Name]; !seen {
			shape := ""
			if len(e.Args.Shape) > 0 {
				shape = string(e.Args.Shape[0])
			}
			nodes = append(nodes, ortNode{name: strings.TrimSuffix(e.Name, "_kernel_time"), op: e.Args.Op, shape: shape})
		}
		durs[e.Name] = append(durs[e.Name], e.Dur)
	}
	if len(nodes) == 0 {
		return nil, fmt.Errorf("%s: no node times (was the profile written with enableProfiling set?)", file)
	}
	for i := range nodes {
		d := durs[nodes[i].name+"_kernel_time"]
		if len(d) > ortWarmup {
			d = d[ortWarmup:]
		}
		slices.Sort(d)
		nodes[i].us = d[len(d)/2]
	}
	return nodes, nil
}

// convKinds are the plan steps that compute a convolution; padKinds those
// that prepare one's input (their time counts with the step after them).
var (
	convKinds = []string{"stem", "dwconv", "gemm"}
	padKinds  = []string{"stempad", "im2col", "convpad"}
)

// ortTable prints the plan's convolutions beside ONNX Runtime's Conv nodes
// in order, with the ratio of their times, then the other steps and nodes
// and the totals. ONNX Runtime may run the branches of a block (a Fire
// module's two expands) in another order than the plan: compare such rows
// as a pair.
func ortTable(w io.Writer, infos []blocks.StepInfo, us []float64, what string, nodes []ortNode) error {
	type conv struct {
		desc string
		us   float64
	}
	var convs []conv
	var others []string
	var nasTotal, pad float64
	for i, in := range infos {
		nasTotal += us[i]
		switch {
		case slices.Contains(padKinds, in.Kind):
			pad += us[i]
		case slices.Contains(convKinds, in.Kind):
			convs = append(convs, conv{in.Kind + " " + in.Desc, us[i] + pad})
			pad = 0
		default:
			others = append(others, fmt.Sprintf("%-7s %-36s %9.1f", in.Kind, in.Desc, us[i]))
		}
	}
	var ortConvs, ortOthers []ortNode
	var ortTotal float64
	for _, n := range nodes {
		ortTotal += n.us
		if strings.Contains(n.op, "Conv") {
			ortConvs = append(ortConvs, n)
		} else {
			ortOthers = append(ortOthers, n)
		}
	}
	if len(convs) != len(ortConvs) {
		fmt.Fprintf(w, "the plan has %d convolutions and the profile %d Conv nodes: the rows pair them in order as far as both go\n", len(convs), len(ortConvs))
	}
	fmt.Fprintf(w, "%-44s %9s %9s %7s  %s\n", "nas step (with its input's padding)", "nas us", "ORT us", "nas/ORT", "ORT output")
	var sumNas, sumORT float64
	for i := range max(len(convs), len(ortConvs)) {
		var c conv
		var n ortNode
		if i < len(convs) {
			c = convs[i]
		}
		if i < len(ortConvs) {
			n = ortConvs[i]
		}
		ratio := ""
		if c.us > 0 && n.us > 0 {
			ratio = fmt.Sprintf("%7.2f", c.us/n.us)
			sumNas += c.us
			sumORT += n.us
		}
		fmt.Fprintf(w, "%-44s %9.1f %9.1f %7s  %s\n", c.desc, c.us, n.us, ratio, n.shape)
	}
	fmt.Fprintf(w, "%-44s %9.1f %9.1f %7.2f\n\n", "convolutions, paired", sumNas, sumORT, sumNas/sumORT)
	for _, o := range others {
		fmt.Fprintln(w, "nas "+o)
	}
	for _, n := range ortOthers {
		fmt.Fprintf(w, "ORT %-44s %9.1f\n", n.op, n.us)
	}
	fmt.Fprintf(w, "\ntotal: nas %.1f us (%s time, %s v%d), ONNX Runtime %.1f us (its profiled node times): %.2f\n",
		nasTotal, what, kernels.Path(), kernels.Version, ortTotal, nasTotal/ortTotal)
	return nil
}
