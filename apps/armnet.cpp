// armnet: the command-line entry point. Each subcommand lives in its own file
// (apps/commands.h); this file only assembles them, adds `armnet help CMD`
// and `armnet --version`, and turns errors into one line and an exit status:
//   0 done, 1 an error while running, 2 a usage error (a mistyped command or
//   flag, a value outside an option's set), 130 interrupted by Ctrl-C.
// Results go to stdout; errors, warnings and progress to stderr.
#include <unistd.h>

#include <algorithm>
#include <csignal>
#include <cstdio>
#include <exception>
#include <memory>
#include <new>
#include <string>
#include <vector>

#include "apps/commands.h"
#include "tensor/error.h"

namespace {

// Ctrl-C in a command that does not handle it itself (train saves its
// checkpoint first, apps/train.cpp): stop at once with the shell's status for
// it. Files are only ever written beside their name and renamed (the
// write-then-rename of every writer), so nothing written is left half done.
extern "C" void exit_on_interrupt(int) {
  const char message[] = "armnet: interrupted\n";
  [[maybe_unused]] const ssize_t ignored = write(STDERR_FILENO, message, sizeof message - 1);
  _exit(130);
}

// The number of single-character insertions, deletions, substitutions and
// swaps of two neighbours that turn `a` into `b` (the optimal string
// alignment distance: "trian" is one swap from "train").
std::size_t edit_distance(const std::string& a, const std::string& b) {
  std::vector<std::vector<std::size_t>> d(a.size() + 1, std::vector<std::size_t>(b.size() + 1));
  for (std::size_t i = 0; i <= a.size(); ++i) d[i][0] = i;
  for (std::size_t j = 0; j <= b.size(); ++j) d[0][j] = j;
  for (std::size_t i = 1; i <= a.size(); ++i)
    for (std::size_t j = 1; j <= b.size(); ++j) {
      d[i][j] = std::min({d[i - 1][j] + 1, d[i][j - 1] + 1, d[i - 1][j - 1] + (a[i - 1] != b[j - 1])});
      if (i > 1 && j > 1 && a[i - 1] == b[j - 2] && a[i - 2] == b[j - 1])
        d[i][j] = std::min(d[i][j], d[i - 2][j - 2] + 1);
    }
  return d[a.size()][b.size()];
}

// " (did you mean NAME?)" for the candidate nearest to `word`, when it is
// near enough to be a typing slip (two edits, or a third of a long word); "".
std::string did_you_mean(const std::string& word, const std::vector<std::string>& candidates) {
  std::string nearest;
  std::size_t best = std::max<std::size_t>(2, word.size() / 3) + 1;
  for (const std::string& candidate : candidates) {
    const std::size_t distance = edit_distance(word, candidate);
    if (distance < best) {
      best = distance;
      nearest = candidate;
    }
  }
  return nearest.empty() ? "" : armnet::str_cat(" (did you mean ", nearest, "?)");
}

std::vector<std::string> command_names(CLI::App& app) {
  std::vector<std::string> names;
  for (const CLI::App* command : app.get_subcommands([](const CLI::App*) { return true; }))
    names.push_back(command->get_name());
  return names;
}

// `armnet help [COMMAND]`. main() runs `armnet help` as `armnet --help` and
// `armnet help CMD` as `armnet CMD --help`, so this callback only meets a
// word that is no command.
void add_help_command(CLI::App& app) {
  auto topic = std::make_shared<std::string>();
  CLI::App* command = app.add_subcommand("help", "Print the help of armnet, or of one command (armnet help train)");
  command->add_option("command", *topic, "The command to describe");
  command->callback([&app, topic] {
    throw armnet::apps::UsageError(armnet::str_cat("help: no command \"", armnet::printable(*topic), "\"",
                                                   did_you_mean(*topic, command_names(app)),
                                                   "; armnet --help lists them"));
  });
}

// The one line an error ends as: the message with control characters escaped
// (it may quote a hostile file) on stderr, and the exit status.
int fail(const std::string& message, int status) {
  std::fprintf(stderr, "armnet: error: %s\n", armnet::printable(message, 4000).c_str());
  return status;
}

// A parse error's line: what CLI11 says, the nearest option for an unknown
// one, and where the help is.
std::string usage_message(const CLI::ParseError& error, CLI::App& app, int argc, char* const* argv) {
  const CLI::App* command = nullptr;
  for (const CLI::App* candidate : app.get_subcommands([](const CLI::App*) { return true; }))
    if (argc > 1 && candidate->get_name() == argv[1]) command = candidate;
  std::string message = error.what();
  if (command != nullptr && dynamic_cast<const CLI::ExtrasError*>(&error) != nullptr) {
    std::vector<std::string> flags;
    for (const CLI::Option* option : command->get_options())
      for (const std::string& name : option->get_lnames()) flags.push_back("--" + name);
    for (int i = 2; i < argc; ++i) {
      const std::string word = argv[i];
      const std::string flag = word.substr(0, word.find('='));
      if (flag.rfind("--", 0) == 0 && std::find(flags.begin(), flags.end(), flag) == flags.end()) {
        message += did_you_mean(flag, flags);
        break;
      }
    }
  }
  const std::string help = command != nullptr ? armnet::str_cat("armnet help ", command->get_name()) : "armnet --help";
  return armnet::str_cat(message, "; ", help, " lists what it takes");
}

}  // namespace

