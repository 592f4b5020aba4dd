// The subcommands of `armnet`, one file each in apps/. Each add_*_command
// adds its subcommand, flags and callback to the CLI11 app; the callback
// throws armnet::Error on bad input, which main() turns into one line on
// stderr and exit status 1. A command that ends with another status (train
// interrupted by Ctrl-C: 130) throws CLI::RuntimeError(status).
#pragma once

#include <CLI/CLI.hpp>

namespace armnet::apps {

void add_info_command(CLI::App& app);        // apps/info.cpp
void add_dump_grads_command(CLI::App& app);  // apps/dump_grads.cpp
void add_synth_command(CLI::App& app);       // apps/synth.cpp
void add_train_command(CLI::App& app);       // apps/train.cpp
void add_test_command(CLI::App& app);        // apps/test.cpp
void add_predict_command(CLI::App& app);     // apps/predict.cpp

}  // namespace armnet::apps
