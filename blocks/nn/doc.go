// Package nn is the float32 CNN engine of nas: tensors (NCHW), operators with
// forward and backward passes (convolution of any kernel, stride, padding,
// dilation and groups; batch norm; the activations of the lightweight
// families; pooling; linear; dropout; channel shuffle, split, concat and
// slice; add; channel-wise multiply; softmax cross-entropy), reverse-mode
// autodiff through a Tape, and Module, the interface layers and blocks
// implement.
//
// Operators validate nothing at run time beyond what a programmer error
// would break: layer constructors check shapes and return errors naming the
// layer and the numbers. The arithmetic itself lives in package kernels; the
// operators here are shape bookkeeping and autodiff around it.
package nn
