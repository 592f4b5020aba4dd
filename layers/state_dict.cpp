#include "layers/state_dict.h"

#include <map>
#include <set>

namespace armnet {

namespace {

// "'a', 'b', 'c'", or the first few and how many more.
std::string list_keys(const std::vector<std::string>& keys) {
  constexpr std::size_t kShown = 8;
  std::string text;
  for (std::size_t i = 0; i < keys.size() && i < kShown; ++i) text += str_cat(i ? ", '" : "'", keys[i], "'");
  if (keys.size() > kShown) text += str_cat(" and ", keys.size() - kShown, " more");
  return text;
}

bool starts_with(const std::string& text, const std::string& prefix) { return text.rfind(prefix, 0) == 0; }

}  // namespace

LoadReport load_state_dict(Module& module, const NamedTensors& tensors, bool strict) {
  std::map<std::string, const Tensor*> file_tensors;
  for (const auto& [name, tensor] : tensors) {
    check(tensor.defined(), "load_state_dict: '", name, "' is an undefined tensor");
    check(file_tensors.emplace(name, &tensor).second, "load_state_dict: '", name, "' is given twice");
  }

  // Check everything before copying anything, so that a failed load leaves
  // the module as it was.
  LoadReport report;
  std::vector<std::pair<Tensor, const Tensor*>> copies;  // (module tensor, file tensor)
  std::set<std::string> module_names;
  for (const auto& [name, target] : module.state_dict()) {
    module_names.insert(name);
    const auto found = file_tensors.find(name);
    if (found == file_tensors.end()) {
      report.missing.push_back(name);
      continue;
    }
    const Tensor& source = *found->second;
    check(source.shape() == target.shape(), "load_state_dict: '", name, "' has shape ", shape_str(source.shape()),
          " in the file but ", shape_str(target.shape()), " in the model");
    copies.emplace_back(target, &source);
  }
  for (const auto& [name, tensor] : tensors)
    if (module_names.count(name) == 0) report.unexpected.push_back(name);

  if (strict) {
    std::string problems;
    if (!report.missing.empty())
      problems += str_cat(report.missing.size(), " missing from the file (", list_keys(report.missing), ")");
    if (!report.unexpected.empty())
      problems += str_cat(problems.empty() ? "" : "; ", report.unexpected.size(), " not in the model (",
                          list_keys(report.unexpected), ")");
    check(problems.empty(), "load_state_dict: keys do not match: ", problems);
  }

  // copy_from converts the dtype and is not recorded by autograd.
  for (auto& [target, source] : copies) target.copy_from(*source);
  return report;
}

NamedTensors map_torchvision_resnet18(const NamedTensors& imagenet) {
  const std::pair<const char*, const char*> renames[] = {
      {"conv1.", "features.0."},  {"bn1.", "features.1."},    {"layer1.", "features.4."},
      {"layer2.", "features.5."}, {"layer3.", "features.6."}, {"layer4.", "features.7."}};
  NamedTensors mapped;
  for (const auto& [name, tensor] : imagenet) {
    if (starts_with(name, "fc.")) continue;  // the ImageNet classifier
    std::string new_name = name;  // anything else stays, so that a loader reports it as unexpected
    for (const auto& [from, to] : renames)
      if (starts_with(name, from)) {
        new_name = to + name.substr(std::string(from).size());
        break;
      }
    mapped.emplace_back(new_name, tensor);
  }
  return mapped;
}

}  // namespace armnet
