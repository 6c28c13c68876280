#include "common/log.h"

#include <unistd.h>

namespace hearth::log {

void write(Priority p, const std::string& message) {
  std::string line = "<" + std::to_string(static_cast<int>(p)) + ">" + message + "\n";
  // One write(2) per line keeps lines from different threads whole.
  ssize_t ignored = ::write(STDERR_FILENO, line.data(), line.size());
  (void)ignored;
}

}  // namespace hearth::log
