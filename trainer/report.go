package trainer

import (
	"encoding/json"
	"path/filepath"
	"runtime"

	"nas/internal/atomicfile"
	"nas/space"
)

// ResultFile is the summary a training run writes next to its checkpoint
// (WriteReport).
const ResultFile = "result.json"

// Report is the summary of a training run: ResultFile in its output
// folder, and what nas train --json prints.
type Report struct {
	Arch         string       `json:"arch"`
	Name         string       `json:"name,omitempty"`
	Data         string       `json:"data"`
	Params       int64        `json:"params"`
	MACs         int64        `json:"macs"`
	ValAcc       float64      `json:"val_acc"`
	ValLoss      float64      `json:"val_loss"`
	BestValAcc   float64      `json:"best_val_acc"`
	BestEpoch    int          `json:"best_epoch"`
	Init         string       `json:"init,omitempty"`         // --init
	InitValAcc   *float64     `json:"init_val_acc,omitempty"` // of the --init weights, before training
	InitValLoss  *float64     `json:"init_val_loss,omitempty"`
	TestAcc      *float64     `json:"test_acc"`
	TestLoss     *float64     `json:"test_loss"`
	Epochs       float64      `json:"epochs"`
	Steps        int          `json:"steps"`
	TrainImages  int          `json:"train_images"`
	ImagesPerSec float64      `json:"images_per_s"`
	WallSeconds  float64      `json:"wall_s"`
	Threads      int          `json:"threads"`
	Seed         uint64       `json:"seed"`
	Out          string       `json:"out"`
	Config       Config       `json:"config"`
	History      []EpochStats `json:"history"`
}

// NewReport summarises the run res of arch, trained with cfg on sets (its
// output folder cfg.CheckpointDir) by this process. initPath is the file
// of its starting weights and init their validation metrics; "" and nil for
// weights drawn from cfg.Seed.
func NewReport(arch *space.Arch, cfg Config, sets *Sets, res *Result, initPath string, init *Metrics) (*Report, error) {
	cost, err := arch.Cost()
	if err != nil {
		return nil, err
	}
	r := &Report{
		Arch: arch.String(), Name: arch.Name, Data: sets.Train.Name, Params: cost.Params, MACs: cost.MACs,
		ValAcc: res.ValAcc, ValLoss: res.ValLoss, BestValAcc: res.BestValAcc, BestEpoch: res.BestEpoch,
		Epochs: res.Epochs, Steps: res.Steps, TrainImages: res.TrainImages, ImagesPerSec: res.ImagesPerSec,
		WallSeconds: res.WallTime.Seconds(), Threads: runtime.GOMAXPROCS(0), Seed: cfg.Seed, Out: cfg.CheckpointDir,
		Config: cfg, History: res.History,
	}
	if res.Tested {
		r.TestAcc, r.TestLoss = &res.TestAcc, &res.TestLoss
	}
	if init != nil {
		r.Init, r.InitValAcc, r.InitValLoss = initPath, &init.Acc, &init.Loss
	}
	return r, nil
}

// WriteReport writes r as indented JSON to ResultFile in dir, atomically,
// and returns what it wrote.
func WriteReport(dir string, r *Report) ([]byte, error) {
	b, err := json.MarshalIndent(r, "", "  ")
	if err != nil {
		return nil, err
	}
	b = append(b, '\n')
	return b, atomicfile.WriteBytes(filepath.Join(dir, ResultFile), b)
}
