// HttpServer implementation: the listener and the per-connection HTTP/1.1
// sessions (plain and TLS, one template). Responses are formatted by
// http_response.cpp; upgraded connections continue in ws_session.cpp.
//
// Concurrency model: every connection owns a strand; all of its socket
// operations, timers and state changes run on that strand. Producers on
// other threads (the scheduler) only format bytes and post them onto the
// strand. A session is kept alive by the handlers of its pending operations;
// the ResponseStream holds it only weakly, so a response object that
// outlives its connection is harmless.
//
// One of the two Beast-heavy translation units of net/ (see TOOLCHAIN.md:
// about 30 s and 750 MB each to compile).
#include "server/net/http_server.h"

#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cctype>
#include <cerrno>
#include <condition_variable>
#include <cstring>
#include <deque>
#include <future>
#include <mutex>
#include <optional>
#include <thread>
#include <type_traits>
#include <unordered_map>
#include <vector>

#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/ssl.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/strand.hpp>
#include <boost/asio/write.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/http.hpp>
#include <boost/beast/websocket/rfc6455.hpp>

#include "common/log.h"
#include "server/net/server_internal.h"

namespace hearth::server {
namespace {

using namespace detail;
namespace beast = boost::beast;
namespace http = beast::http;
namespace ssl = asio::ssl;
using error_code = boost::system::error_code;
using Clock = std::chrono::steady_clock;

// Bytes read per read_some while waiting for a request or draining.
constexpr std::size_t kReadChunk = 4096;
// The only sensible first byte of a TLS connection: a handshake record.
constexpr unsigned char kTlsHandshakeRecord = 0x16;

std::string endpoint_string(const tcp::socket& s) {
  error_code ec;
  auto ep = s.remote_endpoint(ec);
  if (ec) return "unknown";
  auto addr = ep.address();
  return (addr.is_v6() ? "[" + addr.to_string() + "]" : addr.to_string()) + ":" + std::to_string(ep.port());
}

template <bool kTls>
class Session final : public SessionBase {
 public:
  using Stream = std::conditional_t<kTls, ssl::stream<tcp::socket>, tcp::socket>;

  // TLS
  Session(HttpServer::Impl& server, tcp::socket socket, std::shared_ptr<ssl::context> ctx) requires kTls
      : server_(server), ctx_(std::move(ctx)), stream_(std::move(socket), *ctx_),
        read_timer_(stream_.get_executor()), write_timer_(stream_.get_executor()),
        buffer_(buffer_limit(server.limits)) {
    server_.open_connections.fetch_add(1);  // paired with the destructor
  }
  // Plain
  Session(HttpServer::Impl& server, tcp::socket socket) requires(!kTls)
      : server_(server), stream_(std::move(socket)), read_timer_(stream_.get_executor()),
        write_timer_(stream_.get_executor()), buffer_(buffer_limit(server.limits)) {
    server_.open_connections.fetch_add(1);
  }

  ~Session() override { server_.session_closed(this); }

  void start() {
    remote_ = endpoint_string(sock());
    server_.session_opened(this, shared_from_this());
    asio::post(stream_.get_executor(), [self = self()] {
      if (self->server_.stopping.load()) return self->close_now();
      if constexpr (kTls) {
        self->arm_read(self->server_.limits.handshake_timeout);
        self->peek_first_bytes();
      } else {
        self->arm_read(self->server_.limits.header_timeout);
        self->read_header();
      }
    });
  }

  void post_bytes(std::uint64_t seq, std::string bytes, bool last) override {
    asio::post(stream_.get_executor(), [self = self(), seq, bytes = std::move(bytes), last]() mutable {
      if (self->closed_ || seq != self->seq_ || self->phase_ != Phase::kHandling) return;
      self->enqueue(std::move(bytes));
      if (last) self->response_finished_ = true;
    });
  }

