// The shared support of the daemon/server/net tests (server_net_test.cpp:
// HTTP, TLS and hostile input; server_net_ws_test.cpp: WebSocket): test
// handlers, certificates, a Beast TLS client, raw sockets, and the
// ServerNetTest fixture that starts an HttpServer with short timeouts.
// Included by exactly those two files.
#pragma once

#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <map>
#include <mutex>
#include <random>
#include <regex>
#include <string>
#include <thread>
#include <vector>

#include <boost/asio/connect.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/ssl.hpp>
#include <boost/beast/core/buffers_to_string.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/http.hpp>
#include <boost/beast/websocket.hpp>
#include <boost/beast/websocket/ssl.hpp>
#include <gtest/gtest.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

#include "server/net/http_server.h"
#include "server/net/self_signed_cert.h"
#include "server/net/tls_config.h"

namespace hearth::net_testing {

namespace fs = std::filesystem;
namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
namespace ssl = asio::ssl;
using tcp = asio::ip::tcp;
using namespace std::chrono_literals;
using hearth::server::HttpHandler;
using hearth::server::HttpRequest;
using hearth::server::HttpServer;
using hearth::server::ResponseStream;
using hearth::server::ServerLimits;
using hearth::server::TlsConfig;
using hearth::server::TlsSettings;
using hearth::server::WebSocketConnection;
using hearth::server::WebSocketHandler;
namespace websocket = beast::websocket;

inline fs::path make_temp_dir() {
  std::string tmpl = (fs::temp_directory_path() / "hearth-net-test-XXXXXX").string();
  char* p = ::mkdtemp(tmpl.data());
  if (p == nullptr) std::abort();
  return p;
}

template <typename Pred>
bool wait_until(Pred pred, std::chrono::milliseconds limit = 3000ms) {
  auto deadline = std::chrono::steady_clock::now() + limit;
  while (std::chrono::steady_clock::now() < deadline) {
    if (pred()) return true;
    std::this_thread::sleep_for(10ms);
  }
  return pred();
}

inline std::string query_param(const std::string& target, const std::string& key, const std::string& def) {
  auto q = target.find('?');
  if (q == std::string::npos) return def;
  std::string rest = target.substr(q + 1);
  size_t pos = 0;
  while (pos <= rest.size()) {
    size_t amp = rest.find('&', pos);
    std::string kv = rest.substr(pos, amp == std::string::npos ? std::string::npos : amp - pos);
    auto eq = kv.find('=');
    if (eq != std::string::npos && kv.substr(0, eq) == key) return kv.substr(eq + 1);
    if (amp == std::string::npos) break;
    pos = amp + 1;
  }
  return def;
}

// ---- the handler under test ---------------------------------------------------
// /echo: method, target and body back.  /stream?n=&delay_ms=: n SSE events from
// a producer thread.  /never: parks the response and never answers.
// /drop: drops the response without answering.
class TestHandler : public HttpHandler {
 public:
  ~TestHandler() override {
    std::vector<std::thread> threads;
    {
      std::lock_guard lock(mu_);
      threads.swap(threads_);
    }
    for (auto& t : threads) t.join();
  }

  void handle(const HttpRequest& req, std::shared_ptr<ResponseStream> out) override {
    {
      std::lock_guard lock(mu_);
      last_request_id_ = req.request_id;
      ++requests_;
    }
    if (req.path == "/echo") {
      auto it = req.headers.find("x-test");
      out->send(200, "text/plain", req.method + " " + req.target + "\n" + req.body,
                {{"x-echo-len", std::to_string(req.body.size())},
                 {"x-echo-header", it == req.headers.end() ? "" : it->second}});
    } else if (req.path == "/stream") {
      const int n = std::stoi(query_param(req.target, "n", "20"));
      const int delay = std::stoi(query_param(req.target, "delay_ms", "5"));
      out->on_close([this] { ++close_count_; });
      std::lock_guard lock(mu_);
      last_stream_ = out;
      threads_.emplace_back([out, n, delay] {
        out->begin_stream(200, "text/event-stream");
        for (int i = 0; i < n && !out->closed(); ++i) {
          out->write("data: " + std::to_string(i) + "\n\n");
          std::this_thread::sleep_for(std::chrono::milliseconds(delay));
        }
        out->end();
      });
    } else if (req.path == "/never") {
      out->on_close([this] { ++close_count_; });
      std::lock_guard lock(mu_);
      parked_.push_back(out);
    } else if (req.path == "/drop") {
      // Nothing: the last reference goes away here.
    } else {
      out->send(404, "application/json", R"({"error":{"message":"no such route"}})");
    }
  }

