#include "tests/bounded_run.h"

#include <fcntl.h>
#include <signal.h>
#include <spawn.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <boost/test/unit_test.hpp>
#include <chrono>
#include <cstring>
#include <exception>
#include <filesystem>
#include <thread>
#include <typeinfo>

#include "tensor/error.h"
#include "tests/gradcheck.h"

extern char** environ;

namespace armnet::testing {

namespace fs = std::filesystem;

namespace {

using Clock = std::chrono::steady_clock;

double seconds_since(Clock::time_point start) { return std::chrono::duration<double>(Clock::now() - start).count(); }

// The resident memory of this process now, from /proc/self/statm, in KiB.
std::int64_t resident_kib() {
  long pages_total = 0, pages_resident = 0;
  if (std::FILE* statm = std::fopen("/proc/self/statm", "r")) {
    if (std::fscanf(statm, "%ld %ld", &pages_total, &pages_resident) != 2) pages_resident = 0;
    std::fclose(statm);
  }
  return static_cast<std::int64_t>(pages_resident) * (::sysconf(_SC_PAGE_SIZE) / 1024);
}

// The peak resident memory (VmHWM) of process `pid` so far, in KiB; 0 when
// it cannot be read (the process has ended).
std::int64_t high_water_kib(pid_t pid) {
  std::int64_t kib = 0;
  if (std::FILE* status = std::fopen(str_cat("/proc/", pid, "/status").c_str(), "r")) {
    char line[256];
    while (std::fgets(line, sizeof line, status) != nullptr)
      if (std::sscanf(line, "VmHWM: %ld kB", &kib) == 1) break;
    std::fclose(status);
  }
  return kib;
}

// Waits for `pid` until `deadline`, then kills it; its status and usage.
// `high_water_kib` is its VmHWM as last seen while it ran: unlike
// ru_maxrss, which a spawned child inherits from its (larger) parent, exec
// starts it afresh.
struct Ended {
  int status = 0;
  rusage usage = {};
  bool timed_out = false;
  std::int64_t high_water_kib = 0;
};
Ended wait_until(pid_t pid, Clock::time_point deadline) {
  Ended ended;
  while (true) {
    ended.high_water_kib = std::max(ended.high_water_kib, high_water_kib(pid));
    const pid_t done = ::wait4(pid, &ended.status, WNOHANG, &ended.usage);
    if (done == pid) return ended;
    if (done < 0 && errno != EINTR) BOOST_FAIL("wait4 failed: " << std::strerror(errno));
    if (Clock::now() > deadline && !ended.timed_out) {
      ended.timed_out = true;
      ::kill(pid, SIGKILL);
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(2));
  }
}

}  // namespace

const char* outcome_name(BoundedRun::Outcome outcome) {
  switch (outcome) {
    case BoundedRun::Outcome::Accepted: return "accepted";
    case BoundedRun::Outcome::Refused: return "refused";
    case BoundedRun::Outcome::OtherException: return "another exception";
    case BoundedRun::Outcome::Crashed: return "crashed";
    case BoundedRun::Outcome::TimedOut: return "timed out";
  }
  return "?";
}

BoundedRun run_bounded(const std::function<std::string()>& body, double time_limit) {
  int pipe_ends[2];
  BOOST_TEST_REQUIRE(::pipe(pipe_ends) == 0);
  std::fflush(nullptr);
  const std::int64_t start_kib = resident_kib();
  const auto start = Clock::now();
  const pid_t pid = ::fork();
  BOOST_TEST_REQUIRE(pid >= 0, "fork failed");
  if (pid == 0) {  // the child: run, report through the pipe, _exit (no destructors, no test framework)
    ::close(pipe_ends[0]);
    int code = 0;
    std::string message;
    try {
      message = body();
    } catch (const Error& error) {
      code = 1;
      message = error.what();
    } catch (const std::exception& error) {
      code = 2;
      message = str_cat(typeid(error).name(), ": ", error.what());
    } catch (...) {
      code = 2;
      message = "a non-standard exception";
    }
    message = message.substr(0, 60000);  // fits the pipe: the parent reads after the exit
    const char* data = message.data();
    std::size_t left = message.size();
    while (left > 0) {
      const ssize_t written = ::write(pipe_ends[1], data, left);
      if (written <= 0) break;
      data += written;
      left -= static_cast<std::size_t>(written);
    }
    ::_exit(code);
  }
  ::close(pipe_ends[1]);
  const Ended ended = wait_until(pid, start + std::chrono::duration_cast<Clock::duration>(
                                                  std::chrono::duration<double>(time_limit)));
  BoundedRun run;
  run.seconds = seconds_since(start);
  run.peak_mib = std::max<std::int64_t>(0, ended.usage.ru_maxrss - start_kib) / 1024;
  char buffer[4096];
  for (ssize_t got; (got = ::read(pipe_ends[0], buffer, sizeof buffer)) > 0;)
    run.message.append(buffer, static_cast<std::size_t>(got));
  ::close(pipe_ends[0]);
  if (ended.timed_out) {
    run.outcome = BoundedRun::Outcome::TimedOut;
    run.message = str_cat("still running after ", time_limit, " s");
  } else if (WIFSIGNALED(ended.status)) {
    run.outcome = BoundedRun::Outcome::Crashed;
    run.message = str_cat("signal ", WTERMSIG(ended.status), " (", ::strsignal(WTERMSIG(ended.status)), ")");
  } else {
    const int code = WEXITSTATUS(ended.status);
    run.outcome = code == 0   ? BoundedRun::Outcome::Accepted
                  : code == 1 ? BoundedRun::Outcome::Refused
                  : code == 2 ? BoundedRun::Outcome::OtherException
                              : BoundedRun::Outcome::Crashed;
    if (code > 2) run.message = str_cat("exit status ", code, " ", run.message);
  }
  return run;
}

pid_t spawn_armnet(const std::vector<std::string>& arguments, const std::string& out_path,
                   const std::string& err_path, const Environment& environment) {
  posix_spawn_file_actions_t actions;
  posix_spawn_file_actions_init(&actions);
  posix_spawn_file_actions_addopen(&actions, STDOUT_FILENO, out_path.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
  posix_spawn_file_actions_addopen(&actions, STDERR_FILENO, err_path.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
  std::vector<std::string> all = {ARMNET_EXECUTABLE};
  all.insert(all.end(), arguments.begin(), arguments.end());
  std::vector<char*> argv;
  for (std::string& argument : all) argv.push_back(argument.data());
  argv.push_back(nullptr);
  // This environment without the variables `environment` sets, then those.
  std::vector<std::string> variables;
  for (char** variable = environ; *variable != nullptr; ++variable) {
    const std::string entry = *variable;
    bool replaced = false;
    for (const auto& [name, value] : environment) replaced = replaced || entry.rfind(name + "=", 0) == 0;
    if (!replaced) variables.push_back(entry);
  }
  for (const auto& [name, value] : environment) variables.push_back(name + "=" + value);
  std::vector<char*> envp;
  for (std::string& variable : variables) envp.push_back(variable.data());
  envp.push_back(nullptr);
  pid_t pid = -1;
  const int error = posix_spawn(&pid, ARMNET_EXECUTABLE, &actions, nullptr, argv.data(), envp.data());
  posix_spawn_file_actions_destroy(&actions);
  BOOST_TEST_REQUIRE(error == 0, "cannot start " << ARMNET_EXECUTABLE);
  return pid;
}

RunResult wait_for_armnet(pid_t pid, double time_limit) {
  const auto start = Clock::now();
  const Ended ended =
      wait_until(pid, start + std::chrono::duration_cast<Clock::duration>(std::chrono::duration<double>(time_limit)));
  RunResult result;
  result.status = WIFEXITED(ended.status) ? WEXITSTATUS(ended.status) : 128 + WTERMSIG(ended.status);
  result.seconds = seconds_since(start);
  result.peak_mib = ended.high_water_kib / 1024;
  result.timed_out = ended.timed_out;
  return result;
}

RunResult run_armnet(const std::vector<std::string>& arguments, double time_limit) {
  return run_armnet(arguments, Environment{}, time_limit);
}

RunResult run_armnet(const std::vector<std::string>& arguments, const Environment& environment, double time_limit) {
  static int count = 0;
  const std::string stem =
      (fs::temp_directory_path() / ("armnet_e2e_" + std::to_string(::getpid()) + "_" + std::to_string(count++)))
          .string();
  RunResult result =
      wait_for_armnet(spawn_armnet(arguments, stem + ".out", stem + ".err", environment), time_limit);
  result.out = read_file(stem + ".out");
  result.err = read_file(stem + ".err");
  fs::remove(stem + ".out");
  fs::remove(stem + ".err");
  BOOST_TEST_MESSAGE("armnet exited " << result.status << " after " << result.seconds << " s, peak "
                                      << result.peak_mib << " MiB\nstdout:\n"
                                      << result.out << "stderr:\n"
                                      << result.err);
  return result;
}

std::int64_t peak_memory_mib() {
  rusage usage = {};
  ::getrusage(RUSAGE_SELF, &usage);
  return usage.ru_maxrss / 1024;
}

bool contains(const std::string& text, const std::string& fragment) { return text.find(fragment) != std::string::npos; }

void expect_one_line_error(const RunResult& result, const std::vector<std::string>& fragments, int status) {
  BOOST_TEST(result.status == status, result.err);
  BOOST_TEST(result.err.rfind("armnet: error: ", 0) == 0u, result.err);
  BOOST_TEST(std::count(result.err.begin(), result.err.end(), '\n') == 1, result.err);
  for (const std::string& fragment : fragments) BOOST_TEST(contains(result.err, fragment), "missing: " << fragment);
}

}  // namespace armnet::testing
