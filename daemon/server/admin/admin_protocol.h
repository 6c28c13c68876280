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
#include <optional>
#include <string>

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

// An error a command handler raises: the protocol code and the message.
struct CommandError {
  std::string code;
  std::string message;
};

// Typed access to a request's arguments; a wrong type or a missing required
// field throws CommandError{bad_request} naming the field.
class RequestArgs {
 public:
  explicit RequestArgs(const boost::json::object& o) : o_(o) {}

  std::string required_string(const char* key) const {
    auto v = optional_string(key);
    if (!v || v->empty()) throw CommandError{code::kBadRequest, std::string("missing field \"") + key + "\" (a string)"};
    return *v;
  }
  std::optional<std::string> optional_string(const char* key) const {
    const auto* v = o_.if_contains(key);
    if (!v || v->is_null()) return std::nullopt;
    if (!v->is_string()) throw CommandError{code::kBadRequest, std::string("field \"") + key + "\" must be a string"};
    return std::string(v->as_string());
  }
  std::optional<int64_t> optional_int(const char* key, int64_t min, int64_t max) const {
    const auto* v = o_.if_contains(key);
    if (!v || v->is_null()) return std::nullopt;
    if (!v->is_int64() && !v->is_uint64()) {
      throw CommandError{code::kBadRequest, std::string("field \"") + key + "\" must be an integer"};
    }
    const int64_t n = v->is_int64() ? v->as_int64() : static_cast<int64_t>(std::min<uint64_t>(v->as_uint64(), INT64_MAX));
    if (n < min || n > max) {
      throw CommandError{code::kBadRequest, std::string("field \"") + key + "\" must be from " +
                                                std::to_string(min) + " to " + std::to_string(max)};
    }
    return n;
  }
  const boost::json::object& raw() const { return o_; }

 private:
  const boost::json::object& o_;
};

}  // namespace hearth::server::admin
