package trainer

import (
	"os"
	"path/filepath"
	"testing"

	"nas/blocks"
)

// FuzzReadInput: any file is read or refused with an error, never a panic.
func FuzzReadInput(f *testing.F) {
	f.Add([]byte{})
	f.Add(make([]byte, 16))
	f.Add([]byte("\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR"))
	dir := f.TempDir()
	f.Fuzz(func(t *testing.T, b []byte) {
		path := filepath.Join(dir, "x")
		if err := os.WriteFile(path, b, 0o644); err != nil {
			t.Fatal(err)
		}
		norm := FashionMNISTNorm()
		x, err := ReadInput(path, blocks.Shape{C: 1, H: 2, W: 2}, InputOptions{Norm: &norm, Grey: len(b)%2 == 0})
		if err == nil && x.Len() != len(b)/4 && x.Len() != 4 {
			t.Fatalf("%d bytes read as %d values", len(b), x.Len())
		}
	})
}
