// Package cluster runs the work of a search or a NetAdapt run on other
// machines through NATS JetStream: a coordinator publishes tasks to a
// work-queue stream, workers on any number of machines pull them through
// one durable consumer, run them and write their results to a key-value
// bucket, from which the coordinator hands each result to its caller once.
//
// A task is a kind and a JSON payload: the serializable inputs of a
// library function (proxy-train a candidate, score candidates on a
// supernet, the final training of a candidate or a baseline, one NetAdapt
// proposal's fine-tune). A worker
// holds a Registry that maps kinds to those functions; this package knows
// nothing of what they compute. Large inputs and outputs (weights,
// supernets) travel through the object store, addressed by their SHA-256
// (Blobs).
//
// What the package guarantees:
//   - Delivery: a task is acknowledged only after its result is stored; a
//     worker that dies or stalls past the consumer's AckWait loses the
//     task to another worker. A running task is kept alive with
//     InProgress well inside AckWait.
//   - Bounded retries: a task is delivered at most MaxDeliver times; the
//     last failure, or the server's max-deliveries advisory when no worker
//     answered, becomes a failed result with its reason.
//   - Idempotent results: a result is keyed by run and task ID and the
//     first one written wins, so a redelivered task's duplicate is
//     harmless, and a coordinator that restarts skips what is done.
//   - Validation: tasks and results are size-limited and validated; a
//     malformed one is logged and terminated, never retried and never a
//     crash. A task whose dataset differs from the worker's is refused
//     with a message naming both.
//   - Namespacing: every subject, stream and bucket starts with the
//     project name (Settings.Project, "nas" by default), so that several
//     projects share one server without seeing each other's work.
//
// Device agents (agent*.go) measure latency on the device a table is for:
// an Agent announces the device's fingerprint under a name and serves
// measurement requests with latency.Profiler; a Device, on the machine
// that profiles or searches, is the latency.Measurer that deals them out
// to the device's agents (core NATS request and reply; nothing stored
// but the announcement).
//
// It is not the default: without a NATS URL, nas runs everything in one
// process and needs no server. docs/distributed.md describes the design.
package cluster