  std::atomic<int> close_count_{0};
  std::mutex mu_;
  std::string last_request_id_;
  int requests_ = 0;
  std::shared_ptr<ResponseStream> last_stream_;
  std::vector<std::shared_ptr<ResponseStream>> parked_;
  std::vector<std::thread> threads_;
};

// /v1/ws: "Authorization: Bearer good" is admitted; a message "stream"
// answers "tok 0".."tok 4" then "done" from a producer thread; anything
// else is echoed.
class TestWsHandler : public WebSocketHandler {
 public:
  ~TestWsHandler() override {
    for (auto& t : threads_) t.join();
  }
  std::optional<Refusal> admit(const HttpRequest& up) override {
    auto it = up.headers.find("authorization");
    if (it == up.headers.end() || it->second != "Bearer good")
      return Refusal{401, "application/json", R"({"error":{"message":"bad key","code":"invalid_api_key"}})"};
    return std::nullopt;
  }
  void on_open(const HttpRequest&, const std::shared_ptr<WebSocketConnection>& conn) override {
    ++opens_;
    std::lock_guard lock(mu_);
    last_ = conn;
  }
  void on_message(const std::shared_ptr<WebSocketConnection>& conn, std::string text) override {
    if (text == "stream") {
      std::lock_guard lock(mu_);
      threads_.emplace_back([conn] {
        for (int i = 0; i < 5 && !conn->closed(); ++i) {
          conn->send_text("tok " + std::to_string(i));
          std::this_thread::sleep_for(2ms);
        }
        conn->send_text("done");
      });
      return;
    }
    conn->send_text("echo: " + text);
  }
  void on_close(const std::shared_ptr<WebSocketConnection>&, std::uint16_t code) override {
    last_code_ = code;
    ++closes_;
  }
  std::atomic<int> opens_{0}, closes_{0}, last_code_{0};
  std::mutex mu_;
  std::shared_ptr<WebSocketConnection> last_;
  std::vector<std::thread> threads_;
};

// ---- certificates for the mTLS test ----------------------------------------------
struct KeyAndCert {
  fs::path cert, key;
};

inline KeyAndCert make_cert(const fs::path& dir, const std::string& name, bool is_ca, const KeyAndCert* issuer) {
  EVP_PKEY* key = EVP_EC_gen("P-256");
  X509* cert = X509_new();
  X509_set_version(cert, 2);
  ASN1_INTEGER_set(X509_get_serialNumber(cert), std::random_device{}() & 0x7fffffff);
  X509_gmtime_adj(X509_getm_notBefore(cert), -60);
  X509_gmtime_adj(X509_getm_notAfter(cert), 3600);
  X509_set_pubkey(cert, key);
  X509_NAME_add_entry_by_txt(X509_get_subject_name(cert), "CN", MBSTRING_UTF8,
                             reinterpret_cast<const unsigned char*>(name.c_str()), -1, -1, 0);
  X509* issuer_cert = cert;
  EVP_PKEY* issuer_key = key;
  if (issuer != nullptr) {
    FILE* f = std::fopen(issuer->cert.c_str(), "r");
    issuer_cert = PEM_read_X509(f, nullptr, nullptr, nullptr);
    std::fclose(f);
    f = std::fopen(issuer->key.c_str(), "r");
    issuer_key = PEM_read_PrivateKey(f, nullptr, nullptr, nullptr);
    std::fclose(f);
  }
  X509_set_issuer_name(cert, X509_get_subject_name(issuer_cert));
  X509V3_CTX ctx;
  X509V3_set_ctx_nodb(&ctx);
  X509V3_set_ctx(&ctx, issuer_cert, cert, nullptr, nullptr, 0);
  auto add = [&](int nid, const char* v) {
    X509_EXTENSION* ext = X509V3_EXT_conf_nid(nullptr, &ctx, nid, v);
    X509_add_ext(cert, ext, -1);
    X509_EXTENSION_free(ext);
  };
  add(NID_basic_constraints, is_ca ? "critical,CA:TRUE" : "critical,CA:FALSE");
  add(NID_key_usage, is_ca ? "critical,keyCertSign,cRLSign" : "critical,digitalSignature");
  if (!is_ca) add(NID_ext_key_usage, "clientAuth");
  X509_sign(cert, issuer_key, EVP_sha256());
  KeyAndCert out{dir / (name + ".crt"), dir / (name + ".key")};
  FILE* f = std::fopen(out.cert.c_str(), "w");
  PEM_write_X509(f, cert);
  std::fclose(f);
  f = std::fopen(out.key.c_str(), "w");
  PEM_write_PrivateKey(f, key, nullptr, nullptr, 0, nullptr, nullptr);
  std::fclose(f);
  if (issuer != nullptr) {
    X509_free(issuer_cert);
    EVP_PKEY_free(issuer_key);
  }
  X509_free(cert);
  EVP_PKEY_free(key);
  return out;
}

// ---- clients -------------------------------------------------------------------------
struct ClientOptions {
  std::vector<fs::path> trust;
  std::optional<KeyAndCert> client_cert;
  bool tls11_only = false;
};

// A synchronous Beast HTTPS client that verifies the server's certificate
// against `trust` and the name "localhost".
class TlsClient {
 public:
  explicit TlsClient(const ClientOptions& o) : ctx_(ssl::context::tls_client) {
    ctx_.set_verify_mode(ssl::verify_peer);
    for (const auto& t : o.trust) ctx_.load_verify_file(t.string());
    if (o.client_cert) {
      ctx_.use_certificate_chain_file(o.client_cert->cert.string());
      ctx_.use_private_key_file(o.client_cert->key.string(), ssl::context::pem);
    }
    if (o.tls11_only) {
      SSL_CTX_set_security_level(ctx_.native_handle(), 0);
      SSL_CTX_set_min_proto_version(ctx_.native_handle(), TLS1_VERSION);
      SSL_CTX_set_max_proto_version(ctx_.native_handle(), TLS1_1_VERSION);
      SSL_CTX_set_cipher_list(ctx_.native_handle(), "DEFAULT:@SECLEVEL=0");
    }
  }

