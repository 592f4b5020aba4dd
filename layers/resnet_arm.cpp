// ResNet-18 + ARM and the baseline ResNet-18 (ARM-SPEC section 1; shapes in
// docs/model.md). Module names are the reference's state-dict keys.
#include "layers/resnet_arm.h"

#include "autograd/functional.h"
#include "layers/layers.h"

namespace armnet {

namespace {

constexpr double kGlobalMeanMomentum = 0.1;  // as BatchNorm's running statistics

// The output side of a convolution or pooling window over `input` pixels.
int output_side(int input, int kernel, int stride, int padding) { return (input + 2 * padding - kernel) / stride + 1; }

// The side of the de-albino output (11 for 224), or an Error when the
// shuffled map is smaller than the kernel.
int de_albino_output_side(int image_size) {
  check(image_size > 0, "ARM: image size ", image_size, " must be positive");
  const int side = resnet_feature_side(image_size);
  const int shuffled = kShuffleFactor * side;
  if (shuffled < kDeAlbinoKernel) {
    int smallest = image_size;
    while (kShuffleFactor * resnet_feature_side(smallest) < kDeAlbinoKernel) ++smallest;
    throw Error(str_cat("ARM: image size ", image_size, " is too small: ResNet-18 maps it to ", side, "x", side,
                        ", the pixel shuffle to ", shuffled, "x", shuffled, ", smaller than the ", kDeAlbinoKernel, "x",
                        kDeAlbinoKernel, " de-albino kernel; the smallest image size that works is ", smallest));
  }
  return output_side(shuffled, kDeAlbinoKernel, kDeAlbinoStride, 0);
}

void check_images(const char* model, const Tensor& images) {
  check(images.ndim() == 4 && images.size(1) == 3, model, ": expected images [N, 3, H, W], got ", images.describe());
}

// `features` (features.0 .. features.7) on the images: a trace's last_stage.
// For TraceGraph::FromLastStageAsLeaf the backbone runs without recording
// (no gradient could pass the leaf anyway) and its output becomes a leaf that
// requires grad.
Tensor run_backbone(Module& features, const Tensor& images, TraceGraph graph) {
  if (graph == TraceGraph::Whole) return features.forward(images);
  Tensor last_stage;
  {
    autograd::NoGradGuard no_grad;
    last_stage = features.forward(images);
  }
  last_stage.requires_grad_(true);
  return last_stage;
}

// torchvision's BasicBlock: relu(bn2(conv2(relu(bn1(conv1(x))))) + shortcut),
// the shortcut being x or downsample(x) = bn(conv 1x1 stride s (x)).
class BasicBlock : public Module {
 public:
  BasicBlock(int in_channels, int out_channels, int stride, Generator& generator) {
    conv1_ = register_module("conv1", std::make_shared<Conv2d>(in_channels, out_channels, 3, stride, 1, generator));
    bn1_ = register_module("bn1", std::make_shared<BatchNorm2d>(out_channels));
    conv2_ = register_module("conv2", std::make_shared<Conv2d>(out_channels, out_channels, 3, 1, 1, generator));
    bn2_ = register_module("bn2", std::make_shared<BatchNorm2d>(out_channels));
    if (stride != 1 || in_channels != out_channels) {
      auto downsample = std::make_shared<Sequential>();
      downsample->append(std::make_shared<Conv2d>(in_channels, out_channels, 1, stride, 0, generator));
      downsample->append(std::make_shared<BatchNorm2d>(out_channels));
      downsample_ = register_module("downsample", downsample);
    }
  }

  Tensor forward(const Tensor& x) override {
    Tensor out = relu(bn1_->forward(conv1_->forward(x)));
    out = bn2_->forward(conv2_->forward(out));
    const Tensor shortcut = downsample_ ? downsample_->forward(x) : x;
    return add_relu(out, shortcut);
  }

