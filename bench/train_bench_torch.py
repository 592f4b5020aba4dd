#!/usr/bin/python3
"""PyTorch's side of armnet_train_bench: the same model, step and measurements.

    /usr/bin/python3 bench/train_bench_torch.py [--mode train|eval] [--model arm|resnet18]
        [--batch 32] [--size 224] [--warmup 2] [--steps 10] [--threads N]

train: model.train(); logits = model(x); loss = cross_entropy(logits, labels);
       loss.backward(); optimizer.step(); optimizer.zero_grad()  with
       Adam(lr 1e-3, weight_decay 1e-4), as the reference.
eval:  model.eval(); logits = model(x) under torch.no_grad().
After --warmup untimed steps, --steps steps are timed one by one; the median
and mean time per step, images/s (batch / median) and the process's peak
resident memory (resource.getrusage ru_maxrss) are printed, with the CPU
time per step of all threads together, the last line in
the machine-readable form of armnet_train_bench ("RESULT framework=torch ...").
Threads: --threads, else OMP_NUM_THREADS, else the number of processors.

The model is ResNet18_ARM as ARM-SPEC section 1 describes it: the one
PyTorch version in the project, tools/make_fixtures.py's (torchvision's
ResNet-18 features, pixel shuffle 16, the Amend module, fc), which the parity
fixtures check armnet against. Initialisation does not matter for timing and
is PyTorch's default.
"""
import argparse
import os
import resource
import statistics
import time

import pathlib
import sys

import torch
from torch import nn

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parent.parent / "tools"))
from make_fixtures import new_model  # noqa: E402  (the project's PyTorch ResNet18_ARM / ResNet18)

NUM_CLASSES = 7


def current_mib():
    with open("/proc/self/statm") as statm:
        return int(statm.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 2**20


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--mode", choices=("train", "eval"), default="train")
    parser.add_argument("--model", choices=("arm", "resnet18"), default="arm")
    parser.add_argument("--batch", type=int, default=32)
    parser.add_argument("--size", type=int, default=224)
    parser.add_argument("--warmup", type=int, default=2)
    parser.add_argument("--steps", type=int, default=10)
    parser.add_argument("--threads", type=int,
                        default=int(os.environ.get("OMP_NUM_THREADS") or os.cpu_count() or 1))
    args = parser.parse_args()
    torch.set_num_threads(args.threads)

    start_mib = current_mib()  # after importing torch, before the model
    torch.manual_seed(0)
    model = new_model(args.model, args.size)
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-3, weight_decay=1e-4)
    images = torch.randn(args.batch, 3, args.size, args.size)
    labels = torch.arange(args.batch) % NUM_CLASSES
    train = args.mode == "train"

    def step():
        if train:
            model.train()
            logits = model(images)
            loss = nn.functional.cross_entropy(logits, labels)
            loss.backward()
            optimizer.step()
            optimizer.zero_grad()
            return loss.item()
        model.eval()
        with torch.no_grad():
            return model(images)[0, 0].item()

    for _ in range(args.warmup):
        step()
    seconds = []
    checksum = 0.0
    cpu_begin = time.process_time()  # all threads, as armnet's cpu_ms
    for _ in range(args.steps):
        begin = time.perf_counter()
        checksum = step()
        seconds.append(time.perf_counter() - begin)
    cpu_per_step = (time.process_time() - cpu_begin) / args.steps

    median_s = statistics.median(seconds)
    mean_s = statistics.fmean(seconds)
    images_per_s = args.batch / median_s
    peak_mib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # KiB on Linux
    print(f"PyTorch {torch.__version__} {args.mode} step, model {args.model}, batch {args.batch}, "
          f"{args.size}x{args.size} float32, {torch.get_num_threads()} threads, "
          f"{args.warmup} warm-up + {args.steps} timed steps")
    print(f"  per step: median {1e3 * median_s:.1f} ms, mean {1e3 * mean_s:.1f} ms, "
          f"min {1e3 * min(seconds):.1f} ms, max {1e3 * max(seconds):.1f} ms")
    print(f"  CPU time (all threads) per step: mean {1e3 * cpu_per_step:.1f} ms")
    print(f"  {images_per_s:.1f} images/s; peak resident memory {peak_mib:.0f} MiB "
          f"({start_mib:.0f} MiB before the model); last {'loss' if train else 'logit'} {checksum:.6g}")
    print(f"RESULT framework=torch mode={args.mode} model={args.model} batch={args.batch} size={args.size} "
          f"threads={torch.get_num_threads()} warmup={args.warmup} steps={args.steps} "
          f"median_ms={1e3 * median_s:.3f} mean_ms={1e3 * mean_s:.3f} images_per_s={images_per_s:.2f} "
          f"cpu_ms={1e3 * cpu_per_step:.3f} peak_mib={peak_mib:.1f} start_mib={start_mib:.1f}")


if __name__ == "__main__":
    main()