  // Throws boost::system::system_error when the connection or handshake fails.
  void connect(std::uint16_t port) {
    stream_ = std::make_unique<ssl::stream<tcp::socket>>(ioc_, ctx_);
    SSL_set_tlsext_host_name(stream_->native_handle(), "localhost");
    stream_->set_verify_callback(ssl::host_name_verification("localhost"));
    stream_->lowest_layer().connect(tcp::endpoint(asio::ip::make_address("127.0.0.1"), port));
    stream_->handshake(ssl::stream_base::client);
  }

  http::response<http::string_body> request(http::verb verb, const std::string& target, std::string body = {},
                                            std::vector<std::pair<std::string, std::string>> headers = {}) {
    send(verb, target, std::move(body), headers);
    http::response<http::string_body> res;
    http::read(*stream_, buffer_, res);
    return res;
  }

  void send(http::verb verb, const std::string& target, std::string body = {},
            std::vector<std::pair<std::string, std::string>> headers = {}) {
    http::request<http::string_body> req{verb, target, 11};
    req.set(http::field::host, "localhost");
    for (auto& [k, v] : headers) req.set(k, v);
    req.body() = std::move(body);
    req.prepare_payload();
    http::write(*stream_, req);
  }

  std::string peer_fingerprint() {
    X509* c = SSL_get1_peer_certificate(stream_->native_handle());
    if (c == nullptr) return {};
    unsigned char md[EVP_MAX_MD_SIZE];
    unsigned int len = 0;
    X509_digest(c, EVP_sha256(), md, &len);
    X509_free(c);
    std::string out;
    char b[4];
    for (unsigned i = 0; i < len; ++i) {
      std::snprintf(b, sizeof b, i ? ":%02X" : "%02X", md[i]);
      out += b;
    }
    return out;
  }