 private:
  std::shared_ptr<Conv2d> conv1_, conv2_;
  std::shared_ptr<BatchNorm2d> bn1_, bn2_;
  std::shared_ptr<Sequential> downsample_;  // null for an identity shortcut
};

// ResNet-18 without avgpool and fc, indexed as the reference's `features`:
// 0 conv1, 1 bn1, 2 relu, 3 maxpool, 4..7 layer1..layer4 (two blocks each).
std::shared_ptr<Sequential> make_resnet18_features(Generator& generator) {
  auto features = std::make_shared<Sequential>();
  features->append(std::make_shared<Conv2d>(3, 64, 7, 2, 3, generator));
  features->append(std::make_shared<BatchNorm2d>(64));
  features->append(std::make_shared<ReLU>());
  features->append(std::make_shared<MaxPool2d>(3, 2, 1));
  int in_channels = 64;
  for (int width : {64, 128, 256, kFeatureChannels}) {
    const int stride = width == 64 ? 1 : 2;
    auto stage = std::make_shared<Sequential>();
    stage->append(std::make_shared<BasicBlock>(in_channels, width, stride, generator));
    stage->append(std::make_shared<BasicBlock>(width, width, 1, generator));
    features->append(stage);
    in_channels = width;
  }
  return features;
}

// The reference's Amend module `arm`: x [N, 2, H, W] (the shuffled features)
// -> de-albino (one 32x32 kernel, stride 8, per channel) -> bn -> the mean
// over channels plus alpha times the batch-global mean -> [N, h*w]. It is
// run through amend(), which records each step in a ForwardTrace.
//
// Tensors in PyTorch's order (own parameters, own buffers, children): alpha,
// [global_running_mean, only with batch_independent_eval], de_albino.weight,
// bn.*.
class AmendModule : public Module {
 public:
  AmendModule(int output_side, bool batch_independent_eval, Generator& generator) {
    alpha_ = register_parameter("alpha", Tensor::ones({1}));
    if (batch_independent_eval)
      global_running_mean_ = register_buffer("global_running_mean", Tensor::zeros({1, 1, output_side, output_side}));
    de_albino_ = register_module("de_albino",
                                 std::make_shared<SharedChannelConv2d>(kDeAlbinoKernel, kDeAlbinoStride, generator));
    bn_ = register_module("bn", std::make_shared<BatchNorm2d>(2));
  }

  // Fills the ARM's fields of `trace` from trace.shuffled [N, 2, H, W].
  void amend(ForwardTrace& trace) {
    trace.de_albino = de_albino_->forward(trace.shuffled);                  // [N, 2, h, w]
    trace.amended_bn = bn_->forward(trace.de_albino);                       // [N, 2, h, w]
    trace.channel_mean = mean(trace.amended_bn, {1}, true);                 // [N, 1, h, w]
    trace.global_term = mul(alpha_, global_mean(trace.amended_bn));         // [1, 1, h, w]
    trace.amended = add(trace.channel_mean, trace.global_term).flatten();  // [N, h*w]
  }

  const Tensor& alpha() const { return alpha_; }

 private:
  // The mean over the batch and channel axes of the current batch (the
  // reference, in training and evaluation alike). With the batch-independent
  // option, training also folds it into the running buffer, and evaluation
  // uses the buffer instead.
  Tensor global_mean(const Tensor& amended) {
    if (global_running_mean_.defined() && !is_training()) return global_running_mean_;
    Tensor global = mean(amended, {0, 1}, true);
    if (global_running_mean_.defined()) {
      autograd::NoGradGuard no_grad;
      const DType dtype = global.dtype();
      const Device device = global.device();
      const Tensor kept = mul(global_running_mean_, Tensor::full({1}, 1.0 - kGlobalMeanMomentum, dtype, device));
      const Tensor added = mul(global.detach(), Tensor::full({1}, kGlobalMeanMomentum, dtype, device));
      global_running_mean_.copy_from(add(kept, added));
    }
    return global;
  }

