package main

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"nas/blocks"
)

// profileJSON is an ONNX Runtime trace of runs runs of two nodes, a Conv
// whose kernel took 100+r us in run r and a ReduceMean of 5 us, with
// events of another category between them, as a real trace has.
func profileJSON(runs int) string {
	var events []string
	for r := range runs {
		events = append(events,
			`{"cat":"Run","name":"model_run","dur":200}`,
			fmt.Sprintf(`{"cat":"Node","name":"/conv/Conv_kernel_time","dur":%d,"args":{"op_name":"Conv","output_type_shape":[{"float":[1,8,4,4]}]}}`, 100+r),
			`{"cat":"Node","name":"/conv/Conv_fence_before","dur":0,"args":{"op_name":"Conv"}}`,
			`{"cat":"Node","name":"/ReduceMean_kernel_time","dur":5,"args":{"op_name":"ReduceMean","output_type_shape":[{"float":[1,8]}]}}`)
	}
	return "[" + strings.Join(events, ",\n") + "]"
}

func writeTemp(t testing.TB, data string) string {
	f := filepath.Join(t.TempDir(), "ort.json")
	if err := os.WriteFile(f, []byte(data), 0o644); err != nil {
		t.Fatal(err)
	}
	return f
}

// TestReadORTProfile checks that the nodes come in the order of their
// first run, with the median kernel time of the runs after the warm-up.
func TestReadORTProfile(t *testing.T) {
	nodes, err := readORTProfile(writeTemp(t, profileJSON(ortWarmup+5)))
	if err != nil {
		t.Fatal(err)
	}
	if len(nodes) != 2 || nodes[0].op != "Conv" || nodes[1].op != "ReduceMean" {
		t.Fatalf("nodes %+v, want the Conv then the ReduceMean", nodes)
	}
	// Runs 10 to 14 took 110 to 114 us: the median is 112.
	if nodes[0].us != 112 || nodes[1].us != 5 || nodes[0].shape != `{"float":[1,8,4,4]}` {
		t.Errorf("nodes %+v, want the Conv at 112 us with its shape, the ReduceMean at 5", nodes)
	}
	var buf bytes.Buffer
	infos := []blocks.StepInfo{{Kind: "convpad", Desc: "c8 4x4 k3x3"}, {Kind: "gemm", Desc: "implicit m8 k72 n16"}, {Kind: "gap", Desc: "c8 hw16"}}
	if err := ortTable(&buf, infos, []float64{10, 214, 3}, "thread CPU", nodes); err != nil {
		t.Fatal(err)
	}
	// The padding counts with its GEMM: 224 us against 112.
	if !strings.Contains(buf.String(), "gemm implicit m8 k72 n16") || !strings.Contains(buf.String(), "2.00") {
		t.Errorf("table:\n%s\nwants the GEMM with its padding at 2.00 times the Conv", buf.String())
	}
}

// TestReadORTProfileRefuses checks the errors for a file that is not a
// profile, and one without node times.
func TestReadORTProfileRefuses(t *testing.T) {
	for name, data := range map[string]string{
		"not JSON":      "Conv 100us",
		"not an array":  `{"cat":"Node"}`,
		"no node times": `[{"cat":"Run","name":"model_run","dur":200}]`,
	} {
		f := writeTemp(t, data)
		if _, err := readORTProfile(f); err == nil || !strings.Contains(err.Error(), f) {
			t.Errorf("%s: error %v, want one naming %s", name, err, f)
		}
	}
	if _, err := readORTProfile(filepath.Join(t.TempDir(), "missing.json")); err == nil {
		t.Error("a missing file: no error")
	}
}

func FuzzReadORTProfile(f *testing.F) {
	f.Add(profileJSON(3))
	f.Add(profileJSON(ortWarmup + 2))
	f.Add(`[{"cat":"Node","name":"x_kernel_time","dur":-1,"args":{"output_type_shape":[]}}]`)
	f.Fuzz(func(t *testing.T, data string) {
		nodes, err := readORTProfile(writeTemp(t, data))
		if err != nil {
			return
		}
		var buf bytes.Buffer
		if err := ortTable(&buf, []blocks.StepInfo{{Kind: "gemm"}}, []float64{1}, "wall", nodes); err != nil {
			t.Fatal(err)
		}
	})
}