  ssl::stream<tcp::socket>& stream() { return *stream_; }
  beast::flat_buffer& buffer() { return buffer_; }
  void abort() {
    boost::system::error_code ec;
    stream_->lowest_layer().close(ec);
  }

 private:
  asio::io_context ioc_;
  ssl::context ctx_;
  std::unique_ptr<ssl::stream<tcp::socket>> stream_;
  beast::flat_buffer buffer_;
};

// Raw TCP: what a port scanner, a confused client or an attacker sends.
inline int raw_connect(std::uint16_t port) {
  int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_port = htons(port);
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  if (::connect(fd, reinterpret_cast<sockaddr*>(&a), sizeof a) != 0) {
    ::close(fd);
    return -1;
  }
  return fd;
}

inline bool raw_send(int fd, const std::string& s) {
  return ::send(fd, s.data(), s.size(), MSG_NOSIGNAL) == static_cast<ssize_t>(s.size());
}

// Reads until the server closes (returns true) or `limit` passes (false).
inline bool raw_read_until_closed(int fd, std::string& out, std::chrono::milliseconds limit) {
  auto deadline = std::chrono::steady_clock::now() + limit;
  char buf[4096];
  while (true) {
    auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - std::chrono::steady_clock::now());
    if (left.count() <= 0) return false;
    pollfd p{fd, POLLIN, 0};
    if (::poll(&p, 1, static_cast<int>(left.count())) <= 0) return false;
    ssize_t n = ::recv(fd, buf, sizeof buf, 0);
    if (n <= 0) return true;  // EOF or reset: closed
    out.append(buf, static_cast<size_t>(n));
  }
}

// ---- fixture ------------------------------------------------------------------------
inline ServerLimits test_limits() {
  ServerLimits l;
  l.max_header_bytes = 8 * 1024;
  l.max_body_bytes = 64 * 1024;
  l.handshake_timeout = 1500ms;
  l.header_timeout = 1000ms;
  l.body_timeout = 1500ms;
  l.idle_timeout = 2000ms;
  l.write_timeout = 2000ms;
  l.close_linger = 500ms;
  l.max_connections = 64;
  l.ws_max_message_bytes = 4096;
  l.ws_idle_timeout = 2000ms;
  return l;
}

class ServerNetTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    dir_ = make_temp_dir();
    auto cert = hearth::server::ensure_self_signed_certificate(dir_ / "a", "hearth-test");
    ASSERT_TRUE(cert.is_ok()) << cert.message();
    cert_ = *cert;
  }
  static void TearDownTestSuite() {
    std::error_code ec;
    fs::remove_all(dir_, ec);
  }

  void start_server(ServerLimits limits = test_limits(), std::optional<fs::path> client_ca = std::nullopt) {
    auto tls = TlsConfig::create(TlsSettings{cert_.cert_file, cert_.key_file, client_ca});
    ASSERT_TRUE(tls.is_ok()) << tls.message();
    tls_ = *tls;
    server_ = std::make_unique<HttpServer>(limits, tls_, handler_, 2);
    server_->set_websocket_handler("/v1/ws", ws_handler_);
    auto st = server_->listen("127.0.0.1", 0);
    ASSERT_TRUE(st.is_ok()) << st.message();
    ASSERT_NE(server_->port(), 0);
    server_->start();
  }

  void TearDown() override {
    if (server_) server_->shutdown(0ms);
  }

  ClientOptions trust_a() { return ClientOptions{{cert_.cert_file}, std::nullopt, false}; }

  // One GET over a fresh TLS connection; true when it answered 200.
  bool tls_get_ok(std::uint16_t port) {
    try {
      TlsClient c(trust_a());
      c.connect(port);
      return c.request(http::verb::get, "/echo").result_int() == 200;
    } catch (const std::exception&) {
      return false;
    }
  }

  static inline fs::path dir_;
  static inline hearth::server::GeneratedCert cert_;
  TestHandler handler_;  // declared before server_: outlives it
  TestWsHandler ws_handler_;
  std::shared_ptr<TlsConfig> tls_;
  std::unique_ptr<HttpServer> server_;
};

}  // namespace hearth::net_testing
