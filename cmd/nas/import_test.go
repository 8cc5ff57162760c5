package main

import (
	"bytes"
	"encoding/json"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"nas/export"
	"nas/space"
)

// writeONNX exports an arch string with seeded weights to dir/model.onnx.
func writeONNX(t *testing.T, dir, arch string) string {
	t.Helper()
	a, err := space.ParseArch(arch)
	if err != nil {
		t.Fatal(err)
	}
	g, err := a.Graph()
	if err != nil {
		t.Fatal(err)
	}
	var b bytes.Buffer
	w := export.RandomWeights(g, rand.New(rand.NewPCG(1, 2)), export.RandomOptions{Varied: true})
	if err := export.WriteONNX(&b, g, w, export.ONNXOptions{}); err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(dir, "model.onnx")
	if err := os.WriteFile(path, b.Bytes(), 0o644); err != nil {
		t.Fatal(err)
	}
	return path
}

func TestImportCommand(t *testing.T) {
	dir := t.TempDir()
	const arch = "in3x16x16 cls5 | conv_o8_k3_s2_arelu6 | ir_o8_m16_arelu6 | gap | linear_o5"
	model := writeONNX(t, dir, arch)
	out, weights := filepath.Join(dir, "arch.json"), filepath.Join(dir, "w.safetensors")
	var stdout, stderr bytes.Buffer
	if code := run([]string{"import", model, "-o", out, "--weights-out", weights, "--json"}, &stdout, &stderr); code != 0 {
		t.Fatalf("exit %d: %s", code, stderr.String())
	}
	var rep importReport
	if err := json.Unmarshal(stdout.Bytes(), &rep); err != nil {
		t.Fatal(err)
	}
	if !strings.HasSuffix(rep.Arch, strings.SplitN(arch, " ", 3)[2]) || rep.Name != "model" {
		t.Errorf("arch %q (name %q), want %q", rep.Arch, rep.Name, arch)
	}
	a, err := space.LoadArch(out)
	if err != nil {
		t.Fatal(err)
	}
	g, err := a.Graph()
	if err != nil {
		t.Fatal(err)
	}
	if _, err := export.ReadWeights(weights, g); err != nil {
		t.Errorf("the written weights do not fit the written arch: %v", err)
	}
	// An .onnx file where ARCH is accepted.
	stdout.Reset()
	if code := run([]string{"inspect", model, "--json"}, &stdout, &stderr); code != 0 {
		t.Fatalf("nas inspect model.onnx: exit %d: %s", code, stderr.String())
	}
	if !strings.Contains(stdout.String(), `"params": `) {
		t.Errorf("nas inspect model.onnx printed %s", stdout.String())
	}
	// A bad model names the file and exits 1.
	bad := filepath.Join(dir, "bad.onnx")
	if err := os.WriteFile(bad, []byte("not onnx"), 0o644); err != nil {
		t.Fatal(err)
	}
	stderr.Reset()
	if code := run([]string{"import", bad, "-o", out}, &stdout, &stderr); code != 1 || !strings.Contains(stderr.String(), bad) {
		t.Errorf("bad model: exit %d, %s", code, stderr.String())
	}
	if code := run([]string{"import", model}, &stdout, &stderr); code != 2 {
		t.Errorf("without -o: exit %d, want 2", code)
	}
}
