#!/usr/bin/python3
"""Writes the parity fixtures that tests/test_parity.cpp compares armnet with.

Run with Debian's python3-torch (torch 1.13) and python3-torchvision:

    /usr/bin/python3 tools/make_fixtures.py [--only NAME_PART]

The tests never need PyTorch: the files are committed. This script holds a
faithful PyTorch re-implementation of the reference models (ResNet18_ARM and
the baseline ResNet18 of ../shared/ARM-SPEC.md section 1) whose state-dict
keys are armnet's, fills their weights and the inputs from a deterministic
formula that tests/test_parity.cpp computes too, runs one forward and one
backward pass of the mean cross-entropy in float64 and in float32, and writes
tests/fixtures/<model>_<size>_b<batch>_<train|eval>.safetensors.

The formula (docs/parity.md). With h(name) = FNV-1a 32-bit of the name's
bytes and fmix32 = MurmurHash3's 32-bit finaliser (a bijection of 32-bit
integers, all arithmetic modulo 2^32):

    key(name, i) = fmix32(h(name) + i * 0x9E3779B9)
    u(name, i)   = key(name, i) / 2^32 * 2 - 1            exact in float64, in [-1, 1)

and element i (row-major) of each state-dict tensor is offset + scale * u:

    entry                         offset  scale
    4-d weight (conv, de-albino)  0       sqrt(6 / fan_in)    fan_in = numel / size(0)
    2-d weight (fc)               0       1 / sqrt(fan_in)
    1-d weight (BatchNorm)        1       0.1
    bias (BatchNorm, fc)          0       0.1
    alpha                         1       -0.3
    running_mean, running_var     0, 1    0                   num_batches_tracked 0

The input [N, 3, S, S] is sqrt(3) * u("input", i) (mean 0, variance 1) and
target[n] = n % 7. Every step is one correctly rounded IEEE operation, so
both sides compute bit-identical float64 values.

A fixture holds (all float64 unless said):
  logits [N, 7], loss []
  gradnorm.<param> []        L2 norm of the parameter's gradient
  gradsample.<param> [k]     grad.flat[j * stride], j < k = min(16, numel),
                             stride = max(1, numel // 16)
  afternorm.<buffer> [], aftersample.<buffer> [k]  the same for every floating
                             buffer (BatchNorm running statistics) after the pass
  f32dist.logits, f32dist.loss, f32dist.grad.<param>, f32dist.after.<buffer>
                             PyTorch's own float32 distance from its float64
                             result, ||a32 - a64|| / ||a64|| over the whole
                             tensor, the largest of FLOAT32_RUNS float32 runs:
                             one on the formula's input, the others on it moved
                             by one float32 ulp per element (random direction)
  calibration_passes [] int64  training-mode forward passes (no grad) on the
                             same input before the measured pass: 0 for
                             "train" fixtures, CALIBRATION_PASSES for "eval"

Why 30 calibration passes: with momentum 0.1, 3 passes leave each running
mean at 27% of the batch mean; the activations then grow layer after layer
and the ARM's evaluation loss is 84 where its training loss is 1.6. After 30
passes (96%) evaluation looks like evaluation after training.

Why several float32 runs: a ReLU input within float32 noise of zero (at 224
there are always a few) flips in some float32 runs and not in others, and one
flip moves every gradient upstream of it by up to 1e-2. A single run measures
whether PyTorch happened to flip one; the largest of 16 says how far float32
can land.
"""
import argparse
import functools
import json
import math
import pathlib
import struct
import time

import numpy as np
import torch
import torchvision

FIXTURES = pathlib.Path(__file__).resolve().parent.parent / "tests" / "fixtures"
NUM_CLASSES = 7
CALIBRATION_PASSES = 30
FLOAT32_RUNS = 16
SAMPLE_COUNT = 16
# model, image size, batches; each in both modes.
CONFIGURATIONS = [
    ("arm", 112, (2, 4)),
    ("resnet18", 112, (2, 4)),
    ("arm", 224, (2, 4)),
    ("resnet18", 224, (2, 4)),
]
MODES = ("train", "eval")

MASK32 = 0xFFFFFFFF


# ---- the formula -------------------------------------------------------------

def fnv1a32(name):
    h = 2166136261
    for byte in name.encode("utf-8"):
        h = ((h ^ byte) * 16777619) & MASK32
    return h


def uniform(name, count):
    """u(name, i) for i < count, float64 in [-1, 1) (see the module docstring)."""
    x = (np.arange(count, dtype=np.uint64) * np.uint64(0x9E3779B9) + np.uint64(fnv1a32(name))) & np.uint64(MASK32)
    x ^= x >> np.uint64(16)
    x = (x * np.uint64(0x85EBCA6B)) & np.uint64(MASK32)
    x ^= x >> np.uint64(13)
    x = (x * np.uint64(0xC2B2AE35)) & np.uint64(MASK32)
    x ^= x >> np.uint64(16)
    return x.astype(np.float64) / 4294967296.0 * 2.0 - 1.0