  void post_abandoned(std::uint64_t seq, bool started) override {
    asio::post(stream_.get_executor(), [self = self(), seq, started] {
      if (self->closed_ || seq != self->seq_ || self->phase_ != Phase::kHandling || self->response_finished_)
        return;
      log::warning("request " + self->request_id_ + ": handler dropped the response unfinished");
      if (started) return self->close_now();  // a cut stream must not look complete
      self->keep_alive_ = false;
      const std::string body = error_json("the server dropped this request", "internal_error");
      self->enqueue(format_head(500, "application/json", {}, self->request_id_, false, body.size()) + body);
      self->response_finished_ = true;
    });
  }

  void server_stopping() override {
    asio::post(stream_.get_executor(), [self = self()] {
      if (self->closed_) return;
      switch (self->phase_) {
        case Phase::kReadBody:
        case Phase::kHandling:
          self->keep_alive_ = false;  // finish this request, then close
          break;
        case Phase::kClosing:
          break;
        default:
          self->close_now();
      }
    });
  }

  void force_close() override {
    asio::post(stream_.get_executor(), [self = self()] { self->close_now(); });
  }

 private:
  enum class Phase { kHandshake, kIdle, kReadHeader, kReadBody, kHandling, kClosing, kClosed };

  static std::size_t buffer_limit(const ServerLimits& l) {
    return std::max<std::size_t>(l.max_header_bytes + 2 * kReadChunk, 16 * 1024);
  }
  std::shared_ptr<Session> self() { return std::static_pointer_cast<Session>(shared_from_this()); }
  tcp::socket& sock() {
    if constexpr (kTls) return stream_.next_layer(); else return stream_;
  }

  // ---- timers -------------------------------------------------------------
  // One deadline for the read side (handshake, header, body, idle, linger)
  // and one for writes. Re-arming replaces the previous deadline; a handler
  // that fires late checks the expiry so a replaced deadline never closes.
  void arm_read(std::chrono::milliseconds d) { arm(read_timer_, d); }
  void disarm_read() { read_timer_.expires_at(Clock::time_point::max()); }

  void arm(asio::steady_timer& timer, std::chrono::milliseconds d) {
    timer.expires_after(d);
    timer.async_wait([self = self(), &timer](error_code ec) {
      if (ec || self->closed_ || timer.expiry() > Clock::now()) return;
      if (self->phase_ != Phase::kClosing) self->server_.timeouts.fetch_add(1);
      self->close_now();
    });
  }

  // ---- TLS detection and handshake -----------------------------------------
  void peek_first_bytes() requires kTls {
    phase_ = Phase::kHandshake;
    sock().async_read_some(buffer_.prepare(kReadChunk), [self = self()](error_code ec, std::size_t n) {
      if (self->closed_) return;
      if (ec) return self->close_now();
      self->buffer_.commit(n);
      auto first = static_cast<const unsigned char*>(self->buffer_.data().data())[0];
      if (first != kTlsHandshakeRecord) return self->answer_not_tls();
      self->stream_.async_handshake(ssl::stream_base::server, self->buffer_.data(),
                                    [self](error_code ec2, std::size_t used) {
                                      if (self->closed_) return;
                                      if (ec2) {
                                        self->server_.handshake_failures.fetch_add(1);
                                        return self->close_now();
                                      }
                                      self->buffer_.consume(used);
                                      self->arm_read(self->server_.limits.header_timeout);
                                      self->read_header();
                                    });
    });
  }

  // Plain HTTP (or anything else) on the TLS port: say so in plain text, which
  // is what a person pointing curl or a browser at http:// will see.
  void answer_not_tls() requires kTls {
    server_.bad_requests.fetch_add(1);
    phase_ = Phase::kClosing;
    buffer_.consume(buffer_.size());
    static const std::string kBody = "This port speaks HTTPS; use https:// instead of http://\n";
    raw_out_ = "HTTP/1.1 400 Bad Request\r\nContent-Type: text/plain; charset=utf-8\r\nContent-Length: " +
               std::to_string(kBody.size()) + "\r\nConnection: close\r\n\r\n" + kBody;
    arm(write_timer_, server_.limits.write_timeout);
    asio::async_write(sock(), asio::buffer(raw_out_), [self = self()](error_code ec, std::size_t) {
      self->write_timer_.expires_at(Clock::time_point::max());
      if (self->closed_) return;
      if (ec) return self->close_now();
      self->linger_close();
    });
  }

