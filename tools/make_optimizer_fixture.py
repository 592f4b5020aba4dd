#!/usr/bin/python3
"""Writes the fixture that tests/test_optimizer.cpp compares armnet's Adam and SGD with.

Run with Debian's python3-torch (torch 1.13):

    /usr/bin/python3 tools/make_optimizer_fixture.py

The test never needs PyTorch: the file is committed. Three parameters
(PARAMETERS) start from a formula and take STEPS steps of torch.optim.Adam and
of torch.optim.SGD with momentum, each step with a gradient from a formula
that changes with the step; "bias" gets no gradient at step SKIP_STEP (its
grad is None, so PyTorch skips it and its step count stays behind). Each
optimizer runs once in float64 and once in float32 from the same values.

The formula, for parameter number k (its position in PARAMETERS), element i
(row-major) and step t = 1..STEPS; every value is a small multiple of a power
of two, so it is exact in float32 and float64 and tests/test_optimizer.cpp
computes the same bits:

    initial(k, i) = ((7 i + 3 k) mod 17 - 8) / 8 + 1/32
    grad(k, i, t) = ((5 i + 11 k + 3 t) mod 13 - 6) * (t + 3) / 16

The file holds (float64 unless said):
  init.<name>                    the initial parameter
  grad.<name>.<t>                the gradient of step t (absent when skipped)
  adam.<name>.<t>, sgd.<name>.<t>      the float64 parameter after step t
  adam32.<name>.<t>, sgd32.<name>.<t>  the float32 run's parameter after step
                                 t, widened to float64 (exactly)
  adam.exp_avg.<name>, adam.exp_avg_sq.<name>, sgd.momentum_buffer.<name>
                                 the float64 run's state after the last step
  adam.step.<name>, sgd.step.<name>    int64 [] steps taken by the parameter
  hyper.<optimizer>.<option>     [] the options the runs used
"""
import pathlib

import numpy as np
import torch

from make_fixtures import write_safetensors  # the one hand-written safetensors writer

FIXTURE = pathlib.Path(__file__).resolve().parent.parent / "tests" / "fixtures" / "optimizer_steps.safetensors"
PARAMETERS = [("weight", (3, 4)), ("bias", (4,)), ("scale", (2, 1, 3))]
STEPS = 5
SKIP_NAME, SKIP_STEP = "bias", 3
ADAM = {"lr": 0.01, "betas": (0.9, 0.999), "eps": 1e-8, "weight_decay": 1e-4}
SGD = {"lr": 0.05, "momentum": 0.9, "weight_decay": 1e-4}


def initial(k, shape):
    i = np.arange(int(np.prod(shape)), dtype=np.int64)
    return torch.from_numpy((((7 * i + 3 * k) % 17 - 8) / 8.0 + 1.0 / 32.0).reshape(shape))


def gradient(k, shape, t):
    i = np.arange(int(np.prod(shape)), dtype=np.int64)
    return torch.from_numpy((((5 * i + 11 * k + 3 * t) % 13 - 6) * (t + 3) / 16.0).reshape(shape))


def run(kind, dtype):
    """The parameters after each step ({name: [after step 1, ...]}) and the optimizer."""
    params = [initial(k, shape).to(dtype).requires_grad_() for k, (_, shape) in enumerate(PARAMETERS)]
    if kind == "adam":
        optimizer = torch.optim.Adam(params, foreach=False, **ADAM)
    else:
        optimizer = torch.optim.SGD(params, foreach=False, **SGD)
    history = {name: [] for name, _ in PARAMETERS}
    for t in range(1, STEPS + 1):
        for k, (name, shape) in enumerate(PARAMETERS):
            skipped = name == SKIP_NAME and t == SKIP_STEP
            params[k].grad = None if skipped else gradient(k, shape, t).to(dtype)
        optimizer.step()
        for k, (name, _) in enumerate(PARAMETERS):
            history[name].append(params[k].detach().clone())
    return history, optimizer, params


def main():
    torch.set_num_threads(1)
    out = {}
    for k, (name, shape) in enumerate(PARAMETERS):
        out[f"init.{name}"] = initial(k, shape)
        for t in range(1, STEPS + 1):
            if not (name == SKIP_NAME and t == SKIP_STEP):
                out[f"grad.{name}.{t}"] = gradient(k, shape, t)
    for kind in ("adam", "sgd"):
        for dtype, prefix in ((torch.float64, kind), (torch.float32, kind + "32")):
            history, optimizer, params = run(kind, dtype)
            for name, values in history.items():
                for t, value in enumerate(values, start=1):
                    out[f"{prefix}.{name}.{t}"] = value.to(torch.float64)
            if dtype != torch.float64:
                continue
            for (name, _), param in zip(PARAMETERS, params):
                state = optimizer.state[param]
                buffers = ("exp_avg", "exp_avg_sq") if kind == "adam" else ("momentum_buffer",)
                for buffer in buffers:
                    out[f"{kind}.{buffer}.{name}"] = state[buffer].detach().clone()
                # Adam keeps the step as a float tensor, SGD not at all: count the gradients given.
                steps = STEPS - (1 if name == SKIP_NAME else 0)
                if kind == "adam":
                    assert int(state["step"].item()) == steps
                out[f"{kind}.step.{name}"] = torch.tensor(steps, dtype=torch.int64)
    for option, value in (("lr", ADAM["lr"]), ("beta1", ADAM["betas"][0]), ("beta2", ADAM["betas"][1]),
                          ("eps", ADAM["eps"]), ("weight_decay", ADAM["weight_decay"])):
        out[f"hyper.adam.{option}"] = torch.tensor(value, dtype=torch.float64)
    for option in ("lr", "momentum", "weight_decay"):
        out[f"hyper.sgd.{option}"] = torch.tensor(SGD[option], dtype=torch.float64)
    FIXTURE.parent.mkdir(parents=True, exist_ok=True)
    write_safetensors(FIXTURE, out, {"generator": "tools/make_optimizer_fixture.py", "torch": torch.__version__})
    print(f"{len(out)} tensors, {FIXTURE.stat().st_size} bytes in {FIXTURE}")


if __name__ == "__main__":
    main()
