// What the verbs that write a large file offline (synth, quantize) share:
// progress on stderr, and a cancel flag that SIGINT/SIGTERM set so an
// interrupted write removes its temporary file instead of leaving it behind.
#pragma once

#include <atomic>
#include <cstdint>

namespace hearth::ctl {

// Progress on stderr: a line redrawn in place on a terminal, one line per
// tenth otherwise (so logs stay short).
class WriteProgress {
 public:
  WriteProgress();
  void update(uint64_t done, uint64_t total);

 private:
  bool tty_;
  int last_ = -1;
};

// Installs the SIGINT/SIGTERM handlers and returns the flag they set (for the
// writer's `cancel` option). Lock-free, so async-signal-safe.
const std::atomic<bool>* cancel_on_interrupt();

}  // namespace hearth::ctl
