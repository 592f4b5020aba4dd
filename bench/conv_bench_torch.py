#!/usr/bin/python3
"""PyTorch's side of armnet_conv_bench: the same convolution shapes and passes.

Times forward, backward-data and backward-weights of every distinct ResNet-18
convolution at 224x224 input (plus the ARM de-albino 32x32 stride-8 conv on
2*batch images) with aten::convolution_backward, the op autograd itself calls,
and writes one CSV row per shape with the GFLOP/s of each pass:

    shape,batch,forward_gflops,backward_data_gflops,backward_weights_gflops

Each pass runs once to warm up, then --repeat times; the best time counts.
FLOPs = 2*N*C_out*OH*OW*C_in*kH*kW per pass, as in bench/conv_bench.cpp.
Run with Debian's python3-torch: /usr/bin/python3 bench/conv_bench_torch.py
"""
import argparse
import csv
import sys
import time

import torch

# name, in, out, kernel, stride, pad, size, images per sample: the names must
# match kShapes in bench/conv_bench.cpp (they are the join key).
SHAPES = [
    ("conv1 7x7 3->64 s2 @224", 3, 64, 7, 2, 3, 224, 1),
    ("3x3 64->64 s1 @56", 64, 64, 3, 1, 1, 56, 1),
    ("3x3 64->128 s2 @56", 64, 128, 3, 2, 1, 56, 1),
    ("1x1 64->128 s2 @56", 64, 128, 1, 2, 0, 56, 1),
    ("3x3 128->128 s1 @28", 128, 128, 3, 1, 1, 28, 1),
    ("3x3 128->256 s2 @28", 128, 256, 3, 2, 1, 28, 1),
    ("1x1 128->256 s2 @28", 128, 256, 1, 2, 0, 28, 1),
    ("3x3 256->256 s1 @14", 256, 256, 3, 1, 1, 14, 1),
    ("3x3 256->512 s2 @14", 256, 512, 3, 2, 1, 14, 1),
    ("1x1 256->512 s2 @14", 256, 512, 1, 2, 0, 14, 1),
    ("3x3 512->512 s1 @7", 512, 512, 3, 1, 1, 7, 1),
    ("de-albino 32x32 1->1 s8 @112", 1, 1, 32, 8, 0, 112, 2),
]


def best_seconds(repeat, run):
    run()
    best = float("inf")
    for _ in range(repeat):
        start = time.perf_counter()
        run()
        best = min(best, time.perf_counter() - start)
    return best


def measure(shape, batch, repeat, dtype):
    _, cin, cout, k, stride, pad, size, per_sample = shape
    images = batch * per_sample
    x = torch.randn(images, cin, size, size, dtype=dtype)
    w = torch.randn(cout, cin, k, k, dtype=dtype)
    y = torch.nn.functional.conv2d(x, w, None, stride, pad)
    grad_y = torch.randn_like(y)
    flops = 2.0 * y.numel() * cin * k * k

    def backward(mask):
        return torch.ops.aten.convolution_backward(grad_y, x, w, None, [stride, stride], [pad, pad], [1, 1],
                                                   False, [0, 0], 1, mask)

    forward = best_seconds(repeat, lambda: torch.nn.functional.conv2d(x, w, None, stride, pad))
    backward_data = best_seconds(repeat, lambda: backward([True, False, False]))
    backward_weights = best_seconds(repeat, lambda: backward([False, True, False]))
    return [flops / seconds / 1e9 for seconds in (forward, backward_data, backward_weights)]


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--batch", type=int, default=32)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--dtype", choices=["f32", "f64"], default="f32")
    parser.add_argument("--output", default="conv_bench_torch.csv")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    dtype = torch.float32 if args.dtype == "f32" else torch.float64
    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads, mkldnn "
          f"{torch.backends.mkldnn.is_available()}, {args.dtype}, batch {args.batch}, best of {args.repeat}",
          file=sys.stderr)
    torch.manual_seed(2026)
    with torch.no_grad(), open(args.output, "w", newline="") as out:
        writer = csv.writer(out)
        writer.writerow(["shape", "batch", "forward_gflops", "backward_data_gflops", "backward_weights_gflops"])
        for shape in SHAPES:
            rates = measure(shape, args.batch, args.repeat, dtype)
            writer.writerow([shape[0], args.batch] + [f"{rate:.2f}" for rate in rates])
            print(f"{shape[0]:30s}" + "".join(f" {rate:10.1f}" for rate in rates), file=sys.stderr)


if __name__ == "__main__":
    main()
