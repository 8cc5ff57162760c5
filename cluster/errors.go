package cluster

import "errors"

// ErrMalformed is a task or result that cannot be used: too large, not
// JSON of the envelope's form, or with a field out of range. The error
// wrapping it names the field.
var ErrMalformed = errors.New("malformed message")

// ErrRefused is a task a worker will not run however often it is
// delivered (a dataset that differs from the worker's, a kind the worker
// has no function for, a payload its function rejects). A task function
// wraps it to fail the task at once instead of retrying it.
var ErrRefused = errors.New("task refused")

// ErrBlobCorrupt is a blob whose content does not hash to its address.
var ErrBlobCorrupt = errors.New("blob does not match its hash")

// ErrBlobNotFound is a hash the object store holds no blob for.
var ErrBlobNotFound = errors.New("blob not found")

// ErrTaskFailed is a task whose result is a failure; the error wrapping it
// carries the worker's reason.
var ErrTaskFailed = errors.New("task failed")
