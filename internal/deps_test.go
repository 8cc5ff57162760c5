// Package internal_test holds the import-direction rule of docs/architecture.md.
package internal_test

import (
	"os/exec"
	"strings"
	"testing"
)

// layers lists the packages top-down: each may import only packages after
// it (and anything under nas/internal).
var layers = []string{
	"nas/cmd/nas",
	"nas/cluster",
	"nas/pipeline",
	"nas/export",
	"nas/onnximport",
	"nas/supernet",
	"nas/search",
	"nas/results",
	"nas/latency",
	"nas/trainer",
	"nas/space",
	"nas/blocks",
	"nas/blocks/nn",
	"nas/blocks/kernels",
}

func TestImportDirection(t *testing.T) {
	if _, err := exec.LookPath("go"); err != nil {
		t.Skip("go command not on PATH")
	}
	rank := map[string]int{}
	for i, p := range layers {
		rank[p] = i
	}
	for i, pkg := range layers {
		out, err := exec.Command("go", "list", "-deps", "-f", "{{.ImportPath}}", pkg).Output()
		if err != nil {
			t.Fatalf("go list %s: %v", pkg, err)
		}
		for _, dep := range strings.Fields(string(out)) {
			if dep == pkg || !strings.HasPrefix(dep, "nas/") || strings.HasPrefix(dep, "nas/internal/") {
				continue
			}
			r, known := rank[dep]
			if !known {
				// Sub-packages belong to their parent's layer.
				for p, pr := range rank {
					if strings.HasPrefix(dep, p+"/") {
						r, known = pr, true
					}
				}
			}
			if !known {
				t.Errorf("%s imports %s, which has no place in the layer list of internal/deps_test.go and docs/architecture.md", pkg, dep)
				continue
			}
			if r <= i {
				t.Errorf("%s imports %s: imports must go down the list (%v)", pkg, dep, layers)
			}
		}
	}
}
