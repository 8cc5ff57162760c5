// Package space describes networks and sets of networks: Arch (one network:
// input shape, classes and an ordered list of block specs with explicit
// channel counts), its canonical JSON and one-line string forms, Space (a
// macro skeleton of stages with per-stage choices, MnasNet's factorized
// space), seeded sampling and mutation, the model zoo, and params/MACs.
//
// It describes; it does not execute. Building an Arch into a network with
// weights is the blocks package's job.
package space