  // ---- reading requests ------------------------------------------------------
  void read_header() {
    phase_ = Phase::kReadHeader;
    parser_.emplace();
    parser_->header_limit(static_cast<std::uint32_t>(std::min<std::size_t>(server_.limits.max_header_bytes, UINT32_MAX)));
    parser_->body_limit(server_.limits.max_body_bytes);
    http::async_read_header(stream_, buffer_, *parser_, [self = self()](error_code ec, std::size_t) {
      self->on_header(ec);
    });
  }

  void on_header(error_code ec) {
    if (closed_) return;
    if (ec) return on_read_error(ec, /*in_header=*/true);
    auto& req = parser_->get();
    // Answer "100 Continue" only for a body we are willing to read; a body
    // over the limit was already refused by the parser (413 above).
    auto expect = req[http::field::expect];
    if (!expect.empty() && beast::iequals(expect, "100-continue") && req.version() >= 11)
      enqueue("HTTP/1.1 100 Continue\r\n\r\n");
    phase_ = Phase::kReadBody;
    arm_read(server_.limits.body_timeout);
    http::async_read(stream_, buffer_, *parser_, [self = self()](error_code ec2, std::size_t) {
      if (self->closed_) return;
      if (ec2) return self->on_read_error(ec2, false);
      self->disarm_read();
      self->dispatch();
    });
  }

  void on_read_error(error_code ec, bool in_header) {
    const std::string body_limit = std::to_string(server_.limits.max_body_bytes);
    const std::string header_limit = std::to_string(server_.limits.max_header_bytes);
    if (ec == http::error::body_limit || (!in_header && ec == http::error::buffer_overflow)) {
      server_.bad_requests.fetch_add(1);
      return reject(413, "request body exceeds the limit of " + body_limit + " bytes", "request_too_large");
    }
    if (ec == http::error::header_limit || ec == http::error::buffer_overflow) {
      server_.bad_requests.fetch_add(1);
      return reject(431, "request headers exceed the limit of " + header_limit + " bytes",
                    "request_header_fields_too_large");
    }
    // Any other parser error is a malformed request we can still answer.
    // end_of_stream is the client closing between requests (the normal end
    // of keep-alive) and partial_message a client gone mid-request: nobody
    // is left to answer. Socket and TLS errors likewise just close.
    if (ec.category() == http::make_error_code(http::error::bad_method).category() &&
        ec != http::error::end_of_stream && ec != http::error::partial_message) {
      server_.bad_requests.fetch_add(1);
      return reject(400, "malformed HTTP request: " + ec.message(), "bad_request");
    }
    close_now();
  }

  // An error the network layer answers itself, then closes: after a broken
  // or refused request the byte stream cannot be trusted to be in sync.
  void reject(int status, const std::string& message, const std::string& code) {
    disarm_read();
    phase_ = Phase::kHandling;
    keep_alive_ = false;
    request_id_ = new_request_id();
    ++seq_;
    log::info("request " + request_id_ + " from " + remote_ + ": " + std::to_string(status) + " " + message);
    const std::string body = error_json(message, code);
    enqueue(format_head(status, "application/json", {}, request_id_, false, body.size()) + body);
    response_finished_ = true;
    counts_as_served_ = false;
  }