def formula_rule(name, shape):
    """(offset, scale): entry `name` of `shape` holds offset + scale * u(name, i)."""
    leaf = name.rsplit(".", 1)[-1]
    fan_in = math.prod(shape) // shape[0] if shape else 1
    rules = {
        "running_mean": (0.0, 0.0),
        "running_var": (1.0, 0.0),
        "alpha": (1.0, -0.3),
        "bias": (0.0, 0.1),
    }
    if leaf in rules:
        return rules[leaf]
    if leaf == "weight" and len(shape) == 4:
        return 0.0, math.sqrt(6.0 / fan_in)
    if leaf == "weight" and len(shape) == 2:
        return 0.0, 1.0 / math.sqrt(fan_in)
    if leaf == "weight" and len(shape) == 1:
        return 1.0, 0.1
    raise ValueError(f"no formula for {name} {list(shape)}")


def formula_value(name, shape):
    """The values of state-dict entry `name` of `shape`, as a numpy array."""
    if name.endswith("num_batches_tracked"):
        return np.zeros(shape, dtype=np.int64)
    offset, scale = formula_rule(name, shape)
    return offset + scale * uniform(name, math.prod(shape)).reshape(shape)


def formula_input(batch, size):
    return math.sqrt(3.0) * uniform("input", batch * 3 * size * size).reshape(batch, 3, size, size)


def formula_target(batch):
    return np.arange(batch, dtype=np.int64) % NUM_CLASSES


# ---- the reference models (ARM-SPEC section 1) --------------------------------

def resnet18_features():
    """torchvision's ResNet-18 without avgpool and fc: features.0 .. features.7."""
    resnet = torchvision.models.resnet18(weights=None)
    return torch.nn.Sequential(*list(resnet.children())[:-2])


class Amend(torch.nn.Module):
    """The reference's Amend module: one 1x1x32x32 kernel applied to each channel."""

    def __init__(self):
        super().__init__()
        self.de_albino = torch.nn.Conv2d(1, 1, kernel_size=32, stride=8, padding=0, bias=False)
        self.bn = torch.nn.BatchNorm2d(2)
        self.alpha = torch.nn.Parameter(torch.tensor([1.0]))

    def forward(self, x):
        mask = torch.cat([self.de_albino(x[:, c:c + 1]) for c in range(x.size(1))], dim=1)
        x = self.bn(mask)
        global_mean = x.mean(dim=[0, 1])  # the current batch, in training and evaluation alike
        xmean = torch.mean(x, 1, keepdim=True)
        return xmean + self.alpha * global_mean, self.alpha


