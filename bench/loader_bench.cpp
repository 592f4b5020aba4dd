// Loader benchmark: images per second of the training pipeline (decode +
// augment + resize + normalise + random erasing) through armnet::Loader, at
// each worker count, on a RAF-DB-layout set of JPEGs.
//
//   armnet_loader_bench [--data DIR] [--images 2000] [--source_size 100]
//                       [--image_size 224] [--batch 64] [--workers 1,2] [--epochs 2]
//
// Without --data it writes `images` random smooth source_size^2 JPEGs into a
// temporary directory (removed at the end). Each worker count runs one
// warm-up epoch (file cache, allocations), then `epochs` timed epochs; the
// best epoch counts. A second table splits one thread's time per image into
// the stages.
#include <CLI/CLI.hpp>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <ctime>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <thread>

#include "data/image.h"
#include "data/loader.h"
#include "data/raf_db.h"
#include "data/transforms.h"

using namespace armnet;
namespace fs = std::filesystem;

namespace {

double seconds_since(std::chrono::steady_clock::time_point start) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
}

// CPU seconds used so far by this thread or by the whole process: unlike
// wall-clock time, not inflated when other programs share the cores.
double cpu_seconds(clockid_t clock) {
  timespec now{};
  clock_gettime(clock, &now);
  return static_cast<double>(now.tv_sec) + 1e-9 * static_cast<double>(now.tv_nsec);
}
double thread_cpu_seconds() { return cpu_seconds(CLOCK_THREAD_CPUTIME_ID); }
double process_cpu_seconds() { return cpu_seconds(CLOCK_PROCESS_CPUTIME_ID); }

// A smooth random face-sized image: a few low-frequency waves per channel
// plus fine noise, so that JPEG sizes are realistic (not flat, not noise).
Image random_smooth_image(int side, Generator& generator) {
  Image image(side, side);
  double amplitude[3][3], frequency_x[3][3], frequency_y[3][3], phase[3][3], base[3];
  for (int c = 0; c < 3; ++c) {
    base[c] = generator.uniform(60, 190);
    for (int k = 0; k < 3; ++k) {
      amplitude[c][k] = generator.uniform(5, 35);
      frequency_x[c][k] = generator.uniform(0.5, 4.0) * 2 * M_PI / side;
      frequency_y[c][k] = generator.uniform(0.5, 4.0) * 2 * M_PI / side;
      phase[c][k] = generator.uniform(0, 2 * M_PI);
    }
  }
  for (int y = 0; y < side; ++y) {
    for (int x = 0; x < side; ++x) {
      for (int c = 0; c < 3; ++c) {
        double value = base[c] + generator.uniform(-4, 4);
        for (int k = 0; k < 3; ++k) {
          value += amplitude[c][k] * std::sin(frequency_x[c][k] * x + frequency_y[c][k] * y + phase[c][k]);
        }
        image.row(y)[3 * x + c] = static_cast<std::uint8_t>(std::clamp(value, 0.0, 255.0));
      }
    }
  }
  return image;
}

void write_synthetic_set(const fs::path& root, int images, int side) {
  fs::create_directories(root / "EmoLabel");
  fs::create_directories(root / "Image" / "aligned");
  Generator generator(2026);
  std::ofstream list(raf_label_list_path(root.string()));
  for (int i = 0; i < images; ++i) {
    char name[32];
    std::snprintf(name, sizeof(name), "train_%05d.jpg", i + 1);
    write_jpeg(raf_image_path(root.string(), name), random_smooth_image(side, generator), 95);
    list << name << " " << 1 + generator.integer(kRafNumClasses) << "\n";
  }
}

std::vector<int> parse_worker_counts(const std::string& text) {
  std::vector<int> counts;
  std::stringstream stream(text);
  std::string item;
  while (std::getline(stream, item, ',')) counts.push_back(std::stoi(item));
  return counts;
}

struct EpochTime {
  double wall = 0;  // seconds
  double cpu = 0;   // CPU seconds of all threads
};

EpochTime time_epoch(Loader& loader, std::int64_t epoch) {
  const auto start = std::chrono::steady_clock::now();
  const double cpu_start = process_cpu_seconds();
  loader.start_epoch(epoch);
  Batch batch;
  while (loader.next(batch)) {
  }
  return {seconds_since(start), process_cpu_seconds() - cpu_start};
}