  void dispatch() {
    auto msg = parser_->release();
    parser_.reset();
    phase_ = Phase::kHandling;
    response_finished_ = false;
    counts_as_served_ = true;
    // HTTP/1.0 keep-alive is not worth its corner cases (no chunked streams).
    keep_alive_ = msg.keep_alive() && msg.version() >= 11 && !server_.stopping.load();
    request_id_ = new_request_id();
    ++seq_;

    HttpRequest req;
    req.method = std::string(msg.method_string());
    req.target = std::string(msg.target());
    req.path = req.target.substr(0, req.target.find('?'));
    for (const auto& f : msg) {
      std::string name(f.name_string());
      for (char& c : name) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
      auto [it, inserted] = req.headers.emplace(name, std::string(f.value()));
      if (!inserted) it->second += ", " + std::string(f.value());  // RFC 9110 list folding
    }
    req.remote = remote_;
    req.request_id = request_id_;

    if (server_.ws_handler != nullptr && req.path == server_.ws_path && beast::websocket::is_upgrade(msg))
      return upgrade_to_websocket(std::move(msg), std::move(req));
    req.body = std::move(msg.body());

    auto response = std::make_shared<ResponseImpl>(server_.lifeline, weak_from_this(), seq_, request_id_,
                                                   keep_alive_, msg.method() == http::verb::head,
                                                   msg.version() >= 11);
    response_ = response;
    // Keep a read pending while the handler works: it is how a client that
    // hangs up mid-generation is noticed at once (on_close), and later it is
    // the keep-alive wait for the next request.
    if (buffer_.size() == 0) wait_for_bytes();
    try {
      server_.handler.handle(req, std::move(response));
    } catch (const std::exception& e) {  // a handler bug must not take the server down
      log::error("request " + request_id_ + ": handler threw: " + e.what());
    }
  }

  void upgrade_to_websocket(UpgradeRequest msg, HttpRequest req) {
    std::optional<WebSocketHandler::Refusal> refusal;
    try {
      refusal = server_.ws_handler->admit(req);
    } catch (const std::exception& e) {
      log::error("request " + request_id_ + ": WebSocket admit threw: " + e.what());
      refusal = WebSocketHandler::Refusal{500, "application/json", error_json("internal error", "internal_error")};
    }
    if (refusal) {
      // An ordinary HTTP answer; the connection stays usable for HTTP.
      enqueue(format_head(refusal->status, refusal->content_type, {}, request_id_, keep_alive_,
                          refusal->body.size()) +
              refusal->body);
      response_finished_ = true;
      if (buffer_.size() == 0) wait_for_bytes();
      return;
    }
    if (buffer_.size() != 0 || writing_) {
      // Bytes after an upgrade request, before our 101, break the protocol.
      server_.bad_requests.fetch_add(1);
      return reject(400, "data sent before the WebSocket handshake completed", "bad_request");
    }
    // Hand the stream over. This session is done: mark it closed without
    // closing the socket, so its remaining timer handlers do nothing.
    closed_ = true;
    phase_ = Phase::kClosed;
    read_timer_.cancel();
    write_timer_.cancel();
    server_.websockets.fetch_add(1);
    if constexpr (kTls) {
      start_websocket_session(server_, std::move(stream_), ctx_, std::move(msg), std::move(req));
    } else {
      start_websocket_session(server_, std::move(stream_), std::move(msg), std::move(req));
    }
  }

  // A read of whatever comes next: data (the next request, possibly
  // pipelined), EOF or an error (the client is gone).
  void wait_for_bytes() {
    const std::size_t room = buffer_.max_size() - buffer_.size();
    if (room == 0 || watch_pending_) return;
    watch_pending_ = true;
    stream_.async_read_some(buffer_.prepare(std::min(room, kReadChunk)), [self = self()](error_code ec, std::size_t n) {
      self->watch_pending_ = false;
      if (self->closed_) return;
      if (ec) return self->close_now();
      self->buffer_.commit(n);
      switch (self->phase_) {
        case Phase::kIdle:
          self->arm_read(self->server_.limits.header_timeout);
          return self->read_header();
        case Phase::kClosing:
          self->buffer_.consume(self->buffer_.size());
          return self->wait_for_bytes();  // draining
        default:
          return;  // pipelined bytes wait in buffer_ until the response is done
      }
    });
  }

