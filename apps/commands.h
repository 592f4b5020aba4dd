// The subcommands of `armnet`, one file each in apps/. Each add_*_command
// adds its subcommand, flags and callback to the CLI11 app; the callback
// throws armnet::Error on bad input, which main() turns into one line on
// stderr and exit status 1 (UsageError: 2). A command that ends with another
// status (train interrupted by Ctrl-C: 130) throws CLI::RuntimeError(status).
#pragma once

#include <CLI/CLI.hpp>
#include <cstdint>
#include <memory>
#include <string>

#include "autograd/autocast.h"
#include "data/dataset.h"
#include "tensor/device.h"
#include "tensor/error.h"

namespace armnet::apps {

void add_info_command(CLI::App& app);        // apps/info.cpp
void add_dump_grads_command(CLI::App& app);  // apps/dump_grads.cpp
void add_synth_command(CLI::App& app);       // apps/synth.cpp
void add_train_command(CLI::App& app);       // apps/train.cpp
void add_test_command(CLI::App& app);        // apps/test.cpp
void add_predict_command(CLI::App& app);     // apps/predict.cpp
void add_export_command(CLI::App& app);      // apps/export.cpp
void add_explain_command(CLI::App& app);     // apps/explain.cpp

// A mistake in how a command was called (a flag's value, flags that do not
// go together, an unknown command): main() prints it as one line, as any
// error, but exits with status 2, as argparse and most Unix tools do.
// Errors met while running (a missing file, a corrupt image) stay Error: 1.
class UsageError : public Error {
 public:
  using Error::Error;
};

// What this build offers (apps/info.cpp): `armnet info`, `armnet --version`.
std::string build_description();

// Checks of numbers given on the command line, applied to the text before
// CLI11 converts it (apps/flags.cpp): CLI11 alone turns "-1" and
// "18446744073709551616" into 2^64-1 for an unsigned option, and takes "nan"
// and "inf" as numbers.
CLI::Validator unsigned_integer();  // decimal digits only, at most 2^64-1
CLI::Validator finite_number();     // a finite decimal number
// --max_image_pixels on the commands that decode images.
void add_max_image_pixels_option(CLI::App& command, std::int64_t& max_image_pixels);
// The data set flags of train and test (data/dataset.h, docs/data.md):
// --data DIR_OR_FILE (--raf_path, its old name), --data_format
// raf|folder|fer2013|affectnet, --test_split PublicTest|PrivateTest|both,
// --affectnet_classes 7|8, --limit_train N, --limit_test N.
void add_data_options(CLI::App& command, std::string& path, std::string& format, std::string& test_split,
                      int& affectnet_classes, std::int64_t& limit_train, std::int64_t& limit_test);
// What read_dataset needs of those flags (and the subsets' seed).
DatasetOptions dataset_options_from_flags(const std::string& format, const std::string& test_split,
                                          int affectnet_classes, std::int64_t limit_train, std::int64_t limit_test,
                                          std::uint64_t seed);
// --device cpu|cuda on the commands that run the model.
void add_device_option(CLI::App& command, std::string& device);
// --amp off|O1|O2 and --amp_dtype fp16|bf16 (mixed precision,
// docs/mixed-precision.md) on the commands that run the model.
void add_amp_options(CLI::App& command, std::string& amp, std::string& amp_dtype);
// The 16-bit inference policy those flags name: null for --amp off.
std::unique_ptr<Autocast> autocast_from_flags(const std::string& amp, const std::string& amp_dtype);
// The device a --device value names, refused in one clear line when it
// cannot be used here (a build without CUDA, no usable GPU: the reason).
Device device_from_flag(const std::string& device);

}  // namespace armnet::apps
