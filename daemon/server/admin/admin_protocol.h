// The admin socket's wire protocol (docs/admin-protocol.md), shared by
// hearthd's AdminServer and by the AdminClient of hearthctl and the tests.
// One JSON object per line each way ('\n'-terminated, at most
// kMaxLineBytes). Requests: {"cmd": NAME, "id": ANY?, ...arguments}.
// Final responses: {"id", "ok": true, "result": {...}} or {"id", "ok": false,
// "error": {"code", "message"}}; a streaming command sends
// {"id", "event": KIND, ...} lines before its final response. File
// descriptors (models import / export) travel as SCM_RIGHTS with the request
// line. Header-only helpers; stateless.
#pragma once

#include <boost/json.hpp>

#include <cstddef>
#include <algorithm>
#include <cstdint>
#include <optional>
#include <string>
#include <variant>

namespace hearth::server::admin {

inline constexpr size_t kMaxLineBytes = 1 << 20;
inline constexpr int kMaxFdsPerRequest = 4;

// Error codes of the protocol.
namespace code {
inline constexpr const char* kBadRequest = "bad_request";          // malformed JSON, missing or mistyped field
inline constexpr const char* kUnknownCommand = "unknown_command";
inline constexpr const char* kNotFound = "not_found";              // unknown model, key, ...
inline constexpr const char* kConflict = "conflict";               // e.g. rm of a model in use
inline constexpr const char* kFailed = "failed";                   // the operation was tried and failed
inline constexpr const char* kPermissionDenied = "permission_denied";
inline constexpr const char* kTooLarge = "too_large";
inline constexpr const char* kBusy = "busy";                       // too many admin connections
}  // namespace code

inline boost::json::object ok_response(const boost::json::value& id, boost::json::object result) {
  boost::json::object o;
  if (!id.is_null()) o["id"] = id;
  o["ok"] = true;
  o["result"] = std::move(result);
  return o;
}

inline boost::json::object error_response(const boost::json::value& id, const std::string& code,
                                          const std::string& message) {
  boost::json::object o;
  if (!id.is_null()) o["id"] = id;
  o["ok"] = false;
  o["error"] = boost::json::object{{"code", code}, {"message", message}};
  return o;
}

// A command's failure: the protocol code and the message.
struct CommandError {
  std::string code;
  std::string message;
};

// A command's outcome: its result object, or why it failed.
using Reply = std::variant<boost::json::object, CommandError>;

// Returns from the enclosing Reply-returning function when `expr` (an
// std::optional<CommandError>) holds an error.
#define HEARTH_ADMIN_TRY(expr)              \
  do {                                      \
    if (auto admin_err_ = (expr)) {         \
      return std::move(*admin_err_);        \
    }                                       \
  } while (0)

// Typed access to a request's arguments. Each reader returns the
// bad_request error naming the field when it is missing (required readers)
// or of the wrong type or range, and leaves *out alone then.
class RequestArgs {
 public:
  explicit RequestArgs(const boost::json::object& o) : o_(o) {}

  std::optional<CommandError> required_string(const char* key, std::string* out) const {
    std::optional<std::string> v;
    if (auto e = optional_string(key, &v)) return e;
    if (!v || v->empty()) return CommandError{code::kBadRequest, std::string("missing field \"") + key + "\" (a string)"};
    *out = std::move(*v);
    return std::nullopt;
  }
  std::optional<CommandError> optional_string(const char* key, std::optional<std::string>* out) const {
    const auto* v = o_.if_contains(key);
    if (!v || v->is_null()) return std::nullopt;
    if (!v->is_string()) return CommandError{code::kBadRequest, std::string("field \"") + key + "\" must be a string"};
    *out = std::string(v->as_string());
    return std::nullopt;
  }
  std::optional<CommandError> optional_int(const char* key, int64_t min, int64_t max, std::optional<int64_t>* out) const {
    const auto* v = o_.if_contains(key);
    if (!v || v->is_null()) return std::nullopt;
    if (!v->is_int64() && !v->is_uint64()) {
      return CommandError{code::kBadRequest, std::string("field \"") + key + "\" must be an integer"};
    }
    const int64_t n = v->is_int64() ? v->as_int64() : static_cast<int64_t>(std::min<uint64_t>(v->as_uint64(), INT64_MAX));
    if (n < min || n > max) {
      return CommandError{code::kBadRequest, std::string("field \"") + key + "\" must be from " + std::to_string(min) +
                                                 " to " + std::to_string(max)};
    }
    *out = n;
    return std::nullopt;
  }
  const boost::json::object& raw() const { return o_; }

 private:
  const boost::json::object& o_;
};

}  // namespace hearth::server::admin