// One thread's microseconds per image in each stage, over `samples`.
void print_stage_times(const std::vector<LabeledImage>& samples, int image_size) {
  double decode = 0, augment = 0, resize = 0, normalize = 0, erase = 0;
  std::vector<float> out(3 * static_cast<std::size_t>(image_size) * image_size);
  BilinearResizer resizer;
  Image resized;
  for (std::size_t i = 0; i < samples.size(); ++i) {
    Generator generator(sample_seed(1, 0, static_cast<std::int64_t>(i)));
    double start = thread_cpu_seconds();
    Image image = decode_image(samples[i].path);
    double now = thread_cpu_seconds();
    decode += now - start;
    start = now;
    augment_pixels(image, generator);
    now = thread_cpu_seconds();
    augment += now - start;
    start = now;
    resizer.resize(image, image_size, image_size, resized);
    now = thread_cpu_seconds();
    resize += now - start;
    start = now;
    to_normalized_chw(resized, out.data());
    now = thread_cpu_seconds();
    normalize += now - start;
    start = now;
    random_erase(out.data(), 3, image_size, image_size, generator);
    erase += thread_cpu_seconds() - start;
  }
  const double n = static_cast<double>(samples.size()) / 1e6;
  const double total = decode + augment + resize + normalize + erase;
  std::printf("\none thread, CPU microseconds per image by stage (%zu images)\n\n", samples.size());
  std::printf("| decode | augment (flip/noise) | resize | normalise | erase | total |\n");
  std::printf("| ---: | ---: | ---: | ---: | ---: | ---: |\n");
  std::printf("| %.1f | %.1f | %.1f | %.1f | %.1f | %.1f |\n", decode / n, augment / n, resize / n, normalize / n,
              erase / n, total / n);
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"armnet loader benchmark: training-pipeline images/s per worker count"};
  std::string data_dir;
  int images = 2000, source_size = 100, image_size = 224, batch_size = 64, epochs = 2;
  std::string workers_text = "1,2";
  app.add_option("--data", data_dir, "a RAF-DB layout to read (default: write a synthetic one)");
  app.add_option("--images", images, "synthetic images to write")->check(CLI::PositiveNumber);
  app.add_option("--source_size", source_size, "side of the synthetic JPEGs")->check(CLI::PositiveNumber);
  app.add_option("--image_size", image_size, "the model's input side")->check(CLI::PositiveNumber);
  app.add_option("--batch", batch_size, "batch size")->check(CLI::PositiveNumber);
  app.add_option("--workers", workers_text, "comma-separated worker counts");
  app.add_option("--epochs", epochs, "timed epochs per worker count (the best counts)")->check(CLI::PositiveNumber);
  CLI11_PARSE(app, argc, argv);

  try {
    fs::path temporary;
    if (data_dir.empty()) {
      temporary = fs::temp_directory_path() / ("armnet_loader_bench_" + std::to_string(::getpid()));
      const auto start = std::chrono::steady_clock::now();
      write_synthetic_set(temporary, images, source_size);
      std::printf("wrote %d synthetic %dx%d JPEGs to %s in %.1f s\n", images, source_size, source_size,
                  temporary.c_str(), seconds_since(start));
      data_dir = temporary.string();
    }
    const Dataset dataset = read_raf_db(data_dir);
    const std::vector<LabeledImage>& samples = dataset.train.empty() ? dataset.test : dataset.train;
    std::printf("%zu images, batch %d, output %dx%d, training pipeline (augment + erase), %u hardware threads\n\n",
                samples.size(), batch_size, image_size, image_size, std::thread::hardware_concurrency());

    std::printf("| workers | images/s (wall) | images/s per worker (wall) | images per CPU-second | ms per batch (wall) |\n");
    std::printf("| ---: | ---: | ---: | ---: | ---: |\n");
    for (int workers : parse_worker_counts(workers_text)) {
      LoaderOptions options;
      options.batch_size = batch_size;
      options.image_size = image_size;
      options.augment = true;
      options.sampler = Sampler::Shuffle;
      options.workers = workers;
      Loader loader(samples, options);
      time_epoch(loader, 0);  // warm-up
      EpochTime best{1e30, 1e30};
      for (int epoch = 1; epoch <= epochs; ++epoch) {
        const EpochTime time = time_epoch(loader, epoch);
        best.wall = std::min(best.wall, time.wall);
        best.cpu = std::min(best.cpu, time.cpu);
      }
      const double length = static_cast<double>(loader.epoch_length());
      std::printf("| %d | %.0f | %.0f | %.0f | %.1f |\n", workers, length / best.wall, length / best.wall / workers,
                  length / best.cpu, 1e3 * best.wall / static_cast<double>(loader.batches_per_epoch()));
      std::fflush(stdout);
    }
    print_stage_times(samples, image_size);
    if (!temporary.empty()) fs::remove_all(temporary);
  } catch (const Error& error) {
    std::cerr << "armnet_loader_bench: " << error.what() << "\n";
    return 1;
  }
  return 0;
}
