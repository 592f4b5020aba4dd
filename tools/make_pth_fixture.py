#!/usr/bin/python3
"""Writes the PyTorch checkpoint fixtures that tests/test_weights_io.cpp reads.

Run with Debian's python3-torch (torch 1.13) and python3-torchvision:

    /usr/bin/python3 tools/make_pth_fixture.py

It writes into tests/data/ (the files are committed; the tests never need
PyTorch):

- small_state_dict.pth: one tensor of each dtype armnet reads, with the
  layouts torch.save produces: a transpose (strides differ from row-major),
  a view with a storage offset sharing its storage with another entry, an
  int64 scalar, and an nn.Parameter (pickled through _rebuild_parameter).
- reference_checkpoint.pth: {'iter', 'model_state_dict', 'optimizer_state_dict'}
  as the reference training script saves it, with a real Adam state after
  one step on a tiny model.
- malicious.pth: a zip whose data.pkl calls os.system via GLOBAL + REDUCE.
  The pickle is written byte by byte here and never unpickled.
- torchvision_resnet18_keys.txt: every key of torchvision's ResNet-18 state
  dict with its shape, one "name size size ..." line each.

Every tensor value is a simple formula of its index so that the C++ test can
state the expected values; they are printed as well.
"""
import collections
import pathlib
import zipfile

import torch
import torchvision

DATA = pathlib.Path(__file__).resolve().parent.parent / "tests" / "data"


def write_small_state_dict(path):
    base = torch.arange(12, dtype=torch.float32) * 0.5 - 2.0  # -2.0, -1.5, ..., 3.5
    grid = torch.arange(12, dtype=torch.float32).reshape(3, 4) + 0.25  # row-major 0.25 .. 11.25
    state = collections.OrderedDict()
    state["fc.weight"] = torch.tensor([[1.0, -2.0, 3.5], [0.125, 1e-3, -7.0]], dtype=torch.float32)
    state["half"] = torch.tensor([0.5, -1.25, 3.0, 65504.0], dtype=torch.float16)
    state["bfloat"] = torch.tensor([1.0, -0.5, 256.0], dtype=torch.bfloat16)
    state["double"] = torch.tensor([[0.1, -0.2], [1e-300, 12345.678]], dtype=torch.float64)
    state["bn.num_batches_tracked"] = torch.tensor(1099511627779, dtype=torch.int64)  # 2^40 + 3, shape []
    state["bytes"] = torch.tensor([0, 7, 255], dtype=torch.uint8)
    state["transposed"] = grid.t()  # shape [4, 3], strides [1, 4]
    state["base"] = base  # shape [12]
    state["tail"] = base[7:]  # shape [5], storage offset 7, the same storage as "base"
    state["column"] = grid[1:, 2]  # shape [2], storage offset 6, stride 4, the storage of "transposed"
    state["param"] = torch.nn.Parameter(torch.tensor([4.0, 5.0]))
    state["empty"] = torch.zeros(0, 3)
    torch.save(state, path)
    for key, value in state.items():
        print(f"{path.name} {key}: {value.dtype} {list(value.shape)} stride {list(value.stride())} "
              f"offset {value.storage_offset()} {value.detach().flatten().tolist()}")


def write_reference_checkpoint(path):
    torch.manual_seed(0)
    model = torch.nn.Sequential(torch.nn.Conv2d(1, 2, 1, bias=False), torch.nn.BatchNorm2d(2),
                                torch.nn.Flatten(), torch.nn.Linear(2, 3))
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-3, weight_decay=1e-4)
    loss = torch.nn.functional.cross_entropy(model(torch.randn(4, 1, 1, 1)), torch.tensor([0, 1, 2, 1]))
    loss.backward()
    optimizer.step()
    # After the real step, the model's tensors are set to formulas the test
    # can state: element i of every floating tensor is 0.25 * i - 1.
    with torch.no_grad():
        for tensor in model.state_dict().values():
            if tensor.is_floating_point():
                tensor.copy_((torch.arange(tensor.numel(), dtype=torch.float64) * 0.25 - 1.0).reshape(tensor.shape))
    checkpoint = {"iter": 3, "model_state_dict": model.state_dict(),
                  "optimizer_state_dict": optimizer.state_dict()}
    torch.save(checkpoint, path)
    for key, value in checkpoint["model_state_dict"].items():
        print(f"{path.name} model_state_dict {key}: {value.dtype} {list(value.shape)} {value.flatten().tolist()}")


def write_malicious(path):
    pickle = (b"\x80\x02"                       # PROTO 2
              b"cos\nsystem\n"                  # GLOBAL os.system
              b"\x8c\x0aecho pwned"             # SHORT_BINUNICODE 'echo pwned'
              b"\x85"                           # TUPLE1
              b"R"                              # REDUCE: os.system('echo pwned')
              b".")                             # STOP
    with zipfile.ZipFile(path, "w", zipfile.ZIP_STORED) as archive:
        for name, contents in (("malicious/data.pkl", pickle), ("malicious/version", b"3\n")):
            archive.writestr(zipfile.ZipInfo(name, date_time=(1980, 1, 1, 0, 0, 0)), contents)
    print(f"{path.name}: {len(pickle)}-byte data.pkl calling os.system")


def write_torchvision_keys(path):
    state = torchvision.models.resnet18().state_dict()
    lines = [" ".join([key] + [str(size) for size in value.shape]) for key, value in state.items()]
    path.write_text("\n".join(lines) + "\n")
    print(f"{path.name}: {len(lines)} keys")


def main():
    DATA.mkdir(parents=True, exist_ok=True)
    write_small_state_dict(DATA / "small_state_dict.pth")
    write_reference_checkpoint(DATA / "reference_checkpoint.pth")
    write_malicious(DATA / "malicious.pth")
    write_torchvision_keys(DATA / "torchvision_resnet18_keys.txt")
    for file in sorted(DATA.glob("*.pth")) + sorted(DATA.glob("*.txt")):
        print(f"{file.name}: {file.stat().st_size} bytes")


if __name__ == "__main__":
    main()
