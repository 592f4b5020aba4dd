// Define-by-run reverse-mode autograd, small enough to hold in your head.
//
// An op that sees an input requiring grad (and grad mode on) calls record():
// the output gets a Node that knows, for each input, where its gradient goes
// (an Edge to the input's own Node, or to a leaf's .grad) and a closure that
// maps the output's gradient to the inputs' gradients. backward() sorts the
// Nodes reachable from the root topologically and runs each closure once, in
// reverse order, summing the gradients that meet at a Node. Each closure is
// dropped after it ran, which frees the tensors it saved; a second backward()
// through the same Node is therefore an error, as in PyTorch.
//
// Closures must capture saved tensors with detach() when they are the op's
// own output, or the output would own itself through its Node (a leak).
#pragma once

#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "tensor/tensor.h"

namespace armnet::autograd {

// Where the gradient of one input goes: to the Node that produced it, to a
// leaf's .grad, or nowhere (the input does not require grad).
struct Edge {
  std::shared_ptr<Node> node;
  std::shared_ptr<TensorImpl> leaf;
};

// Maps the output's gradient to one gradient per input (an undefined Tensor
// for an input that gets none).
using BackwardFn = std::function<std::vector<Tensor>(const Tensor& grad_output)>;

struct Node {
  std::string op;           // for messages: "conv2d", "batch_norm2d", ...
  DType output_dtype;       // the dtype of the op's output, which its gradient must have
  std::vector<Edge> edges;  // one per input, in the op's argument order
  BackwardFn backward;      // empty once it has run
};

// Grad mode is per thread and on by default; NoGradGuard turns it off for a
// scope (evaluation, optimizer updates, finite differences).
bool grad_mode_enabled();
class NoGradGuard {
 public:
  NoGradGuard();
  ~NoGradGuard();
  NoGradGuard(const NoGradGuard&) = delete;
  NoGradGuard& operator=(const NoGradGuard&) = delete;

 private:
  bool previous_;
};

// True when an op on these inputs must be recorded.
bool needs_grad(std::initializer_list<Tensor> inputs);

// Makes `output` the recorded result of `op` over `inputs` when needs_grad();
// otherwise returns it unchanged. `inputs` may contain undefined tensors
// (an absent bias); they get no gradient.
Tensor record(const char* op, Tensor output, std::initializer_list<Tensor> inputs, BackwardFn backward);

// Runs the backward pass from `root` (see Tensor::backward).
void run_backward(const Tensor& root, const Tensor& gradient);

}  // namespace armnet::autograd
