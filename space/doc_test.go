package space

import (
	"fmt"
	"os"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"nas/blocks"
)

// tokenTable is the table of block types and their keys in
// docs/arch-format.md, built from the registry.
func tokenTable() string {
	var b strings.Builder
	b.WriteString("| type | keys (arch token = JSON field, kind) |\n|---|---|\n")
	kinds := map[fieldKind]string{kindInt: "int", kindBool: "flag", kindString: "word", kindFloat: "decimal", kindInts: "ints"}
	for _, typ := range blocks.Types() {
		spec, _ := blocks.NewSpec(typ)
		fields, _ := specFields(spec)
		var keys []string
		for _, f := range fields {
			keys = append(keys, fmt.Sprintf("`%s`=%s (%s)", f.token, f.json, kinds[f.kind]))
		}
		if len(keys) == 0 {
			keys = []string{"none"}
		}
		fmt.Fprintf(&b, "| `%s` | %s |\n", typ, strings.Join(keys, ", "))
	}
	return b.String()
}

// The key table of docs/arch-format.md follows the registered block specs.
func TestArchFormatDoc(t *testing.T) {
	doc, err := os.ReadFile("../docs/arch-format.md")
	require.NoError(t, err)
	require.Contains(t, string(doc), tokenTable(), "docs/arch-format.md: the key table is out of date; replace it with the output of tokenTable() (space/doc_test.go)")
}
