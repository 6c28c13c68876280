// Internal to net/: the server state shared by the HTTP sessions
// (http_server.cpp) and the WebSocket sessions (ws_session.cpp), and the
// hand-over from one to the other. Heavy (Asio, Beast): include only there.
//
// Thread-safety: Impl's atomics and its mutex-guarded members are safe from
// any thread; the rest is set up before the network threads start.
#pragma once

#include <algorithm>
#include <atomic>
#include <condition_variable>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <unordered_map>
#include <vector>

#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/ssl/context.hpp>
#include <boost/asio/ssl/stream.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/strand.hpp>
#include <boost/beast/http/message.hpp>
#include <boost/beast/http/string_body.hpp>

#include "server/net/http_response.h"
#include "server/net/http_server.h"

namespace hearth::server {

// Short names for the net/ implementation files (this header is internal).
namespace asio = boost::asio;
using tcp = boost::asio::ip::tcp;

struct HttpServer::Impl {
  Impl(ServerLimits l, std::shared_ptr<TlsConfig> t, HttpHandler& h, int n)
      : limits(l), tls(std::move(t)), handler(h), n_threads(std::max(1, n)),
        acceptor(asio::make_strand(ioc)), retry_timer(acceptor.get_executor()) {}

  void do_accept();
  void on_accept(boost::system::error_code ec, tcp::socket socket);
  void close_acceptor();

  void session_opened(detail::SessionBase* s, const std::shared_ptr<detail::SessionBase>& sp) {
    std::lock_guard lock(mu);
    sessions[s] = sp;
  }
  void session_closed(detail::SessionBase* s) {
    std::lock_guard lock(mu);
    sessions.erase(s);
    open_connections.fetch_sub(1);
    cv.notify_all();
  }
  std::vector<std::shared_ptr<detail::SessionBase>> live_sessions() {
    std::vector<std::shared_ptr<detail::SessionBase>> out;
    std::lock_guard lock(mu);
    for (auto& [p, w] : sessions)
      if (auto s = w.lock()) out.push_back(std::move(s));
    return out;
  }

  const ServerLimits limits;
  const std::shared_ptr<TlsConfig> tls;
  HttpHandler& handler;
  const int n_threads;

  const std::shared_ptr<detail::Lifeline> lifeline = std::make_shared<detail::Lifeline>();
  std::atomic<bool> stopping{false};
  std::atomic<std::uint16_t> bound_port{0};
  std::atomic<std::uint64_t> open_connections{0}, accepted{0}, rejected{0}, served{0}, bad_requests{0},
      handshake_failures{0}, timeouts{0}, websockets{0};
  // Set before start(), read-only afterwards.
  WebSocketHandler* ws_handler = nullptr;
  std::string ws_path;

  std::mutex mu;
  std::condition_variable cv;
  std::unordered_map<detail::SessionBase*, std::weak_ptr<detail::SessionBase>> sessions;  // guarded by mu
  bool finished = false;                                                  // guarded by mu
  bool started = false;                                                   // guarded by mu

  std::vector<std::thread> threads;
  // Declared after the state above so it is destroyed before it: destroying
  // it destroys pending handlers and with them the sessions, whose
  // destructors use that state.
  asio::io_context ioc;
  std::optional<asio::executor_work_guard<asio::io_context::executor_type>> work;
  tcp::acceptor acceptor;
  asio::steady_timer retry_timer;
};

namespace detail {

using UpgradeRequest = boost::beast::http::request<boost::beast::http::string_body>;

// Takes over a connection whose request is a WebSocket upgrade for the
// configured path (already admitted by the handler): performs the handshake
// and runs the WebSocket session. The caller gives up the stream.
void start_websocket_session(HttpServer::Impl& server, asio::ssl::stream<tcp::socket> stream,
                             std::shared_ptr<asio::ssl::context> ctx, UpgradeRequest upgrade, HttpRequest request);
void start_websocket_session(HttpServer::Impl& server, tcp::socket stream, UpgradeRequest upgrade,
                             HttpRequest request);

}  // namespace detail
}  // namespace hearth::server
