// Package bench measures nas's inference plans (blocks.Plan) on the zoo
// networks: correctness against the training executor at small and full
// input sizes, and batch-1 latency benchmarks at 224x224, one thread and
// two (go test -bench . ./bench). docs/benchmarks.md has the figures and
// the commands that rerun them.
//
// The package holds tests and benchmarks only; the code they share with
// the bench commands is in bench/internal/benchnet. Beside them:
//
//   - compare_ort.sh times the same networks in nas and ONNX Runtime side
//     by side; compare_train.sh compares training throughput with PyTorch;
//     compare_strategies.sh and compare_zoo.sh run the search strategies
//     at equal budget and a searched network against zoo networks;
//   - supernet_rank.sh (driving supernetrank) measures how well a supernet
//     ranks networks against stand-alone training, next to the proxy;
//     zoo_grid.sh compares networks searched with a supernet against the
//     width-scaled zoo at several latency targets and search seeds;
//   - planrun and trainbench time one network's inference plan and
//     training step (the commands the scripts drive);
//   - blockctx times a network's blocks inside the network, alone, and
//     alone with their weights flushed; block_models.py scores models of
//     blocks inside networks on its figures, and overhead_models.py models
//     of the network-level overhead on a validation run;
//   - probecheck checks the profiler's probe against a network's runs, and
//     probetrace (Linux) follows the machine's slow spells on each CPU
//     over time (docs/latency.md).
package bench
