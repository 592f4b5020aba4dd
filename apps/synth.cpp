// `armnet synth`: writes a synthetic RAF-DB (data/synth.h, docs/synth.md).
#include <chrono>
#include <cstdio>
#include <memory>
#include <string>

#include "apps/commands.h"
#include "data/synth.h"

namespace armnet::apps {

namespace {

struct SynthArguments {
  SynthOptions options;
  std::string balance = "raf";
  std::string examples;  // a contact-sheet PNG instead of a data set
};

void print_counts(const char* split, const SynthClassCounts& counts) {
  std::int64_t total = 0;
  std::printf("  %-5s", split);
  for (int c = 0; c < kRafNumClasses; ++c) {
    std::printf(" %s %-6lld", kRafShortNames[c], static_cast<long long>(counts[c]));
    total += counts[c];
  }
  std::printf(" total %lld\n", static_cast<long long>(total));
}

void run_synth(SynthArguments& arguments) {
  const auto start = std::chrono::steady_clock::now();
  if (!arguments.examples.empty()) {
    write_synthetic_examples(arguments.examples, arguments.options.size, arguments.options.seed);
    std::printf("wrote a contact sheet of the %d classes to %s\n", kRafNumClasses, arguments.examples.c_str());
    return;
  }
  arguments.options.balance = parse_synth_balance(arguments.balance);
  const SynthSummary summary = write_synthetic_raf_db(arguments.options);
  const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  const std::int64_t images = arguments.options.train + arguments.options.test;
  std::printf("synthetic RAF-DB (seed %llu, %dx%d, balance %s) in %s\n",
              static_cast<unsigned long long>(arguments.options.seed), arguments.options.size,
              arguments.options.size, arguments.balance.c_str(), arguments.options.out_dir.c_str());
  print_counts("train", summary.train_counts);
  print_counts("test", summary.test_counts);
  std::printf("labels: %s\nimages: %s\n", summary.label_file.c_str(), summary.image_dir.c_str());
  std::printf("%lld images in %.2f s (%.0f images/s)\n", static_cast<long long>(images), seconds,
              seconds > 0.0 ? images / seconds : 0.0);
}

}  // namespace

void add_synth_command(CLI::App& app) {
  auto arguments = std::make_shared<SynthArguments>();
  CLI::App* command = app.add_subcommand(
      "synth", "Write a synthetic RAF-DB (procedurally drawn faces of the seven expressions) in RAF-DB's layout");
  command->add_option("--out", arguments->options.out_dir, "Directory to write (created if missing)");
  const CLI::Range image_count(std::int64_t{0}, std::int64_t{10'000'000});
  command->add_option("--train", arguments->options.train, "Images in the train split")
      ->check(image_count)
      ->capture_default_str();
  command->add_option("--test", arguments->options.test, "Images in the test split")
      ->check(image_count)
      ->capture_default_str();
  command->add_option("--seed", arguments->options.seed, "Random seed: the same seed writes the same bytes")
      ->check(unsigned_integer())
      ->capture_default_str();
  command->add_option("--size", arguments->options.size, "Image width and height in pixels")
      ->check(CLI::Range(16, 4096))
      ->capture_default_str();
  command->add_option("--balance", arguments->balance, "Class balance: raf (RAF-DB's proportions) or uniform")
      ->check(CLI::IsMember({"raf", "uniform"}))
      ->capture_default_str();
  command->add_option("--examples", arguments->examples,
                      "Instead of a data set, write a PNG contact sheet: one column per class, three rows of "
                      "rising intensity");
  command->callback([arguments] {
    if (arguments->options.out_dir.empty() && arguments->examples.empty()) {
      throw CLI::RequiredError("--out");
    }
    run_synth(*arguments);
  });
}

}  // namespace armnet::apps
