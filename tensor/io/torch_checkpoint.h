// PyTorch checkpoints as torch.save writes them since 1.6 (a zip archive with
// ARCHIVE/data.pkl and ARCHIVE/data/<storage key>), read without PyTorch.
//
// The pickle is interpreted as data only: the unpickler knows the opcodes of
// protocol 2 that state dicts use and the few globals they name
// (collections.OrderedDict, torch._utils._rebuild_tensor_v2, the torch.*Storage
// types, torch.device); any other global, opcode or reduce target is refused
// with an error. Nothing in the file is ever executed.
#pragma once

#include <string>

#include "tensor/io/safetensors.h"  // NamedTensors

namespace armnet {

// The state dict of the checkpoint at `path`: the top-level dict itself, or
// its "model_state_dict" or "state_dict" entry. Tensors (float32, float64,
// float16, bfloat16, int64, uint8 storages, with storage offsets and strides)
// come back contiguous on the CPU. Errors name the file and what is wrong.
NamedTensors read_torch_checkpoint(const std::string& path);

}  // namespace armnet