int main(int argc, char** argv) {
  std::signal(SIGINT, exit_on_interrupt);
  CLI::App app{"armnet: ResNet-18 + ARM facial expression recognition, without PyTorch"};
  app.require_subcommand(1);
  app.set_version_flag("--version", [] {
    std::string text = armnet::apps::build_description();
    if (!text.empty() && text.back() == '\n') text.pop_back();
    return text;
  });
  armnet::apps::add_info_command(app);
  armnet::apps::add_dump_grads_command(app);
  armnet::apps::add_synth_command(app);
  armnet::apps::add_train_command(app);
  armnet::apps::add_test_command(app);
  armnet::apps::add_predict_command(app);
  armnet::apps::add_export_command(app);
  armnet::apps::add_explain_command(app);
  add_help_command(app);

  // A first word that is no command: say so, with the nearest one.
  const std::vector<std::string> commands = command_names(app);
  auto is_command = [&](const std::string& word) {
    return std::find(commands.begin(), commands.end(), word) != commands.end();
  };
  if (argc > 1 && argv[1][0] != '-' && !is_command(argv[1]))
    return fail(armnet::str_cat("unknown command \"", armnet::printable(argv[1]), "\"", did_you_mean(argv[1], commands),
                                "; armnet --help lists the commands"),
                2);
  // `armnet help` is `armnet --help`; `armnet help CMD` is `armnet CMD --help`.
  std::vector<char*> arguments(argv, argv + argc);
  char help_flag[] = "--help";
  if (argc == 2 && std::string(argv[1]) == "help") arguments = {argv[0], help_flag};
  if (argc == 3 && std::string(argv[1]) == "help" && is_command(argv[2])) arguments = {argv[0], argv[2], help_flag};
  try {
    app.parse(static_cast<int>(arguments.size()), arguments.data());
  } catch (const CLI::RuntimeError& status) {  // a command's own exit status (train interrupted: 130)
    return status.get_exit_code();
  } catch (const CLI::ParseError& error) {
    if (error.get_exit_code() == 0) return app.exit(error);  // --help, --version
    return fail(usage_message(error, app, static_cast<int>(arguments.size()), arguments.data()), 2);
  } catch (const armnet::apps::UsageError& error) {
    return fail(error.what(), 2);
  } catch (const armnet::Error& error) {
    return fail(error.what(), 1);
  } catch (const std::bad_alloc&) {
    return fail(
        "out of memory (the system refused an allocation): use a "
        "smaller --batch_size or --image_size",
        1);
  } catch (const std::exception& error) {
    return fail(error.what(), 1);
  }
  return 0;
}
