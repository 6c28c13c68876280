// ApiError: an error answer of the OpenAI-compatible API, in OpenAI's shape
//   {"error": {"message": ..., "type": ..., "param": ..., "code": ...}}
// with the HTTP status it goes out with; ApiResult<T>, a value or an
// ApiError (Result<T> carries only a message, and clients need `param`);
// and send_error(), which answers a request with one.
// Value types; thread-compatible. send_error() is as thread-safe as the
// ResponseStream it writes to.
#pragma once

#include <cassert>
#include <optional>
#include <string>
#include <utility>
#include <variant>

#include "server/net/http_types.h"

namespace hearth::server::api {

struct ApiError {
  int status = 400;
  // OpenAI's error types: invalid_request_error, authentication_error,
  // permission_error, not_found_error, rate_limit_error, server_error.
  std::string type = "invalid_request_error";
  std::string message;                // written for the client's developer
  std::optional<std::string> param;   // the request field at fault, when one is
  std::optional<std::string> code;    // a machine-readable reason, e.g. "model_not_found"

  // 400 invalid_request_error.
  static ApiError invalid_request(std::string message, std::optional<std::string> param = std::nullopt,
                                  std::optional<std::string> code = std::nullopt);
  // 404 not_found_error.
  static ApiError not_found(std::string message, std::optional<std::string> param = std::nullopt,
                            std::optional<std::string> code = std::nullopt);
  // 429 rate_limit_error (the caller adds Retry-After).
  static ApiError rate_limited(std::string message);
  // 500 server_error.
  static ApiError internal(std::string message);
  // 503 server_error (shutting down, overloaded).
  static ApiError unavailable(std::string message);
};

// The OpenAI error type that goes with an HTTP status (400 →
// "invalid_request_error", 5xx → "server_error", ...).
const char* error_type_for_status(int status);

// {"error":{"message":..,"type":..,"param":..,"code":..}}; param and code
// are null when absent, as OpenAI sends them.
std::string error_json(const ApiError& error);

// Answers with error.status, application/json and error_json(error).
void send_error(ResponseStream& out, const ApiError& error, HeaderList extra = {});

// A value or the ApiError that prevented it.
template <typename T>
class ApiResult {
 public:
  ApiResult(T value) : v_(std::move(value)) {}        // NOLINT: implicit by design
  ApiResult(ApiError error) : v_(std::move(error)) {}  // NOLINT

  bool is_ok() const { return std::holds_alternative<T>(v_); }
  explicit operator bool() const { return is_ok(); }
  const ApiError& error() const { assert(!is_ok()); return std::get<ApiError>(v_); }

  T& value() & { assert(is_ok()); return std::get<T>(v_); }
  const T& value() const& { assert(is_ok()); return std::get<T>(v_); }
  T&& value() && { assert(is_ok()); return std::get<T>(std::move(v_)); }
  T* operator->() { return &value(); }
  const T* operator->() const { return &value(); }
  T& operator*() & { return value(); }
  const T& operator*() const& { return value(); }

 private:
  std::variant<T, ApiError> v_;
};

}  // namespace hearth::server::api
