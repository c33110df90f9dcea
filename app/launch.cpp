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
  if (nproc < 1)
    throw std::invalid_argument("launch_workers: `nproc` must be >= 1, got " +
                                std::to_string(nproc));
  const int port = training::free_local_port();
  stop_signal = 0;
  struct sigaction action {};
  action.sa_handler = on_signal;
  sigemptyset(&action.sa_mask);
  struct sigaction previous_int {
  }, previous_term{}, previous_chld{}, default_chld{};
  default_chld.sa_handler = SIG_DFL;  // an inherited SIG_IGN would reap the workers for us
  sigemptyset(&default_chld.sa_mask);
  sigaction(SIGINT, &action, &previous_int);
  sigaction(SIGTERM, &action, &previous_term);
  sigaction(SIGCHLD, &default_chld, &previous_chld);
  const auto restore = [&] {
    sigaction(SIGINT, &previous_int, nullptr);
    sigaction(SIGTERM, &previous_term, nullptr);
    sigaction(SIGCHLD, &previous_chld, nullptr);
  };
  const pid_t launcher = ::getpid();
  std::vector<pid_t> workers;
  std::vector<bool> running;
  int64_t alive = 0;
  bool lost = false;  // workers reaped by someone else
  const auto rank_of = [&](pid_t pid) {
    for (size_t r = 0; r < workers.size(); ++r) {
      if (workers[r] == pid) return static_cast<int64_t>(r);
    }
    return int64_t{-1};
  };
  // Reaps what has ended (without blocking); returns the first failure's (rank, status).
  const auto reap = [&]() -> std::pair<int64_t, int> {
    std::pair<int64_t, int> failure{-1, 0};
    for (;;) {
      int status = 0;
      const pid_t pid = ::waitpid(-1, &status, WNOHANG);
      if (pid <= 0) {
        if (pid < 0 && errno == EINTR) continue;
        if (pid < 0 && errno == ECHILD && alive > 0) lost = true, alive = 0;
        return failure;
      }
      const auto r = rank_of(pid);
      if (r < 0 || !running[r]) continue;
      running[r] = false;
      --alive;
      if (failure.first < 0 && !(WIFEXITED(status) && WEXITSTATUS(status) == 0))
        failure = {r, status};
    }
  };
  const auto stop_all = [&] {
    for (size_t r = 0; r < workers.size(); ++r) {
      if (running[r]) ::kill(workers[r], SIGTERM), ::kill(workers[r], SIGCONT);  // stopped too
    }
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(5);
    bool killed = false;
    while (alive > 0) {
      reap();
      if (alive == 0) break;
      if (!killed && std::chrono::steady_clock::now() > deadline) {
        for (size_t r = 0; r < workers.size(); ++r) {
          if (running[r]) ::kill(workers[r], SIGKILL);
        }
        killed = true;
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(20));
    }
  };
  for (int64_t rank = 0; rank < nproc; ++rank) {
    const pid_t pid = ::fork();
    if (pid < 0) {
      const std::string error = std::strerror(errno);
      stop_all();
      restore();
      throw std::runtime_error("launch_workers: cannot start worker rank " + std::to_string(rank) +
                               ": fork: " + error);
    }
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
    running.push_back(true);
    ++alive;
  }
  // Polls rather than blocks in waitpid, so a signal that arrives at any moment is seen within
  // 50 ms.
  int result = 0;
  while (alive > 0) {
    const auto [rank, status] = reap();
    if (stop_signal != 0) {  // checked first: Ctrl-C reaches the workers too
      std::fprintf(stderr, "topoformer: stopping the workers (signal %d)\n",
                   static_cast<int>(stop_signal));
      stop_all();
      result = 128 + stop_signal;
      break;
    }
    if (rank >= 0) {
      std::fprintf(stderr,
                   "topoformer: error: worker rank %lld (pid %d) %s; stopping the remaining %lld\n",
                   static_cast<long long>(rank), static_cast<int>(workers[rank]),
                   describe(status).c_str(), static_cast<long long>(alive));
      stop_all();
      result = 1;
      break;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  restore();
  if (lost && result == 0) {
    std::fprintf(stderr, "topoformer: error: lost track of the workers (reaped elsewhere)\n");
    result = 1;
  }
  return result;
}

}  // namespace topo::app
