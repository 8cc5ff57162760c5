// Package supernet trains one weight-sharing network that contains every
// network of a search space, and scores a network of the space from the
// weights it inherits, in about a second instead of a proxy training run.
//
// It follows single-path one-shot training (Guo et al., "Single Path
// One-Shot Neural Architecture Search with Uniform Sampling", ECCV 2020)
// with BigNAS's sandwich rule and in-place distillation (Yu et al.,
// "BigNAS: Scaling Up Neural Architecture Search with Big Single-Stage
// Models", ECCV 2020), and recalibrates batch normalization per network
// before scoring it, as Once-for-All does (Cai et al., ICLR 2020).
//
// Each layer position of the space (the stem and head layers, and every
// depth position of every stage) holds one set of weights per block
// family. A network of the space takes, at each of its layers, the
// leading channels of those tensors along every axis and the centre of
// their kernels: Weights owns the shared tensors, and a subnet binds a
// blocks.Network to them. Training runs each sampled network on the
// trainer's data-parallel Stepper and adds its gradients into the shared
// tensors, which one SGD step then updates. docs/supernet.md describes
// the scheme, the folder format and what is refused.
//
// It is not a search: package search consumes an Evaluator through its
// own Evaluator interface.
package supernet
