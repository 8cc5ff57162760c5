package trainer_test

import (
	"context"
	"errors"
	"fmt"

	"nas/blocks"
	"nas/space"
	"nas/trainer"
)

// Train an arch string on Fashion-MNIST for two epochs, holding out 10% of
// the training set (seeded) for validation, as search does for one trial.
func ExampleTrain() {
	sets, err := trainer.OpenDataset("fashion-mnist", "")
	if err != nil {
		fmt.Println(err) // names the missing file and the package to install
		return
	}
	arch, err := space.ParseArch("in1x28x28 cls10 | conv_o16_k3_s2_arelu6 | ir_e4_o24_k3_s2 | gap | linear_o10")
	if err != nil {
		fmt.Println(err)
		return
	}
	cfg := trainer.DefaultConfig()
	cfg.Epochs = 2
	cfg.DataFraction = 0.1 // proxy training on a tenth of the data
	cfg.Augment = trainer.DefaultAugmentation("fashion-mnist")
	res, err := trainer.Train(context.Background(), cfg, arch, sets)
	switch {
	case errors.Is(err, trainer.ErrDiverged):
		fmt.Println("failed trial:", err)
	case err != nil:
		fmt.Println(err)
	default:
		fmt.Printf("val acc %.3f, %.0f images/s\n", res.ValAcc, res.ImagesPerSec)
	}
}

// Fine-tune a network that already has weights (NetAdapt's step), one
// epoch, then save its weights for `nas eval` or the PyTorch export.
func ExampleTrainNetwork() {
	var (
		net  *blocks.Network // built and trained earlier
		sets *trainer.Sets
	)
	if net == nil {
		return
	}
	cfg := trainer.DefaultConfig()
	cfg.Epochs, cfg.LR, cfg.WarmupEpochs = 1, 0.01, 0
	res, err := trainer.TrainNetwork(context.Background(), cfg, net, sets)
	if err != nil {
		fmt.Println(err)
		return
	}
	if err := trainer.SaveWeights("weights.safetensors", res.Network, nil); err != nil {
		fmt.Println(err)
	}
}
