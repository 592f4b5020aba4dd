// armnet: the command-line entry point. Each subcommand lives in its own file
// (apps/commands.h); this file only assembles them and turns errors into one
// line and a non-zero exit.
#include <cstdio>
#include <exception>
#include <new>
#include <string>

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
  // Every failure ends as one line on stderr: the message with control
  // characters escaped (it may quote a hostile file) and a non-zero status.
  auto fail = [](const std::string& message, int status) {
    std::fprintf(stderr, "armnet: error: %s\n", armnet::printable(message, 4000).c_str());
    return status;
  };
  try {
    app.parse(argc, argv);
  } catch (const CLI::RuntimeError& status) {  // a command's own exit status (train interrupted: 130)
    return status.get_exit_code();
  } catch (const CLI::ParseError& error) {
    if (error.get_exit_code() == 0) return app.exit(error);  // --help
    std::string help = "armnet --help";
    for (const CLI::App* command : app.get_subcommands({}))
      if (argc > 1 && command->get_name() == argv[1]) help = armnet::str_cat("armnet ", argv[1], " --help");
    return fail(armnet::str_cat(error.what(), " (", help, " lists what it takes)"), error.get_exit_code());
  } catch (const armnet::Error& error) {
    return fail(error.what(), 1);
  } catch (const std::bad_alloc&) {
    return fail("out of memory (the system refused an allocation): use a smaller --batch_size or --image_size", 1);
  } catch (const std::exception& error) {
    return fail(error.what(), 1);
  }
  return 0;
}