  // ---- writing ---------------------------------------------------------------
  void enqueue(std::string bytes) {
    out_.push_back(std::move(bytes));
    if (!writing_) do_write();
  }

  void do_write() {
    // Everything queued goes out as one write: a token stream is many small
    // chunks, and one TLS record per chunk would multiply the overhead.
    writing_buf_.clear();
    for (auto& s : out_) writing_buf_ += s;
    out_.clear();
    writing_ = true;
    arm(write_timer_, server_.limits.write_timeout);
    asio::async_write(stream_, asio::buffer(writing_buf_), [self = self()](error_code ec, std::size_t) {
      self->writing_ = false;
      self->write_timer_.expires_at(Clock::time_point::max());
      if (self->closed_) return;
      if (ec) return self->close_now();
      if (!self->out_.empty()) return self->do_write();
      if (self->phase_ == Phase::kHandling && self->response_finished_) self->on_response_complete();
    });
  }

  void on_response_complete() {
    if (counts_as_served_) server_.served.fetch_add(1);
    response_.reset();
    if (!keep_alive_ || server_.stopping.load()) return linger_close();
    phase_ = Phase::kIdle;
    if (buffer_.size() > 0) {
      arm_read(server_.limits.header_timeout);
      return read_header();
    }
    arm_read(server_.limits.idle_timeout);
    wait_for_bytes();  // no-op if the watch read is still pending
  }

  // ---- closing -----------------------------------------------------------------
  // Half-close our side, then read and discard what the client still sends
  // (the rest of a refused body) until it closes or close_linger runs out:
  // closing with unread bytes would make the kernel send a reset that can
  // destroy our error response before the client reads it.
  void linger_close() {
    phase_ = Phase::kClosing;
    error_code ec;
    sock().shutdown(tcp::socket::shutdown_send, ec);
    arm_read(server_.limits.close_linger);
    if (watch_pending_) return;  // its completion continues the drain
    drain();
  }

  void drain() {
    drain_buf_.resize(kReadChunk);
    sock().async_read_some(asio::buffer(drain_buf_), [self = self()](error_code ec, std::size_t) {
      if (self->closed_) return;
      if (ec) return self->close_now();
      self->drain();
    });
  }

  void close_now() {
    if (closed_) return;
    closed_ = true;
    phase_ = Phase::kClosed;
    read_timer_.cancel();
    write_timer_.cancel();
    error_code ec;
    sock().shutdown(tcp::socket::shutdown_both, ec);
    sock().close(ec);
    if (auto r = response_.lock()) static_cast<ResponseImpl*>(r.get())->mark_closed();
    response_.reset();
  }

  HttpServer::Impl& server_;
  std::shared_ptr<ssl::context> ctx_;  // TLS: the context this connection was accepted with
  Stream stream_;
  asio::steady_timer read_timer_;
  asio::steady_timer write_timer_;
  beast::flat_buffer buffer_;
  std::optional<http::request_parser<http::string_body>> parser_;
  std::string remote_;

  Phase phase_ = Phase::kHandshake;
  bool closed_ = false;
  bool watch_pending_ = false;
  bool writing_ = false;
  std::deque<std::string> out_;
  std::string writing_buf_;
  std::string raw_out_;
  std::string drain_buf_;

