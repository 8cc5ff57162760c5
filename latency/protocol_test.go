package latency

import (
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
)

func TestProtocolString(t *testing.T) {
	s := Protocol{}.String()
	require.Contains(t, Protocol{}.forNetwork().String(), "wait=2s", "a whole network waits 8 caps for a fast probe")
	for _, want := range []string{"warmup=3x/20ms", "collect-before-sample", "samples=15..2000", "stat=p10", "ci95=±1%", "cap=250ms", "wait=250ms"} {
		require.True(t, strings.Contains(s, want), "%q lacks %q", s, want)
	}
}
