// WebSocket sessions: a connection whose HTTP request was an admitted
// upgrade continues here, on the same strand and socket (plain or TLS).
//
// Limits: messages over ws_max_message_bytes close with 1009 (Beast sends
// the close frame); binary messages close with 1003; a client silent for
// ws_idle_timeout is closed (Beast pings at half of it, so live clients
// answer); a write stuck for write_timeout drops the connection; graceful
// shutdown closes with 1012 after the queued messages.
//
// The second Beast-heavy translation unit of net/ (websocket templates).
#include <deque>
#include <type_traits>

#include <boost/asio/ssl.hpp>
#include <boost/beast/core/buffers_to_string.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/core/stream_traits.hpp>
#include <boost/beast/websocket.hpp>
#include <boost/beast/websocket/ssl.hpp>

#include "common/log.h"
#include "server/net/server_internal.h"

namespace hearth::server::detail {
namespace {

namespace beast = boost::beast;
namespace websocket = beast::websocket;
namespace ssl = asio::ssl;
using error_code = boost::system::error_code;
using Clock = std::chrono::steady_clock;

class WsSessionBase : public SessionBase {
 public:
  virtual void post_send(std::string message) = 0;
  virtual void post_close(std::uint16_t code, std::string reason) = 0;
  // HTTP responses do not exist on an upgraded connection.
  void post_bytes(std::uint64_t, std::string, bool) override {}
  void post_abandoned(std::uint64_t, bool) override {}
};

class WsConnectionImpl final : public WebSocketConnection {
 public:
  WsConnectionImpl(std::shared_ptr<Lifeline> lifeline, std::weak_ptr<WsSessionBase> session, std::string id)
      : lifeline_(std::move(lifeline)), session_(std::move(session)), id_(std::move(id)) {}

  void send_text(std::string message) override {
    if (closed_.load()) return;
    with_session([&](WsSessionBase& s) { s.post_send(std::move(message)); });
  }
  void close(std::uint16_t code, std::string reason) override {
    if (closed_.exchange(true)) return;
    with_session([&](WsSessionBase& s) { s.post_close(code, std::move(reason)); });
  }
  bool closed() const override { return closed_.load(); }
  const std::string& request_id() const override { return id_; }
  void mark_closed() { closed_.store(true); }

 private:
  template <typename F>
  void with_session(F&& f) {
    std::shared_lock alive(lifeline_->mu);  // the server (and its io_context) still exists
    if (!lifeline_->alive) return;
    if (auto s = session_.lock()) f(*s);
  }

  const std::shared_ptr<Lifeline> lifeline_;
  const std::weak_ptr<WsSessionBase> session_;
  const std::string id_;
  std::atomic<bool> closed_{false};
};

template <bool kTls>
class WsSession final : public WsSessionBase {
 public:
  using Next = std::conditional_t<kTls, ssl::stream<tcp::socket>, tcp::socket>;

  WsSession(HttpServer::Impl& server, Next next, std::shared_ptr<ssl::context> ctx, UpgradeRequest upgrade,
            HttpRequest request)
      : server_(server), ctx_(std::move(ctx)), ws_(std::move(next)), write_timer_(ws_.get_executor()),
        upgrade_(std::move(upgrade)), request_(std::move(request)) {
    server_.open_connections.fetch_add(1);  // paired with the destructor
  }
  ~WsSession() override { server_.session_closed(this); }