  // The request being answered.
  std::uint64_t seq_ = 0;
  std::string request_id_;
  bool keep_alive_ = false;
  bool response_finished_ = false;  // the last bytes of the response are queued
  bool counts_as_served_ = false;
  std::weak_ptr<ResponseStream> response_;
};

}  // namespace

void HttpServer::Impl::do_accept() {
  acceptor.async_accept(asio::make_strand(ioc), [this](error_code ec, tcp::socket socket) {
    on_accept(ec, std::move(socket));
  });
}

void HttpServer::Impl::on_accept(error_code ec, tcp::socket socket) {
  if (!acceptor.is_open() || stopping.load()) return;
  if (ec) {
    if (ec == asio::error::operation_aborted) return;
    // Out of file descriptors and the like: back off instead of spinning.
    log::warning("accept failed: " + ec.message());
    retry_timer.expires_after(std::chrono::milliseconds(100));
    retry_timer.async_wait([this](error_code e) {
      if (!e) do_accept();
    });
    return;
  }
  accepted.fetch_add(1);
  if (open_connections.load() >= limits.max_connections) {
    rejected.fetch_add(1);
    error_code ignored;
    socket.close(ignored);
    return do_accept();
  }
  error_code ignored;
  socket.set_option(tcp::no_delay(true), ignored);  // token streams are latency-bound
  try {
    if (tls) {
      std::make_shared<Session<true>>(*this, std::move(socket), tls->context())->start();
    } else {
      std::make_shared<Session<false>>(*this, std::move(socket))->start();
    }
  } catch (const std::exception& e) {  // SSL_new failing (out of memory): drop this one only
    log::warning(std::string("cannot set up a connection: ") + e.what());
  }
  do_accept();
}

void HttpServer::Impl::close_acceptor() {
  error_code ec;
  acceptor.close(ec);
  retry_timer.cancel();
}

HttpServer::HttpServer(ServerLimits limits, std::shared_ptr<TlsConfig> tls, HttpHandler& handler, int n_threads)
    : impl_(std::make_unique<Impl>(limits, std::move(tls), handler, n_threads)) {}

HttpServer::~HttpServer() {
  shutdown(std::chrono::milliseconds(0));
  // From here on a producer still holding a ResponseStream gets no-ops
  // instead of posting into the io_context being destroyed.
  std::unique_lock lock(impl_->lifeline->mu);
  impl_->lifeline->alive = false;
}

Status HttpServer::listen(const std::string& host, std::uint16_t port) {
  error_code ec;
  asio::ip::address addr = host == "localhost" ? asio::ip::address(asio::ip::address_v4::loopback())
                                               : asio::ip::make_address(host, ec);
  if (ec) return Status::error("listen address '" + host + "' is not an IP address (or 'localhost')");
  if (!impl_->tls && !addr.is_loopback())
    return Status::error("plain HTTP may only listen on a loopback address (127.0.0.1, ::1), not '" + host +
                         "'; use TLS for other addresses");
  tcp::endpoint ep(addr, port);
  auto& a = impl_->acceptor;
  const std::string where = host + ":" + std::to_string(port);
  if (a.open(ep.protocol(), ec); ec) return Status::error("listen on " + where + ": " + ec.message());
  a.set_option(asio::socket_base::reuse_address(true), ec);
  if (a.bind(ep, ec); ec) {
    a.close(ec);
    return Status::error("listen on " + where + ": cannot bind: " + ec.message());
  }
  if (a.listen(asio::socket_base::max_listen_connections, ec); ec) {
    a.close(ec);
    return Status::error("listen on " + where + ": " + ec.message());
  }
  impl_->bound_port.store(a.local_endpoint(ec).port());
  asio::post(a.get_executor(), [impl = impl_.get()] { impl->do_accept(); });
  return Status::ok();
}

Status HttpServer::adopt_listener(int fd) {
  const std::string where = "inherited socket (fd " + std::to_string(fd) + ")";
  sockaddr_storage addr{};
  socklen_t len = sizeof(addr);
  if (::getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len) != 0) {
    const int err = errno;
    ::close(fd);
    return Status::error(where + ": " + std::strerror(err));
  }
  error_code ec;
  auto& a = impl_->acceptor;
  if (a.assign(addr.ss_family == AF_INET6 ? tcp::v6() : tcp::v4(), fd, ec); ec) {
    ::close(fd);
    return Status::error(where + ": " + ec.message());
  }
  const tcp::endpoint ep = a.local_endpoint(ec);
  if (ec || (!impl_->tls && !ep.address().is_loopback())) {
    a.close(ec);
    return Status::error(where + ": plain HTTP may only listen on a loopback address, not " +
                         ep.address().to_string());
  }
  impl_->bound_port.store(ep.port());
  asio::post(a.get_executor(), [impl = impl_.get()] { impl->do_accept(); });
  return Status::ok();
}

