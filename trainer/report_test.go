package trainer

import (
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/require"
)

// The report of a run holds the run's figures and its starting weights'
// metrics, and WriteReport's file decodes back to it.
func TestReport(t *testing.T) {
	sets := stripeSets(t)
	cfg := tinyConfig()
	cfg.Epochs, cfg.Test, cfg.CheckpointDir = 1, true, t.TempDir()
	res, err := Train(context.Background(), cfg, tinyArch(), sets)
	require.NoError(t, err)

	r, err := NewReport(tinyArch(), cfg, sets, res, "", nil)
	require.NoError(t, err)
	cost, err := tinyArch().Cost()
	require.NoError(t, err)
	require.Equal(t, cost.Params, r.Params)
	require.Equal(t, res.ValAcc, r.ValAcc)
	require.Equal(t, res.TestAcc, *r.TestAcc)
	require.Equal(t, cfg.CheckpointDir, r.Out)
	require.Nil(t, r.InitValAcc)

	m := Metrics{Acc: 0.25, Loss: 1.5}
	r, err = NewReport(tinyArch(), cfg, sets, res, "w.safetensors", &m)
	require.NoError(t, err)
	require.Equal(t, "w.safetensors", r.Init)
	require.Equal(t, 0.25, *r.InitValAcc)

	b, err := WriteReport(cfg.CheckpointDir, r)
	require.NoError(t, err)
	onDisk, err := os.ReadFile(filepath.Join(cfg.CheckpointDir, ResultFile))
	require.NoError(t, err)
	require.Equal(t, b, onDisk)
	var back Report
	require.NoError(t, json.Unmarshal(onDisk, &back))
	require.Equal(t, r.History, back.History)
	require.Equal(t, *r.InitValLoss, *back.InitValLoss)
}