  // On the connection's strand (called by the HTTP session that owned it).
  void start() {
    server_.session_opened(this, shared_from_this());
    conn_ = std::make_shared<WsConnectionImpl>(server_.lifeline, std::weak_ptr<WsSessionBase>(self()),
                                               request_.request_id);
    const auto& l = server_.limits;
    websocket::stream_base::timeout t;
    t.handshake_timeout = l.handshake_timeout;  // the opening and the closing handshake
    t.idle_timeout = l.ws_idle_timeout;
    t.keep_alive_pings = true;
    ws_.set_option(t);
    // The message limit is enforced in do_read, which leaves the stream
    // usable so we close with 1009 ourselves (any error inside Beast fails
    // the stream, after which no close frame can be sent). Beast's own limit
    // is a backstop for a single frame announcing a huge length: it answers
    // 1009 too, but the handler then sees 1006.
    ws_.read_message_max(2 * l.ws_max_message_bytes + 1024);
    ws_.set_option(websocket::stream_base::decorator(
        [id = request_.request_id](websocket::response_type& res) { res.set("x-request-id", id); }));
    ws_.async_accept(upgrade_, [self = self()](error_code ec) { self->on_accept(ec); });
  }

  void post_send(std::string message) override {
    asio::post(ws_.get_executor(), [self = self(), m = std::move(message)]() mutable {
      if (self->closing_ || self->done_) return;
      self->out_.push_back(std::move(m));
      if (!self->writing_) self->do_write();
    });
  }

  void post_close(std::uint16_t code, std::string reason) override {
    asio::post(ws_.get_executor(), [self = self(), code, r = std::move(reason)]() mutable {
      self->begin_close(code, std::move(r));
    });
  }

  void server_stopping() override { post_close(kWsCloseServiceRestart, "server shutting down"); }

  void force_close() override {
    asio::post(ws_.get_executor(), [self = self()] {
      self->close_socket();
      self->finish(kWsCloseAbnormal);
    });
  }

 private:
  std::shared_ptr<WsSession> self() { return std::static_pointer_cast<WsSession>(shared_from_this()); }

  void on_accept(error_code ec) {
    if (ec) {
      server_.handshake_failures.fetch_add(1);
      close_socket();
      return finish(kWsCloseAbnormal);
    }
    opened_ = true;
    if (server_.stopping.load() && !closing_) {
      closing_ = true;
      conn_->mark_closed();
      close_code_ = kWsCloseServiceRestart;
      close_reason_ = "server shutting down";
    }
    if (closing_) return do_close();  // shutdown began during the handshake
    handler_open_ = true;
    try {
      server_.ws_handler->on_open(request_, conn_);
    } catch (const std::exception& e) {
      log::error("request " + request_.request_id + ": WebSocket on_open threw: " + e.what());
    }
    do_read();
  }

  // Reads a message in pieces, never more than one byte past the limit.
  void do_read() {
    const std::size_t max = server_.limits.ws_max_message_bytes;
    ws_.async_read_some(in_, max + 1 - in_.size(), [self = self()](error_code ec, std::size_t) { self->on_read(ec); });
  }

  void on_read(error_code ec) {
    if (ec) {
      std::uint16_t code = kWsCloseAbnormal;
      if (ec == websocket::error::closed) {
        code = ws_.reason().code;  // the peer's close frame (Beast already answered it)
      } else if (ec == websocket::error::message_too_big) {
        code = kWsCloseTooBig;  // Beast sent the 1009 close frame
        server_.bad_requests.fetch_add(1);
      } else if (ec == beast::error::timeout) {
        server_.timeouts.fetch_add(1);
      }
      if (!closing_) close_socket();
      return finish(code);
    }
    if (in_.size() > server_.limits.ws_max_message_bytes) {
      server_.bad_requests.fetch_add(1);
      in_.consume(in_.size());
      return begin_close(kWsCloseTooBig,
                         "message exceeds " + std::to_string(server_.limits.ws_max_message_bytes) + " bytes");
    }
    if (!ws_.is_message_done()) return do_read();
    if (!ws_.got_text()) {
      server_.bad_requests.fetch_add(1);
      in_.consume(in_.size());
      return begin_close(kWsCloseUnsupportedData, "binary messages are not supported; send JSON text");
    }
    std::string text = beast::buffers_to_string(in_.data());
    in_.consume(in_.size());
    if (!closing_) {
      try {
        server_.ws_handler->on_message(conn_, std::move(text));
      } catch (const std::exception& e) {
        log::error("request " + request_.request_id + ": WebSocket on_message threw: " + e.what());
      }
    }
    do_read();
  }