  Tensor alpha_;
  Tensor global_running_mean_;  // undefined unless batch_independent_eval
  std::shared_ptr<SharedChannelConv2d> de_albino_;
  std::shared_ptr<BatchNorm2d> bn_;
};

// The reference's ResNet18_ARM: features -> pixel shuffle 16 -> arm ->
// dropout -> fc.
class ResNet18Arm : public Classifier {
 public:
  explicit ResNet18Arm(const ModelOptions& options) : Classifier(options) {
    const int amended_side = de_albino_output_side(options.image_size);  // refuses small sizes first
    Generator generator(options.seed);
    // First, so that a bad drop_rate is refused before the weights are drawn.
    dropout_ = register_module("dropout", std::make_shared<Dropout>(options.drop_rate, generator.next_u64()));
    features_ = register_module("features", make_resnet18_features(generator));
    arm_ =
        register_module("arm", std::make_shared<AmendModule>(amended_side, options.batch_independent_eval, generator));
    fc_ = register_module("fc", std::make_shared<Linear>(amended_side * amended_side, options.num_classes, generator));
  }

  ForwardTrace trace(const Tensor& images, TraceGraph graph) override {
    check_images("ResNet18_ARM", images);
    const std::int64_t size = options_.image_size;
    check(images.size(2) == size && images.size(3) == size, "ResNet18_ARM: built for ", size, "x", size,
          " images (its fc width follows the size), got ", images.describe());
    ForwardTrace trace;
    trace.last_stage = run_backbone(*features_, images, graph);       // [N, 512, s, s]
    trace.shuffled = pixel_shuffle(trace.last_stage, kShuffleFactor);  // [N, 2, 16s, 16s]
    arm_->amend(trace);                                                // ... trace.amended [N, h*w]
    trace.logits = fc_->forward(dropout_->forward(trace.amended));     // [N, num_classes]
    return trace;
  }

  Tensor alpha() const override { return arm_->alpha(); }
  Generator& dropout_generator() override { return dropout_->generator(); }

 private:
  std::shared_ptr<Sequential> features_;
  std::shared_ptr<AmendModule> arm_;
  std::shared_ptr<Linear> fc_;
  std::shared_ptr<Dropout> dropout_;
};

// The reference's baseline ResNet18: features -> global average pool ->
// dropout -> fc (512 -> classes). Any image size works.
class ResNet18 : public Classifier {
 public:
  explicit ResNet18(const ModelOptions& options) : Classifier(options) {
    Generator generator(options.seed);
    dropout_ = register_module("dropout", std::make_shared<Dropout>(options.drop_rate, generator.next_u64()));
    features_ = register_module("features", make_resnet18_features(generator));
    fc_ = register_module("fc", std::make_shared<Linear>(kFeatureChannels, options.num_classes, generator));
  }

  ForwardTrace trace(const Tensor& images, TraceGraph graph) override {
    check_images("ResNet18", images);
    ForwardTrace trace;
    trace.last_stage = run_backbone(*features_, images, graph);  // [N, 512, s, s]
    const Tensor pooled = global_avg_pool2d(trace.last_stage);   // [N, 512]
    trace.logits = fc_->forward(dropout_->forward(pooled));
    return trace;
  }

  Generator& dropout_generator() override { return dropout_->generator(); }

 private:
  std::shared_ptr<Sequential> features_;
  std::shared_ptr<Linear> fc_;
  std::shared_ptr<Dropout> dropout_;
};

}  // namespace

// conv1 (7x7 s2 p3), the max pool (3x3 s2 p1), then layer2..4 each halve
// the side (3x3 s2 p1).
int resnet_feature_side(int image_size) {
  int side = output_side(image_size, 7, 2, 3);
  side = output_side(side, 3, 2, 1);
  for (int stage = 0; stage < 3; ++stage) side = output_side(side, 3, 2, 1);
  return side;
}

int arm_feature_count(int image_size) {
  const int side = de_albino_output_side(image_size);
  return side * side;
}

std::shared_ptr<Classifier> make_model(const ModelOptions& options) {
  if (options.architecture == "arm") return std::make_shared<ResNet18Arm>(options);
  if (options.architecture == "resnet18") return std::make_shared<ResNet18>(options);
  throw Error(str_cat("unknown architecture \"", options.architecture, "\": expected \"arm\" or \"resnet18\""));
}

}  // namespace armnet
