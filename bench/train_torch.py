"""PyTorch side of bench/compare_train.sh: training throughput (forward,
backward, SGD with momentum, batch norm in training mode) of a module
written by `nas export --format pytorch`, on random data, on the CPU.

    /usr/bin/python3 bench/train_torch.py MODULE.py [BATCH THREADS STEPS]

Prints one line of JSON like bench/trainbench: images per second over the
timed steps, the median step and the fastest.
"""

import importlib.util
import json
import sys
import time

import torch


def main():
    path = sys.argv[1]
    batch = int(sys.argv[2]) if len(sys.argv) > 2 else 64
    threads = int(sys.argv[3]) if len(sys.argv) > 3 else 2
    steps = int(sys.argv[4]) if len(sys.argv) > 4 else 30
    torch.set_num_threads(threads)
    torch.manual_seed(1)
    spec = importlib.util.spec_from_file_location("nasnet", path)
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    model = mod.Net().train()
    # The same optimizer as trainbench: no weight decay on BN and biases.
    decay = [p for n, p in model.named_parameters() if p.dim() > 1]
    no_decay = [p for n, p in model.named_parameters() if p.dim() <= 1]
    opt = torch.optim.SGD([{"params": decay, "weight_decay": 4e-5},
                           {"params": no_decay, "weight_decay": 0}], lr=0.01, momentum=0.9)
    x = torch.randn(batch, *mod.INPUT_SHAPE)
    y = torch.randint(0, mod.CLASSES, (batch,))
    loss_fn = torch.nn.CrossEntropyLoss()

    def step():
        opt.zero_grad(set_to_none=False)
        loss = loss_fn(model(x), y)
        loss.backward()
        opt.step()

    for _ in range(3):
        step()
    times = []
    cpu0 = time.process_time()
    start = time.perf_counter()
    for _ in range(steps):
        t0 = time.perf_counter()
        step()
        times.append(time.perf_counter() - t0)
    total = time.perf_counter() - start
    cpu = time.process_time() - cpu0
    times.sort()
    print(json.dumps({"batch": batch, "threads": threads, "steps": steps,
                      "images_per_s": batch * steps / total,
                      "median_step_ms": times[steps // 2] * 1e3,
                      "best_images_per_s": batch / times[0],
                      "images_per_cpu_s": batch * steps / cpu,
                      "torch": torch.__version__}))


if __name__ == "__main__":
    main()
