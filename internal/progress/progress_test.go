package progress

import (
	"bytes"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

func TestQuietWhenNotATerminal(t *testing.T) {
	var buf bytes.Buffer
	b := New(&buf, "profile", "entries", 10, 0, false)
	require.False(t, b.Enabled())
	b.Add(5)
	b.Status("x")
	b.Finish()
	require.Empty(t, buf.String())
}

func TestLineRateAndETA(t *testing.T) {
	clock := time.Unix(0, 0)
	b := &Bar{label: "train", unit: "steps", total: 100, done: 20, startN: 20, width: 100, start: clock}
	b.done = 50 // 30 steps in 10 s: 3 steps/s, 50 left: 17 s
	line := b.line(clock.Add(10 * time.Second))
	require.Contains(t, line, "50/100 steps")
	require.Contains(t, line, "3 steps/s")
	require.Contains(t, line, "ETA 17s")
	require.LessOrEqual(t, len(line), 99)
	inner := line[strings.Index(line, "[")+1 : strings.Index(line, "]")]
	require.Equal(t, len(inner)/2, strings.Count(inner, "="), "half done: half the bar filled")
}

func TestFormatDuration(t *testing.T) {
	require.Equal(t, "5s", formatDuration(5*time.Second))
	require.Equal(t, "2m05s", formatDuration(125*time.Second))
	require.Equal(t, "1h01m", formatDuration(3660*time.Second))
}

func TestSetTotalGrows(t *testing.T) {
	clock := time.Unix(0, 0)
	b := &Bar{label: "validate", unit: "measurements", total: 10, width: 100, start: clock, now: func() time.Time { return clock }}
	b.Add(10)
	b.SetTotal(15) // five measurements repeated
	b.done = 12
	line := b.line(clock.Add(12 * time.Second))
	require.Contains(t, line, "12/15 measurements")
	require.Contains(t, line, "ETA 3s", "3 left at 1/s")
}

// A bar that does not draw still counts: Elapsed and ETA serve log lines.
func TestETAWithoutDrawing(t *testing.T) {
	clock := time.Unix(0, 0)
	var buf bytes.Buffer
	b := New(&buf, "search", "trials", 12, 2, false)
	b.now, b.start = func() time.Time { return clock }, clock
	_, ok := b.ETA()
	require.False(t, ok, "no unit of this run done yet")
	clock = clock.Add(20 * time.Second)
	b.Add(4) // 4 trials in 20 s, 6 left: 30 s
	eta, ok := b.ETA()
	require.True(t, ok)
	require.Equal(t, 30*time.Second, eta)
	require.Equal(t, 20*time.Second, b.Elapsed())
	require.Equal(t, 12, b.Total())
	b.Add(6)
	eta, ok = b.ETA()
	require.True(t, ok)
	require.Zero(t, eta)
	require.Empty(t, buf.String())
}
