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
inline void debug(const std::string& m) { write(kDebug, m); }

// A line that belongs to one client request: "request <id>: <message>", so
// every line of a request can be found by its id (the X-Request-Id header).
inline void request(Priority p, const std::string& request_id, const std::string& m) {
  write(p, "request " + request_id + ": " + m);
}

}  // namespace hearth::log