  void do_write() {
    writing_ = true;
    ws_.text(true);
    arm_write_timer();
    ws_.async_write(asio::buffer(out_.front()), [self = self()](error_code ec, std::size_t) {
      self->writing_ = false;
      self->write_timer_.expires_at(Clock::time_point::max());
      if (ec) {
        self->close_socket();
        return self->finish(kWsCloseAbnormal);
      }
      self->out_.pop_front();
      if (self->done_) return;
      if (!self->out_.empty()) return self->do_write();
      if (self->close_pending_) self->do_close();
    });
  }

  // Closes after the queued messages are written.
  void begin_close(std::uint16_t code, std::string reason) {
    if (closing_ || done_) return;
    closing_ = true;
    conn_->mark_closed();
    close_code_ = code;
    close_reason_ = std::move(reason);
    if (!opened_) return;  // the handshake's completion will see closing_
    if (writing_) {
      close_pending_ = true;
    } else {
      do_close();
    }
  }

  void do_close() {
    close_pending_ = false;
    websocket::close_reason reason(static_cast<websocket::close_code>(close_code_), close_reason_);
    ws_.async_close(reason, [self = self()](error_code) {
      self->close_socket();
      self->finish(self->close_code_);
    });
  }

  void arm_write_timer() {
    write_timer_.expires_after(server_.limits.write_timeout);
    write_timer_.async_wait([self = self()](error_code ec) {
      if (ec || self->done_ || self->write_timer_.expiry() > Clock::now()) return;
      self->server_.timeouts.fetch_add(1);
      self->close_socket();  // the pending write fails and finishes the session
    });
  }

  void close_socket() {
    error_code ec;
    auto& sock = beast::get_lowest_layer(ws_);
    sock.shutdown(tcp::socket::shutdown_both, ec);
    sock.close(ec);
  }

  // Exactly once: tell the producer side, then the handler.
  void finish(std::uint16_t code) {
    if (done_) return;
    done_ = true;
    write_timer_.cancel();
    out_.clear();
    conn_->mark_closed();
    if (!handler_open_) return;
    try {
      server_.ws_handler->on_close(conn_, code);
    } catch (const std::exception& e) {
      log::error("request " + request_.request_id + ": WebSocket on_close threw: " + e.what());
    }
  }

  HttpServer::Impl& server_;
  std::shared_ptr<ssl::context> ctx_;  // TLS: keeps the accept-time context alive
  websocket::stream<Next> ws_;
  asio::steady_timer write_timer_;
  UpgradeRequest upgrade_;
  HttpRequest request_;
  std::shared_ptr<WsConnectionImpl> conn_;
  beast::flat_buffer in_;
  std::deque<std::string> out_;
  bool opened_ = false;        // the handshake completed
  bool handler_open_ = false;  // on_open was called, so on_close is owed
  bool writing_ = false;
  bool closing_ = false;
  bool close_pending_ = false;
  bool done_ = false;
  std::uint16_t close_code_ = kWsCloseNormal;
  std::string close_reason_;
};

}  // namespace

void start_websocket_session(HttpServer::Impl& server, asio::ssl::stream<tcp::socket> stream,
                             std::shared_ptr<asio::ssl::context> ctx, UpgradeRequest upgrade, HttpRequest request) {
  std::make_shared<WsSession<true>>(server, std::move(stream), std::move(ctx), std::move(upgrade),
                                    std::move(request))
      ->start();
}

void start_websocket_session(HttpServer::Impl& server, tcp::socket stream, UpgradeRequest upgrade,
                             HttpRequest request) {
  std::make_shared<WsSession<false>>(server, std::move(stream), nullptr, std::move(upgrade), std::move(request))
      ->start();
}

}  // namespace hearth::server::detail
