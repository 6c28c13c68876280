// Logging for hearthd and hearthctl: one line per message on stderr, with
// the syslog priority prefix ("<6>") that journald turns into a log level.
// Thread-safe (each line is written with one call).
#pragma once

#include <string>

namespace hearth::log {

enum Priority { kError = 3, kWarning = 4, kNotice = 5, kInfo = 6, kDebug = 7 };

void write(Priority p, const std::string& message);
inline void error(const std::string& m) { write(kError, m); }
inline void warning(const std::string& m) { write(kWarning, m); }
inline void info(const std::string& m) { write(kInfo, m); }

}  // namespace hearth::log
