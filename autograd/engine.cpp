#include "autograd/engine.h"

#include <unordered_map>
#include <unordered_set>

#include "kernels/elementwise.h"

namespace armnet::autograd {

static thread_local bool grad_mode = true;

bool grad_mode_enabled() { return grad_mode; }
NoGradGuard::NoGradGuard() : previous_(grad_mode) { grad_mode = false; }
NoGradGuard::~NoGradGuard() { grad_mode = previous_; }

bool needs_grad(std::initializer_list<Tensor> inputs) {
  if (!grad_mode) return false;
  for (const Tensor& input : inputs)
    if (input.defined() && input.requires_grad()) return true;
  return false;
}

Tensor record(const char* op, Tensor output, std::initializer_list<Tensor> inputs, BackwardFn backward) {
  if (!needs_grad(inputs)) return output;
  auto node = std::make_shared<Node>();
  node->op = op;
  node->output_dtype = output.dtype();
  for (const Tensor& input : inputs) {
    Edge edge;
    if (input.defined() && input.requires_grad()) {
      if (input.is_leaf())
        edge.leaf = input.impl_ptr();
      else
        edge.node = input.grad_fn();
    }
    node->edges.push_back(std::move(edge));
  }
  node->backward = std::move(backward);
  output.impl().requires_grad = true;
  output.impl().grad_fn = std::move(node);
  return output;
}

// Adds `gradient` into a leaf's .grad: the first contribution is copied (the
// gradient may alias another op's tensor), later ones are added in place.
static void accumulate_into_leaf(TensorImpl& leaf, const Tensor& gradient) {
  check(gradient.shape() == leaf.shape && gradient.dtype() == leaf.dtype && gradient.device() == leaf.device,
        "backward: gradient ", gradient.describe(), " does not fit its leaf ", dtype_name(leaf.dtype),
        shape_str(leaf.shape), " on ", device_name(leaf.device));
  if (!leaf.grad) {
    leaf.grad = gradient.detach().clone().impl_ptr();
    return;
  }
  Tensor accumulated(leaf.grad);
  kernels::add_into(accumulated, gradient);
}

// Nodes reachable from `root`, each after every Node that feeds it a gradient
// (reverse post-order of an iterative depth-first search).
static std::vector<Node*> topological_order(Node* root) {
  std::vector<Node*> post_order;
  std::unordered_set<Node*> visited{root};
  std::vector<std::pair<Node*, std::size_t>> stack{{root, 0}};
  while (!stack.empty()) {
    auto& [node, next_edge] = stack.back();
    if (next_edge < node->edges.size()) {
      Node* child = node->edges[next_edge++].node.get();
      if (child && visited.insert(child).second) stack.emplace_back(child, 0);
      continue;
    }
    post_order.push_back(node);
    stack.pop_back();
  }
  return {post_order.rbegin(), post_order.rend()};
}

void run_backward(const Tensor& root, const Tensor& gradient) {
  check(root.requires_grad(), "backward() on ", root.describe(), ", which does not require grad");
  Tensor seed = gradient;
  if (!seed.defined()) {
    check(root.numel() == 1, "backward() without a gradient needs a one-element tensor, got ", root.describe());
    seed = Tensor::full(root.shape(), 1.0, root.dtype(), root.device());
  }
  check(seed.shape() == root.shape() && seed.dtype() == root.dtype() && seed.device() == root.device(),
        "backward(): gradient ", seed.describe(), " does not match ", root.describe());
  NoGradGuard no_grad;  // the backward pass itself is not recorded
  if (root.is_leaf()) {
    accumulate_into_leaf(root.impl(), seed);
    return;
  }
  std::unordered_map<Node*, Tensor> pending{{root.grad_fn().get(), seed}};
  for (Node* node : topological_order(root.grad_fn().get())) {
    auto found = pending.find(node);
    if (found == pending.end()) continue;  // no gradient reached this node
    const Tensor grad_output = std::move(found->second);
    pending.erase(found);
    check(static_cast<bool>(node->backward), "backward() through ", node->op,
          " a second time: its saved tensors were freed by the first backward()");
    check(grad_output.dtype() == node->output_dtype, "backward of ", node->op, ": a ", dtype_name(grad_output.dtype()),
          " gradient for its ", dtype_name(node->output_dtype), " output");
    std::vector<Tensor> grads = node->backward(grad_output);
    node->backward = nullptr;  // release saved tensors
    check(grads.size() == node->edges.size(), "backward of ", node->op, " returned ", grads.size(),
          " gradients for ", node->edges.size(), " inputs");
    for (std::size_t i = 0; i < grads.size(); ++i) {
      const Edge& edge = node->edges[i];
      if (!grads[i].defined()) continue;
      if (edge.leaf) {
        accumulate_into_leaf(*edge.leaf, grads[i]);
      } else if (edge.node) {
        auto [slot, inserted] = pending.try_emplace(edge.node.get(), grads[i]);
        if (!inserted) {  // out of place: the earlier gradient may alias another op's tensor
          Tensor sum = Tensor::empty_like(grads[i]);
          kernels::add(slot->second, grads[i], sum);
          slot->second = sum;
        }
      }
    }
  }
}

}  // namespace armnet::autograd