def arm_feature_count(size):
    # features: size / 32 rounded up (conv1, maxpool and three stride-2 stages
    # each halve with ceiling), pixel shuffle x16, de-albino 32 stride 8.
    side = size
    for _ in range(5):
        side = (side + 1) // 2
    return ((16 * side - 32) // 8 + 1) ** 2


class ResNet18ARM(torch.nn.Module):
    def __init__(self, size):
        super().__init__()
        self.features = resnet18_features()
        self.arrangement = torch.nn.PixelShuffle(16)
        self.arm = Amend()
        self.fc = torch.nn.Linear(arm_feature_count(size), NUM_CLASSES)

    def forward(self, x):
        x = self.features(x)
        x = self.arrangement(x)
        x, _ = self.arm(x)
        return self.fc(x.view(x.size(0), -1))


class ResNet18(torch.nn.Module):
    def __init__(self):
        super().__init__()
        self.features = resnet18_features()
        self.avgpool = torch.nn.AdaptiveAvgPool2d(1)
        self.fc = torch.nn.Linear(512, NUM_CLASSES)

    def forward(self, x):
        x = self.avgpool(self.features(x))
        return self.fc(x.view(x.size(0), -1))


def new_model(architecture, size):
    return ResNet18ARM(size) if architecture == "arm" else ResNet18()


@functools.lru_cache(maxsize=None)
def formula_state(architecture, size):
    shapes = {name: tuple(t.shape) for name, t in new_model(architecture, size).state_dict().items()}
    return {name: torch.from_numpy(formula_value(name, shape)) for name, shape in shapes.items()}


def make_model(architecture, size):
    """The model in float64 with the formula's weights."""
    model = new_model(architecture, size).double()
    model.load_state_dict(formula_state(architecture, size), strict=True)
    return model


# ---- one measured pass ---------------------------------------------------------

def run(architecture, size, batch, mode, dtype, perturbation=0):
    """One measured pass: (logits, loss, {param: grad}, {buffer: value after}, calibration passes).

    perturbation > 0 moves every input element one unit in the last place of
    `dtype` up or down (a coin flip seeded by `perturbation`): the same
    function to 1e-7, but every rounding downstream lands differently.
    """
    model = make_model(architecture, size).to(dtype)
    x = torch.from_numpy(formula_input(batch, size)).to(dtype)
    if perturbation:
        up = torch.rand(x.shape, generator=torch.Generator().manual_seed(perturbation)) < 0.5
        x = torch.where(up, torch.nextafter(x, torch.tensor(math.inf, dtype=dtype)),
                        torch.nextafter(x, torch.tensor(-math.inf, dtype=dtype)))
    target = torch.from_numpy(formula_target(batch))
    calibration = CALIBRATION_PASSES if mode == "eval" else 0
    model.train()
    with torch.no_grad():
        for _ in range(calibration):
            model(x)
    model.train(mode == "train")
    logits = model(x)
    loss = torch.nn.functional.cross_entropy(logits, target)
    loss.backward()
    grads = {name: p.grad.detach().double() for name, p in model.named_parameters()}
    buffers = {name: b.detach().double() for name, b in model.named_buffers() if b.is_floating_point()}
    return logits.detach().double(), loss.detach().double(), grads, buffers, calibration


def distance(a, b):
    norm = b.norm().item()
    return (a - b).norm().item() / norm if norm > 0 else (a - b).norm().item()


def sample(t):
    flat = t.flatten()
    stride = max(1, flat.numel() // SAMPLE_COUNT)
    return flat[::stride][:SAMPLE_COUNT].clone()


def make_fixture(architecture, size, batch, mode):
    logits, loss, grads, buffers, calibration = run(architecture, size, batch, mode, torch.float64)
    out = {"logits": logits, "loss": loss, "calibration_passes": torch.tensor(calibration, dtype=torch.int64)}
    for name, g in grads.items():
        out[f"gradnorm.{name}"] = g.norm()
        out[f"gradsample.{name}"] = sample(g)
    for name, b in buffers.items():
        out[f"afternorm.{name}"] = b.norm()
        out[f"aftersample.{name}"] = sample(b)
    # PyTorch's float32 distance: the largest over FLOAT32_RUNS runs (see the
    # module docstring).
    distances = {}
    for perturbation in range(FLOAT32_RUNS):
        logits32, loss32, grads32, buffers32, _ = run(architecture, size, batch, mode, torch.float32, perturbation)
        measured = {"logits": distance(logits32, logits), "loss": distance(loss32, loss)}
        measured.update({f"grad.{name}": distance(grads32[name], g) for name, g in grads.items()})
        measured.update({f"after.{name}": distance(buffers32[name], b) for name, b in buffers.items()})
        for key, value in measured.items():
            distances.setdefault(key, []).append(value)
    for key, values in distances.items():
        out[f"f32dist.{key}"] = torch.tensor(max(values), dtype=torch.float64)
    worst = max(distances, key=lambda k: max(distances[k]))
    return out, worst, distances[worst]


# ---- safetensors, written by hand ------------------------------------------------

SAFETENSORS_DTYPES = {torch.float64: ("F64", "<f8"), torch.int64: ("I64", "<i8")}


def write_safetensors(path, tensors, metadata):
    header = {"__metadata__": metadata}
    blobs = []
    offset = 0
    for name, t in tensors.items():
        code, numpy_dtype = SAFETENSORS_DTYPES[t.dtype]
        blob = t.contiguous().numpy().astype(numpy_dtype).tobytes()
        header[name] = {"dtype": code, "shape": list(t.shape), "data_offsets": [offset, offset + len(blob)]}
        blobs.append(blob)
        offset += len(blob)
    text = json.dumps(header, separators=(",", ":")).encode("utf-8")
    text += b" " * (-len(text) % 8)  # the data starts 8-byte aligned
    temporary = path.with_suffix(".tmp")
    with open(temporary, "wb") as f:
        f.write(struct.pack("<Q", len(text)))
        f.write(text)
        for blob in blobs:
            f.write(blob)
    temporary.replace(path)


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--only", default="", help="write only the fixtures whose name contains this")
    args = parser.parse_args()
    torch.set_num_threads(2)
    FIXTURES.mkdir(parents=True, exist_ok=True)
    metadata = {"generator": "tools/make_fixtures.py", "torch": torch.__version__,
                "torchvision": torchvision.__version__, "formula": "docs/parity.md",
                "float32_runs": str(FLOAT32_RUNS)}
    total = 0
    for architecture, size, batches in CONFIGURATIONS:
        for batch in batches:
            for mode in MODES:
                name = f"{architecture}_{size}_b{batch}_{mode}"
                if args.only not in name:
                    continue
                start = time.time()
                tensors, worst, worst_runs = make_fixture(architecture, size, batch, mode)
                path = FIXTURES / f"{name}.safetensors"
                write_safetensors(path, tensors, metadata)
                total += path.stat().st_size
                print(f"{name}: loss {tensors['loss'].item():.6f}, "
                      f"|logits| max {tensors['logits'].abs().max().item():.3g}, "
                      f"f32dist logits {tensors['f32dist.logits'].item():.2e}, "
                      f"worst f32dist {worst} {min(worst_runs):.1e}..{max(worst_runs):.1e}, "
                      f"{len(tensors)} tensors, {path.stat().st_size // 1024} KiB, {time.time() - start:.1f} s")
    print(f"total {total / 1024:.0f} KiB in {FIXTURES}")


if __name__ == "__main__":
    main()
