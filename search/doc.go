// Package search explores a search space for the network with the best
// MnasNet reward ACC(m) * (LAT(m)/TAR)^w on the device at hand, and shrinks a
// chosen network to a latency budget with NetAdapt, carrying the weights of
// the filters it keeps onto each pruned network (CarryWeights).
//
// It owns the small interfaces it needs (an evaluator of accuracy, a latency
// model, a recorder of trials) and knows nothing of how they are made: the
// pipeline package wires in the trainer, the latency table and the results
// store. It does not train, measure or store anything itself.
package search
