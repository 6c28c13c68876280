// ResponseStream implementation and HTTP/1.1 response formatting (no Asio,
// no Beast: the bytes are simple, and this keeps the heavy TUs small).
#include "server/net/http_response.h"

#include <cctype>
#include <cstdio>
#include <cstring>
#include <random>

namespace hearth::server::detail {
namespace {

const char* reason_phrase(int status) {
  switch (status) {
    case 100: return "Continue";
    case 101: return "Switching Protocols";
    case 200: return "OK";
    case 201: return "Created";
    case 202: return "Accepted";
    case 204: return "No Content";
    case 301: return "Moved Permanently";
    case 302: return "Found";
    case 304: return "Not Modified";
    case 400: return "Bad Request";
    case 401: return "Unauthorized";
    case 403: return "Forbidden";
    case 404: return "Not Found";
    case 405: return "Method Not Allowed";
    case 408: return "Request Timeout";
    case 409: return "Conflict";
    case 411: return "Length Required";
    case 413: return "Content Too Large";
    case 415: return "Unsupported Media Type";
    case 422: return "Unprocessable Content";
    case 426: return "Upgrade Required";
    case 429: return "Too Many Requests";
    case 431: return "Request Header Fields Too Large";
    case 500: return "Internal Server Error";
    case 501: return "Not Implemented";
    case 502: return "Bad Gateway";
    case 503: return "Service Unavailable";
    case 504: return "Gateway Timeout";
    default: return "Status";
  }
}

std::string json_escape(const std::string& s) {
  std::string out;
  for (unsigned char c : s) {
    switch (c) {
      case '"': out += "\\\""; break;
      case '\\': out += "\\\\"; break;
      case '\n': out += "\\n"; break;
      case '\r': out += "\\r"; break;
      case '\t': out += "\\t"; break;
      default:
        if (c < 0x20) {
          char b[8];
          std::snprintf(b, sizeof b, "\\u%04x", c);
          out += b;
        } else {
          out += static_cast<char>(c);
        }
    }
  }
  return out;
}

// Header names a handler passes must be tokens, values must not contain CR
// or LF: otherwise a value derived from user input could inject headers.
bool valid_header_name(const std::string& n) {
  if (n.empty()) return false;
  for (unsigned char c : n)
    if (c <= 0x20 || c >= 0x7f || c == ':' || c == '(' || c == ')' || c == ',' || c == ';' || c == '"') return false;
  return true;
}
std::string clean_header_value(const std::string& v) {
  std::string out;
  for (char c : v)
    if (c != '\r' && c != '\n' && c != '\0') out += c;
  return out;
}

bool has_header(const HeaderList& h, const char* lower_name) {
  for (const auto& [n, v] : h) {
    if (n.size() != std::strlen(lower_name)) continue;
    bool same = true;
    for (size_t i = 0; i < n.size(); ++i)
      if (std::tolower(static_cast<unsigned char>(n[i])) != lower_name[i]) same = false;
    if (same) return true;
  }
  return false;
}

}  // namespace

std::string new_request_id() {
  thread_local std::mt19937_64 rng{std::random_device{}()};
  char buf[17];
  std::snprintf(buf, sizeof buf, "%016llx", static_cast<unsigned long long>(rng()));
  return buf;
}

std::string error_json(const std::string& message, const std::string& code) {
  return "{\"error\":{\"message\":\"" + json_escape(message) +
         "\",\"type\":\"invalid_request_error\",\"param\":null,\"code\":\"" + json_escape(code) + "\"}}";
}

std::string format_head(int status, const std::string& content_type, const HeaderList& headers,
                        const std::string& request_id, bool keep_alive, std::optional<std::size_t> content_length,
                        bool chunked) {
  if (status < 100 || status > 599) status = 500;
  const std::string reason = reason_phrase(status);
  std::string out = "HTTP/1.1 " + std::to_string(status) + " " + reason + "\r\n";
  if (!content_type.empty()) out += "Content-Type: " + clean_header_value(content_type) + "\r\n";
  for (const auto& [name, value] : headers) {
    if (!valid_header_name(name)) continue;
    std::string lower = name;
    for (char& c : lower) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    // Framing headers belong to the network layer.
    if (lower == "content-length" || lower == "transfer-encoding" || lower == "connection") continue;
    out += name + ": " + clean_header_value(value) + "\r\n";
  }
  out += "x-request-id: " + request_id + "\r\n";
  out += keep_alive ? "Connection: keep-alive\r\n" : "Connection: close\r\n";
  if (content_length) {
    out += "Content-Length: " + std::to_string(*content_length) + "\r\n";
  } else {
    if (chunked) out += "Transfer-Encoding: chunked\r\n";
    if (content_type.rfind("text/event-stream", 0) == 0) {
      if (!has_header(headers, "cache-control")) out += "Cache-Control: no-cache\r\n";
      out += "X-Accel-Buffering: no\r\n";  // reverse proxies: do not buffer the stream
    }
  }
  out += "\r\n";
  return out;
}


ResponseImpl::ResponseImpl(std::shared_ptr<Lifeline> lifeline, std::weak_ptr<SessionBase> session,
                           std::uint64_t seq, std::string request_id, bool keep_alive, bool head, bool chunked)
    : lifeline_(std::move(lifeline)), session_(std::move(session)), seq_(seq),
      request_id_(std::move(request_id)), keep_alive_(keep_alive), head_(head), chunked_(chunked) {}

ResponseImpl::~ResponseImpl() {
  // The handler dropped its last reference without finishing: answer 500
  // (or cut the stream) rather than leave the client waiting forever.
  if (state_ != State::kDone && !closed_.load()) {
    std::shared_lock alive(lifeline_->mu);
    if (!lifeline_->alive) return;
    if (auto s = session_.lock()) s->post_abandoned(seq_, state_ == State::kStreaming);
  }
}

void ResponseImpl::send(int status, const std::string& content_type, std::string body, HeaderList headers) {
  {
    std::lock_guard lock(mu_);
    if (state_ != State::kFresh) return;  // contract: one response per request
    state_ = State::kDone;
  }
  std::string bytes = format_head(status, content_type, headers, request_id_, keep_alive_, body.size());
  if (!head_) bytes += body;
  deliver(std::move(bytes), true);
}

void ResponseImpl::begin_stream(int status, const std::string& content_type, HeaderList headers) {
  {
    std::lock_guard lock(mu_);
    if (state_ != State::kFresh) return;
    state_ = State::kStreaming;
  }
  deliver(format_head(status, content_type, headers, request_id_, keep_alive_, std::nullopt, chunked_), false);
}

void ResponseImpl::write(std::string chunk) {
  if (chunk.empty()) return;  // an empty chunk would end the chunked body
  {
    std::lock_guard lock(mu_);
    if (state_ != State::kStreaming) return;
  }
  if (!chunked_) return deliver(std::move(chunk), false);
  char size[24];
  std::snprintf(size, sizeof size, "%zx\r\n", chunk.size());
  std::string bytes;
  bytes.reserve(chunk.size() + 32);
  bytes += size;
  bytes += chunk;
  bytes += "\r\n";
  deliver(std::move(bytes), false);
}

void ResponseImpl::end() {
  {
    std::lock_guard lock(mu_);
    if (state_ != State::kStreaming) return;
    state_ = State::kDone;
  }
  deliver(chunked_ ? "0\r\n\r\n" : "", true);
}

void ResponseImpl::on_close(std::function<void()> fn) {
  if (!fn) return;
  {
    std::lock_guard lock(mu_);
    if (!closed_.load()) {
      if (on_close_) {
        on_close_ = [a = std::move(on_close_), b = std::move(fn)] { a(); b(); };
      } else {
        on_close_ = std::move(fn);
      }
      return;
    }
    if (!gone_before_end_) return;  // finished before the close: nothing to stop
  }
  fn();  // already gone: at once, on the caller's thread
}

void ResponseImpl::mark_closed() {
  std::function<void()> fn;
  {
    std::lock_guard lock(mu_);
    if (closed_.exchange(true)) return;
    gone_before_end_ = state_ != State::kDone;
    if (gone_before_end_) fn = std::move(on_close_);
    on_close_ = nullptr;
  }
  if (fn) fn();
}

void ResponseImpl::deliver(std::string bytes, bool last) {
  if (closed_.load()) return;
  std::shared_lock alive(lifeline_->mu);
  if (!lifeline_->alive) return;
  if (auto s = session_.lock()) {
    s->post_bytes(seq_, std::move(bytes), last);
  } else {
    mark_closed();
  }
}

}  // namespace hearth::server::detail
