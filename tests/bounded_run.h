// Running a piece of code, or the armnet program, in a child process with a
// time limit, measuring its peak memory: how the tests prove that hostile
// input ends in a clear error within bounded time and memory (a crash, a hang
// or a memory bomb in the child is then a finding, not the end of the test).
#pragma once

#include <sys/types.h>

#include <cstdint>
#include <functional>
#include <string>
#include <utility>
#include <vector>

namespace armnet::testing {

struct BoundedRun {
  enum class Outcome { Accepted, Refused, OtherException, Crashed, TimedOut };
  Outcome outcome = Outcome::Crashed;
  std::string message;            // Refused: the armnet::Error's message; else what happened
  double seconds = 0.0;           // wall time
  std::int64_t peak_mib = 0;      // peak resident memory beyond what the child started with
};
const char* outcome_name(BoundedRun::Outcome outcome);

// Runs `body` in a forked child, killed after `time_limit` seconds. What
// `body` returns comes back as the message of an Accepted run. `body` must
// not use OpenMP (the child of a process that did may hang).
BoundedRun run_bounded(const std::function<std::string()>& body, double time_limit);

// ---- the armnet program ----

struct RunResult {
  int status = -1;  // exit status, or 128 + signal
  std::string out, err;
  double seconds = 0.0;
  std::int64_t peak_mib = 0;  // the program's peak resident memory (sampled every few ms)
  bool timed_out = false;
};

// Variables set for the armnet program on top of this process's environment.
using Environment = std::vector<std::pair<std::string, std::string>>;

// Starts the armnet program with `arguments`, stdout and stderr into files.
pid_t spawn_armnet(const std::vector<std::string>& arguments, const std::string& out_path,
                   const std::string& err_path, const Environment& environment = {});
// Waits for it (killing it after `time_limit` seconds): status, time, memory.
RunResult wait_for_armnet(pid_t pid, double time_limit = 1800);
// Both, with the output read back (and logged).
RunResult run_armnet(const std::vector<std::string>& arguments, double time_limit = 1800);
RunResult run_armnet(const std::vector<std::string>& arguments, const Environment& environment,
                     double time_limit = 1800);

// True when `text` holds `fragment` (for a run's output).
bool contains(const std::string& text, const std::string& fragment);
// A failed run: exit `status` and its stderr one line "armnet: error: ..."
// that holds every fragment.
void expect_one_line_error(const RunResult& result, const std::vector<std::string>& fragments, int status = 1);

// The peak resident memory of this process so far (getrusage), in MiB.
std::int64_t peak_memory_mib();

}  // namespace armnet::testing
