#include "server/api/api_error.h"

#include <boost/json/object.hpp>
#include <boost/json/serialize.hpp>

namespace hearth::server::api {
namespace {

ApiError make(int status, std::string message, std::optional<std::string> param, std::optional<std::string> code) {
  ApiError e;
  e.status = status;
  e.type = error_type_for_status(status);
  e.message = std::move(message);
  e.param = std::move(param);
  e.code = std::move(code);
  return e;
}

}  // namespace

ApiError ApiError::invalid_request(std::string message, std::optional<std::string> param,
                                   std::optional<std::string> code) {
  return make(400, std::move(message), std::move(param), std::move(code));
}

ApiError ApiError::not_found(std::string message, std::optional<std::string> param, std::optional<std::string> code) {
  return make(404, std::move(message), std::move(param), std::move(code));
}

ApiError ApiError::rate_limited(std::string message) {
  return make(429, std::move(message), std::nullopt, std::nullopt);
}

ApiError ApiError::internal(std::string message) { return make(500, std::move(message), std::nullopt, std::nullopt); }

ApiError ApiError::unavailable(std::string message) {
  return make(503, std::move(message), std::nullopt, std::nullopt);
}

const char* error_type_for_status(int status) {
  switch (status) {
    case 401: return "authentication_error";
    case 403: return "permission_error";
    case 404: return "not_found_error";
    case 429: return "rate_limit_error";
    default: return status >= 500 ? "server_error" : "invalid_request_error";
  }
}

std::string error_json(const ApiError& error) {
  boost::json::object inner;
  inner["message"] = error.message;
  inner["type"] = error.type.empty() ? std::string(error_type_for_status(error.status)) : error.type;
  inner["param"] = error.param ? boost::json::value(*error.param) : boost::json::value(nullptr);
  inner["code"] = error.code ? boost::json::value(*error.code) : boost::json::value(nullptr);
  boost::json::object outer;
  outer["error"] = std::move(inner);
  return boost::json::serialize(outer);
}

void send_error(ResponseStream& out, const ApiError& error, HeaderList extra) {
  out.send(error.status, "application/json", error_json(error), std::move(extra));
}

}  // namespace hearth::server::api
