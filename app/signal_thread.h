// Turns SIGTERM/SIGINT/SIGHUP/SIGUSR1 into a callback on a dedicated thread (no work in a
// signal handler). SIGHUP is a graceful stop like SIGTERM (the engine has no configuration
// file to reload, and its logs go to stderr: nothing to reopen); SIGUSR1 asks for a status
// line. Without this, their default action killed the process at once, leaving its parts
// `running` until a rescue.
#pragma once

#include <pthread.h>
#include <signal.h>

#include <atomic>
#include <functional>
#include <thread>

namespace nbi::cli {

// Blocks those signals in every thread and hands them to `on_signal` on its own thread.
// Construct before any other thread starts (threads inherit the blocked mask).
class SignalThread {
 public:
  explicit SignalThread(std::function<void(int)> on_signal) {
    sigemptyset(&set_);
    sigaddset(&set_, SIGTERM);
    sigaddset(&set_, SIGINT);
    sigaddset(&set_, SIGHUP);
    sigaddset(&set_, SIGUSR1);
    sigaddset(&set_, SIGUSR2);  // ends the thread at destruction
    pthread_sigmask(SIG_BLOCK, &set_, nullptr);
    thread_ = std::thread([this, on_signal = std::move(on_signal)] {
      for (;;) {
        int sig = 0;
        if (sigwait(&set_, &sig) != 0) continue;
        if (sig == SIGUSR2 && done_) return;
        if (sig != SIGUSR2) on_signal(sig);
      }
    });
  }
  ~SignalThread() {
    done_ = true;
    pthread_kill(thread_.native_handle(), SIGUSR2);
    thread_.join();
  }
  // True for the signals that stop the process (SIGUSR1 only asks for a status line).
  static bool Stops(int sig) { return sig != SIGUSR1; }
  static const char* Name(int sig) {
    switch (sig) {
      case SIGTERM:
        return "SIGTERM";
      case SIGINT:
        return "SIGINT";
      case SIGHUP:
        return "SIGHUP";
      case SIGUSR1:
        return "SIGUSR1";
      default:
        return "a signal";
    }
  }
  SignalThread(const SignalThread&) = delete;
  SignalThread& operator=(const SignalThread&) = delete;

 private:
  sigset_t set_;
  std::atomic<bool> done_{false};
  std::thread thread_;
};

}  // namespace nbi::cli
