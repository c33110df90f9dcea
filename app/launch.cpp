// SPDX-License-Identifier: Apache-2.0
#include "app/launch.h"

#include <signal.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <stdexcept>
#include <string>
#include <thread>

#include "training/distributed.h"

namespace topo::app {
namespace {

volatile sig_atomic_t stop_signal = 0;

void on_signal(int signal) { stop_signal = signal; }

std::string describe(int status) {
  if (WIFEXITED(status)) return "exited with status " + std::to_string(WEXITSTATUS(status));
  if (WIFSIGNALED(status)) {
    const int s = WTERMSIG(status);
    const char* name = sigabbrev_np(s);
    return "was killed by signal " + std::to_string(s) +
           (name ? std::string(" (SIG") + name + ")" : "");
  }
  return "stopped with status " + std::to_string(status);
}

}  // namespace

int launch_workers(int64_t nproc, const std::vector<std::string>& command_line) {
  if (nproc < 1) throw std::invalid_argument("launch_workers: nproc must be >= 1");
  const int port = training::free_local_port();
  struct sigaction action {};
  action.sa_handler = on_signal;
  sigemptyset(&action.sa_mask);
  struct sigaction previous_int {
  }, previous_term{};
  sigaction(SIGINT, &action, &previous_int);
  sigaction(SIGTERM, &action, &previous_term);
  const pid_t launcher = ::getpid();
  std::vector<pid_t> workers;
  for (int64_t rank = 0; rank < nproc; ++rank) {
    const pid_t pid = ::fork();
    if (pid < 0)
      throw std::runtime_error(std::string("launch_workers: fork: ") + std::strerror(errno));
    if (pid == 0) {
      ::signal(SIGINT, SIG_DFL);
      ::signal(SIGTERM, SIG_DFL);
      // A worker must not outlive its launcher (killed with SIGKILL, say).
      ::prctl(PR_SET_PDEATHSIG, SIGTERM);
      if (::getppid() != launcher) ::_exit(1);
      const std::string r = std::to_string(rank), n = std::to_string(nproc);
      ::setenv("RANK", r.c_str(), 1);
      ::setenv("LOCAL_RANK", r.c_str(), 1);
      ::setenv("WORLD_SIZE", n.c_str(), 1);
      ::setenv("LOCAL_WORLD_SIZE", n.c_str(), 1);
      ::setenv("MASTER_ADDR", "127.0.0.1", 1);
      ::setenv("MASTER_PORT", std::to_string(port).c_str(), 1);
      std::vector<char*> argv;
      for (const auto& a : command_line) argv.push_back(const_cast<char*>(a.c_str()));
      argv.push_back(nullptr);
      ::execv("/proc/self/exe", argv.data());
      std::fprintf(stderr, "topoformer: error: cannot start worker rank %lld: %s\n",
                   static_cast<long long>(rank), std::strerror(errno));
      ::_exit(127);
    }
    workers.push_back(pid);
  }
  std::vector<bool> running(workers.size(), true);
  int64_t alive = nproc;
  const auto rank_of = [&](pid_t pid) {
    for (size_t r = 0; r < workers.size(); ++r) {
      if (workers[r] == pid) return static_cast<int64_t>(r);
    }
    return int64_t{-1};
  };
  const auto stop_all = [&] {
    for (size_t r = 0; r < workers.size(); ++r) {
      if (running[r]) ::kill(workers[r], SIGTERM), ::kill(workers[r], SIGCONT);  // stopped ones too
    }
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(5);
    while (alive > 0) {
      int status = 0;
      const pid_t pid = ::waitpid(-1, &status, WNOHANG);
      if (pid > 0) {
        const auto r = rank_of(pid);
        if (r >= 0 && running[r]) running[r] = false, --alive;
        continue;
      }
      if (pid < 0 && errno != EINTR) break;
      if (std::chrono::steady_clock::now() > deadline) {
        for (size_t r = 0; r < workers.size(); ++r) {
          if (running[r]) ::kill(workers[r], SIGKILL);
        }
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(20));
    }
  };
  int result = 0;
  while (alive > 0) {
    int status = 0;
    const pid_t pid = ::waitpid(-1, &status, 0);
    if (pid < 0) {
      if (errno != EINTR) break;
      if (stop_signal != 0) {
        std::fprintf(stderr, "topoformer: stopping %lld workers (signal %d)\n",
                     static_cast<long long>(alive), static_cast<int>(stop_signal));
        stop_all();
        result = 128 + stop_signal;
        break;
      }
      continue;
    }
    const auto r = rank_of(pid);
    if (r < 0 || !running[r]) continue;
    running[r] = false;
    --alive;
    if (!(WIFEXITED(status) && WEXITSTATUS(status) == 0)) {
      std::fprintf(stderr,
                   "topoformer: error: worker rank %lld (pid %d) %s; stopping the "
                   "remaining %lld\n",
                   static_cast<long long>(r), static_cast<int>(pid), describe(status).c_str(),
                   static_cast<long long>(alive));
      stop_all();
      result = 1;
      break;
    }
  }
  sigaction(SIGINT, &previous_int, nullptr);
  sigaction(SIGTERM, &previous_term, nullptr);
  return result;
}

}  // namespace topo::app
