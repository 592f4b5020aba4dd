// armnet: the command-line entry point. Each subcommand lives in its own file
// (apps/commands.h); this file only assembles them and turns errors into one
// line and a non-zero exit.
#include <cstdio>
#include <exception>

#include "apps/commands.h"
#include "tensor/error.h"

int main(int argc, char** argv) {
  CLI::App app{"armnet: ResNet-18 + ARM facial expression recognition, without PyTorch"};
  app.require_subcommand(1);
  armnet::apps::add_info_command(app);
  armnet::apps::add_dump_grads_command(app);
  armnet::apps::add_synth_command(app);
  armnet::apps::add_train_command(app);
  armnet::apps::add_test_command(app);
  armnet::apps::add_predict_command(app);
  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& error) {  // also a command's own exit status (CLI::RuntimeError)
    return app.exit(error);
  } catch (const armnet::Error& error) {
    std::fprintf(stderr, "armnet: error: %s\n", error.what());
    return 1;
  } catch (const std::exception& error) {
    std::fprintf(stderr, "armnet: error: %s\n", error.what());
    return 1;
  }
  return 0;
}
