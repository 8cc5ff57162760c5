package nn_test

import (
	"testing"

	"github.com/stretchr/testify/require"

	"nas/blocks"
	"nas/blocks/nn"
)

// TestActNamesMatchBlocks keeps nn.Act in step with blocks.Act: nn cannot
// import blocks, so blocks converts with nn.Act(spec.Act) and every name
// must mean the same activation on both sides.
func TestActNamesMatchBlocks(t *testing.T) {
	pairs := []struct {
		b blocks.Act
		n nn.Act
	}{
		{blocks.ActNone, nn.ActNone},
		{blocks.ActReLU, nn.ActReLU},
		{blocks.ActReLU6, nn.ActReLU6},
		{blocks.ActHSwish, nn.ActHSwish},
		{blocks.ActSwish, nn.ActSwish},
		{blocks.ActSigmoid, nn.ActSigmoid},
		{blocks.ActHSigmoid, nn.ActHSigmoid},
	}
	for _, p := range pairs {
		require.Equal(t, string(p.b), string(p.n))
		require.True(t, nn.Act(p.b).Valid(), "blocks activation %q unknown to nn", p.b)
		require.Equal(t, p.b.Valid(), p.n.Valid())
	}
	require.False(t, nn.Act("gelu").Valid())
}