std::uint16_t HttpServer::port() const { return impl_->bound_port.load(); }

void HttpServer::post(std::function<void()> task) {
  if (impl_->stopping.load()) return;
  asio::post(impl_->ioc, std::move(task));
}
bool HttpServer::is_tls() const { return impl_->tls != nullptr; }

void HttpServer::set_websocket_handler(std::string path, WebSocketHandler& handler) {
  impl_->ws_path = std::move(path);
  impl_->ws_handler = &handler;
}

void HttpServer::start() {
  std::lock_guard lock(impl_->mu);
  if (impl_->started || impl_->finished) return;
  impl_->started = true;
  impl_->work.emplace(impl_->ioc.get_executor());
  for (int i = 0; i < impl_->n_threads; ++i) impl_->threads.emplace_back([this] { impl_->ioc.run(); });
}

void HttpServer::run() {
  start();
  std::unique_lock lock(impl_->mu);
  impl_->cv.wait(lock, [this] { return impl_->finished; });
}

void HttpServer::stop_accepting() {
  bool running;
  {
    std::lock_guard lock(impl_->mu);
    running = impl_->started && !impl_->finished;
  }
  if (!running) return impl_->close_acceptor();
  if (impl_->ioc.get_executor().running_in_this_thread()) {
    // From a handler: waiting could deadlock a one-thread server; the close
    // happens as soon as this handler returns.
    asio::post(impl_->acceptor.get_executor(), [impl = impl_.get()] { impl->close_acceptor(); });
    return;
  }
  // The acceptor lives on its strand; wait so that, on return, the port is closed.
  std::promise<void> done;
  asio::post(impl_->acceptor.get_executor(), [&] {
    impl_->close_acceptor();
    done.set_value();
  });
  done.get_future().wait();
}

void HttpServer::shutdown(std::chrono::milliseconds grace) {
  {
    std::lock_guard lock(impl_->mu);
    if (impl_->finished) return;
  }
  if (impl_->stopping.exchange(true)) {  // another thread is shutting down: wait for it
    std::unique_lock lock(impl_->mu);
    impl_->cv.wait(lock, [this] { return impl_->finished; });
    return;
  }
  stop_accepting();
  for (auto& s : impl_->live_sessions()) s->server_stopping();
  const auto deadline = Clock::now() + grace;
  {
    std::unique_lock lock(impl_->mu);
    impl_->cv.wait_until(lock, deadline, [this] { return impl_->sessions.empty(); });
  }
  for (auto& s : impl_->live_sessions()) s->force_close();
  {
    // Give the forced closes a moment to run their handlers.
    std::unique_lock lock(impl_->mu);
    impl_->cv.wait_for(lock, std::chrono::seconds(1), [this] { return impl_->sessions.empty(); });
  }
  impl_->work.reset();
  impl_->ioc.stop();
  for (auto& t : impl_->threads)
    if (t.joinable()) t.join();
  impl_->threads.clear();
  std::lock_guard lock(impl_->mu);
  impl_->finished = true;
  impl_->cv.notify_all();
}

ServerStats HttpServer::stats() const {
  ServerStats s;
  s.open_connections = impl_->open_connections.load();
  s.connections_accepted = impl_->accepted.load();
  s.connections_rejected = impl_->rejected.load();
  s.requests_served = impl_->served.load();
  s.bad_requests = impl_->bad_requests.load();
  s.tls_handshake_failures = impl_->handshake_failures.load();
  s.timeouts = impl_->timeouts.load();
  s.websocket_connections = impl_->websockets.load();
  return s;
}

}  // namespace hearth::server
