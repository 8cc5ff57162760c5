package pipeline

import (
	"os"
	"testing"

	"github.com/stretchr/testify/require"
)

func TestParseHookEvent(t *testing.T) {
	kp, err := parseKillPoint("trial:3")
	require.NoError(t, err)
	require.Equal(t, killPoint{event: "trial", n: 3, sig: os.Kill}, *kp)
	kp, err = parseKillPoint("long:1:int")
	require.NoError(t, err)
	require.Equal(t, killPoint{event: "long", n: 1, sig: os.Interrupt}, *kp)
	for _, c := range []struct{ in, want string }{
		{"trial", "want EVENT:N"},
		{"trial:1:kill:x", "want EVENT:N"},
		{"step:1", `event "step": want one of supernet, trial, final, baseline, proposal, long`},
		{"final:0", `N "0": want a count from 1`},
		{"final:x", `N "x"`},
		{"final:1:term", `signal "term": want kill or int`},
	} {
		_, err := parseKillPoint(c.in)
		require.ErrorContains(t, err, c.want, c.in)
	}
}
