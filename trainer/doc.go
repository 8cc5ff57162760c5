// Package trainer trains and evaluates networks on real data: dataset
// loaders (Fashion-MNIST and MNIST IDX files, CIFAR-10 binary batches, image
// folders), a seeded validation split, SGD with momentum and a cosine
// schedule, label smoothing, augmentation, checkpoints in safetensors, and
// the budgeted "train this Arch and return validation accuracy" call that
// search and NetAdapt use.
//
// The test split is for final reports only; nothing in search decides on it.
package trainer
