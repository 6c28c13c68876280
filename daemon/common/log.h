// Logging for hearthd and hearthctl: one line per message on stderr, with
// the syslog priority prefix ("<6>") that journald turns into a log level.
// Thread-safe (each line is written with one call).
//
// By default a line is written by the calling thread. A server calls
// start_async_writer() once: lines then go through a bounded queue to one
// writer thread, so a stderr nobody drains (a full pipe, a stalled journald)
// never blocks a request or scheduler thread; when the queue is full, lines
// are dropped and counted, and the writer reports how many as soon as it can
// write again. flush() (run at exit too) writes what is queued.
#pragma once

#include <chrono>
#include <cstdint>
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

// Switches to the queued writer (idempotent). max_queued_bytes bounds the
// memory lines may wait in.
void start_async_writer(size_t max_queued_bytes = size_t{8} << 20);
// Waits up to `timeout` for queued lines to be written; true when all were.
bool flush(std::chrono::milliseconds timeout = std::chrono::milliseconds(2000));
// Lines dropped because the queue was full, since start.
uint64_t dropped_lines();

}  // namespace hearth::log
