// Tests for daemon/server/net: TLS configuration, the self-signed
// certificate, and HttpServer driven by real clients (a Beast TLS client,
// raw TCP sockets for hostile input, curl when installed). Timeouts are
// configured short so the whole binary runs in well under 30 s.
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

namespace {

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

// A hung test fails loudly instead of stalling the suite.
struct Watchdog : ::testing::Environment {
  void SetUp() override { ::alarm(120); }
};
const auto* const kWatchdog = ::testing::AddGlobalTestEnvironment(new Watchdog);

fs::path make_temp_dir() {
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

std::string query_param(const std::string& target, const std::string& key, const std::string& def) {
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

KeyAndCert make_cert(const fs::path& dir, const std::string& name, bool is_ca, const KeyAndCert* issuer) {
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
int raw_connect(std::uint16_t port) {
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

bool raw_send(int fd, const std::string& s) {
  return ::send(fd, s.data(), s.size(), MSG_NOSIGNAL) == static_cast<ssize_t>(s.size());
}

// Reads until the server closes (returns true) or `limit` passes (false).
bool raw_read_until_closed(int fd, std::string& out, std::chrono::milliseconds limit) {
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
ServerLimits test_limits() {
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

// ---- certificates ---------------------------------------------------------------------
TEST_F(ServerNetTest, SelfSignedCertIsGeneratedOnceWithPrivateKeyMode0600) {
  const fs::path d = dir_ / "gen";
  auto first = hearth::server::ensure_self_signed_certificate(d, "hearth-test");
  ASSERT_TRUE(first.is_ok()) << first.message();
  EXPECT_TRUE(first->generated);
  EXPECT_TRUE(std::regex_match(first->fingerprint, std::regex("([0-9A-F]{2}:){31}[0-9A-F]{2}")))
      << first->fingerprint;
  struct stat st {};
  ASSERT_EQ(::stat(first->key_file.c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0777, 0600u);

  auto second = hearth::server::ensure_self_signed_certificate(d, "hearth-test");
  ASSERT_TRUE(second.is_ok()) << second.message();
  EXPECT_FALSE(second->generated);
  EXPECT_EQ(second->fingerprint, first->fingerprint);
  auto fp = hearth::server::certificate_sha256_fingerprint(first->cert_file);
  ASSERT_TRUE(fp.is_ok());
  EXPECT_EQ(*fp, first->fingerprint);

  // A damaged pair is replaced, not served.
  std::ofstream(first->key_file) << "not a key";
  auto third = hearth::server::ensure_self_signed_certificate(d, "hearth-test");
  ASSERT_TRUE(third.is_ok()) << third.message();
  EXPECT_TRUE(third->generated);
  EXPECT_NE(third->fingerprint, first->fingerprint);
}

TEST_F(ServerNetTest, TlsConfigErrorsNameTheFile) {
  auto missing = TlsConfig::create(TlsSettings{dir_ / "nope.crt", cert_.key_file, std::nullopt});
  ASSERT_FALSE(missing.is_ok());
  EXPECT_NE(missing.message().find("nope.crt"), std::string::npos) << missing.message();

  auto other = hearth::server::ensure_self_signed_certificate(dir_ / "other", "x");
  ASSERT_TRUE(other.is_ok());
  auto mismatch = TlsConfig::create(TlsSettings{cert_.cert_file, other->key_file, std::nullopt});
  ASSERT_FALSE(mismatch.is_ok());
  EXPECT_NE(mismatch.message().find("does not match"), std::string::npos) << mismatch.message();

  const fs::path junk = dir_ / "junk.pem";
  std::ofstream(junk) << "-----BEGIN CERTIFICATE-----\nnope\n-----END CERTIFICATE-----\n";
  auto bad = TlsConfig::create(TlsSettings{junk, cert_.key_file, std::nullopt});
  ASSERT_FALSE(bad.is_ok());
  EXPECT_NE(bad.message().find("junk.pem"), std::string::npos) << bad.message();
}

// ---- HTTP basics ------------------------------------------------------------------------
TEST_F(ServerNetTest, GetAndPostRoundTripWithRequestId) {
  start_server();
  TlsClient c(trust_a());
  c.connect(server_->port());
  auto get = c.request(http::verb::get, "/echo?x=1", {}, {{"X-Test", "hello"}});
  EXPECT_EQ(get.result_int(), 200);
  EXPECT_EQ(get.body(), "GET /echo?x=1\n");
  EXPECT_EQ(get["x-echo-header"], "hello");
  const std::string id(get["x-request-id"]);
  EXPECT_TRUE(std::regex_match(id, std::regex("[0-9a-f]{16}"))) << id;
  {
    std::lock_guard lock(handler_.mu_);
    EXPECT_EQ(handler_.last_request_id_, id);
  }

  std::string body(50'000, 'x');
  for (size_t i = 0; i < body.size(); ++i) body[i] = static_cast<char>('a' + i % 26);
  auto post = c.request(http::verb::post, "/echo", body);
  EXPECT_EQ(post.result_int(), 200);
  EXPECT_EQ(post.body(), "POST /echo\n" + body);
  EXPECT_NE(std::string(post["x-request-id"]), id);

  auto missing = c.request(http::verb::get, "/nope");
  EXPECT_EQ(missing.result_int(), 404);
}

TEST_F(ServerNetTest, KeepAliveServesTwoRequestsOnOneConnection) {
  start_server();
  TlsClient c(trust_a());
  c.connect(server_->port());
  EXPECT_EQ(c.request(http::verb::get, "/echo").result_int(), 200);
  EXPECT_EQ(c.request(http::verb::post, "/echo", "second").body(), "POST /echo\nsecond");
  // Counted when the last byte is written, which may be just after the client read it.
  EXPECT_TRUE(wait_until([&] { return server_->stats().requests_served == 2; }));
  auto s = server_->stats();
  EXPECT_EQ(s.connections_accepted, 1u);
  EXPECT_EQ(s.open_connections, 1u);
}

TEST_F(ServerNetTest, BodyOverLimitGets413InOpenAIErrorShape) {
  start_server();
  {
    TlsClient c(trust_a());
    c.connect(server_->port());
    auto res = c.request(http::verb::post, "/echo", std::string(200 * 1024, 'x'));
    EXPECT_EQ(res.result_int(), 413);
    EXPECT_NE(res.body().find("\"type\":\"invalid_request_error\""), std::string::npos) << res.body();
    EXPECT_NE(res.body().find("\"param\":null"), std::string::npos);
    EXPECT_NE(res.body().find("\"code\":\"request_too_large\""), std::string::npos);
    EXPECT_EQ(res[http::field::content_type], "application/json");
  }
  {
    // Chunked: no Content-Length to refuse up front; the limit trips mid-body.
    TlsClient c(trust_a());
    c.connect(server_->port());
    http::request<http::string_body> req{http::verb::post, "/echo", 11};
    req.set(http::field::host, "localhost");
    req.body() = std::string(100 * 1024, 'y');
    req.chunked(true);
    http::write(c.stream(), req);
    http::response<http::string_body> res;
    http::read(c.stream(), c.buffer(), res);
    EXPECT_EQ(res.result_int(), 413);
  }
  EXPECT_TRUE(tls_get_ok(server_->port()));
}

TEST_F(ServerNetTest, HeadersOverLimitGet431) {
  start_server();
  TlsClient c(trust_a());
  c.connect(server_->port());
  auto res = c.request(http::verb::get, "/echo", {}, {{"X-Big", std::string(16 * 1024, 'h')}});
  EXPECT_EQ(res.result_int(), 431);
  EXPECT_NE(res.body().find("invalid_request_error"), std::string::npos);
  EXPECT_TRUE(tls_get_ok(server_->port()));
}

TEST_F(ServerNetTest, MalformedRequestGets400) {
  start_server();
  TlsClient c(trust_a());
  c.connect(server_->port());
  const std::string bad = "GET /echo HTTP/1.1\r\nHost: x\r\nContent-Length: banana\r\n\r\n";
  asio::write(c.stream(), asio::buffer(bad));
  http::response<http::string_body> res;
  http::read(c.stream(), c.buffer(), res);
  EXPECT_EQ(res.result_int(), 400);
  EXPECT_NE(res.body().find("malformed HTTP request"), std::string::npos) << res.body();
}

// ---- hostile clients -------------------------------------------------------------------
TEST_F(ServerNetTest, SlowLorisIsClosedWhileOthersAreServed) {
  start_server();
  // A plain loopback listener on the same handler: slow-loris in clear text.
  HttpServer plain(test_limits(), nullptr, handler_, 1);
  ASSERT_TRUE(plain.listen("127.0.0.1", 0).is_ok());
  plain.start();

  std::atomic<long> closed_after_ms{-1};
  auto loris = [&](std::uint16_t port, bool tls_port) {
    int fd = raw_connect(port);
    ASSERT_GE(fd, 0);
    auto t0 = std::chrono::steady_clock::now();
    // Over TLS the handshake timeout applies: a ClientHello that never ends.
    raw_send(fd, tls_port ? std::string("\x16\x03\x01\x02\x00", 5) : std::string("GET /echo HTTP/1.1\r\n"));
    for (int i = 0; i < 50; ++i) {
      pollfd p{fd, POLLIN, 0};
      if (::poll(&p, 1, 100) > 0) {
        char b[256];
        if (::recv(fd, b, sizeof b, 0) <= 0) break;
      }
      if (!raw_send(fd, tls_port ? std::string(1, 'a') : std::string("X-a: b\r\n"))) break;
    }
    auto ms = std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::steady_clock::now() - t0).count();
    if (!tls_port) closed_after_ms = static_cast<long>(ms);
    EXPECT_LT(ms, 3500) << (tls_port ? "TLS" : "plain") << " slow client was not closed";
    ::close(fd);
  };
  std::thread t1(loris, plain.port(), false);
  std::thread t2(loris, server_->port(), true);
  // Meanwhile normal clients are served.
  std::this_thread::sleep_for(200ms);
  for (int i = 0; i < 3; ++i) EXPECT_TRUE(tls_get_ok(server_->port()));
  t1.join();
  t2.join();
  EXPECT_GE(closed_after_ms.load(), 800);  // not before the header timeout
  EXPECT_GE(plain.stats().timeouts + server_->stats().timeouts, 2u);
  EXPECT_TRUE(tls_get_ok(server_->port()));
  plain.shutdown(0ms);
}

TEST_F(ServerNetTest, IdleAndSlowBodyConnectionsAreClosed) {
  ServerLimits l = test_limits();
  l.idle_timeout = 300ms;
  l.body_timeout = 400ms;
  start_server(l);
  {
    // Keep-alive connection left idle after a response.
    TlsClient c(trust_a());
    c.connect(server_->port());
    EXPECT_EQ(c.request(http::verb::get, "/echo").result_int(), 200);
    auto t0 = std::chrono::steady_clock::now();
    char b[16];
    boost::system::error_code ec;
    c.stream().read_some(asio::buffer(b), ec);  // returns when the server closes
    EXPECT_TRUE(ec) << "expected the idle connection to be closed";
    auto ms = std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::steady_clock::now() - t0).count();
    EXPECT_GE(ms, 200);
    EXPECT_LT(ms, 2000);
  }
  {
    // A body that stops arriving.
    TlsClient c(trust_a());
    c.connect(server_->port());
    const std::string partial = "POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: 100\r\n\r\n0123456789";
    asio::write(c.stream(), asio::buffer(partial));
    auto t0 = std::chrono::steady_clock::now();
    char b[16];
    boost::system::error_code ec;
    c.stream().read_some(asio::buffer(b), ec);
    EXPECT_TRUE(ec);
    auto ms = std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::steady_clock::now() - t0).count();
    EXPECT_GE(ms, 300);
    EXPECT_LT(ms, 2000);
  }
  EXPECT_GE(server_->stats().timeouts, 2u);
  EXPECT_TRUE(tls_get_ok(server_->port()));
}

TEST_F(ServerNetTest, PlainHttpOnTlsPortGetsExplainingPlain400) {
  start_server();
  int fd = raw_connect(server_->port());
  ASSERT_GE(fd, 0);
  raw_send(fd, "GET /v1/models HTTP/1.1\r\nHost: localhost\r\n\r\n");
  std::string got;
  EXPECT_TRUE(raw_read_until_closed(fd, got, 3000ms));
  ::close(fd);
  EXPECT_EQ(got.rfind("HTTP/1.1 400 Bad Request\r\n", 0), 0u) << got;
  EXPECT_NE(got.find("use https://"), std::string::npos) << got;
  EXPECT_TRUE(tls_get_ok(server_->port()));
}

TEST_F(ServerNetTest, GarbageBytesAreClosedAndServerStaysUp) {
  start_server();
  std::mt19937 rng(42);
  for (int round = 0; round < 8; ++round) {
    std::string junk(1 + rng() % 3000, '\0');
    for (auto& ch : junk) ch = static_cast<char>(rng());
    if (round % 2 == 1) junk[0] = 0x16;  // looks like TLS, is not
    int fd = raw_connect(server_->port());
    ASSERT_GE(fd, 0);
    raw_send(fd, junk);
    std::string got;
    EXPECT_TRUE(raw_read_until_closed(fd, got, 3000ms)) << "round " << round;
    ::close(fd);
  }
  // A TLS connection that then speaks garbage inside TLS.
  {
    TlsClient c(trust_a());
    c.connect(server_->port());
    asio::write(c.stream(), asio::buffer(std::string("\x01\x02\x03 not http at all\r\n\r\n")));
    http::response<http::string_body> res;
    boost::system::error_code ec;
    http::read(c.stream(), c.buffer(), res, ec);
    if (!ec) {
      EXPECT_EQ(res.result_int(), 400);
    }
  }
  EXPECT_TRUE(tls_get_ok(server_->port()));
}

TEST_F(ServerNetTest, Tls11ClientIsRefused) {
  start_server();
  ClientOptions o = trust_a();
  o.tls11_only = true;
  TlsClient c(o);
  EXPECT_THROW(c.connect(server_->port()), boost::system::system_error);
  // The client may see the refusal before the server has counted it.
  EXPECT_TRUE(wait_until([&] { return server_->stats().tls_handshake_failures >= 1; }));
  EXPECT_TRUE(tls_get_ok(server_->port()));
}

TEST_F(ServerNetTest, ConnectionsOverTheLimitAreClosed) {
  ServerLimits l = test_limits();
  l.max_connections = 2;
  start_server(l);
  TlsClient a(trust_a()), b(trust_a());
  a.connect(server_->port());
  b.connect(server_->port());
  ASSERT_TRUE(wait_until([&] { return server_->stats().open_connections == 2; }));
  int fd = raw_connect(server_->port());
  ASSERT_GE(fd, 0);
  std::string got;
  EXPECT_TRUE(raw_read_until_closed(fd, got, 2000ms));
  ::close(fd);
  EXPECT_EQ(server_->stats().connections_rejected, 1u);
  EXPECT_EQ(a.request(http::verb::get, "/echo").result_int(), 200);
}

TEST_F(ServerNetTest, Http10StreamIsUnchunkedAndClosed) {
  start_server();
  TlsClient c(trust_a());
  c.connect(server_->port());
  const std::string req = "GET /stream?n=3&delay_ms=1 HTTP/1.0\r\nHost: localhost\r\n\r\n";
  asio::write(c.stream(), asio::buffer(req));
  std::string all;
  boost::system::error_code ec;
  char buf[1024];
  for (;;) {
    size_t n = c.stream().read_some(asio::buffer(buf), ec);
    all.append(buf, n);
    if (ec) break;
  }
  EXPECT_EQ(all.find("Transfer-Encoding"), std::string::npos) << all;
  EXPECT_NE(all.find("Connection: close"), std::string::npos) << all;
  EXPECT_NE(all.find("\r\n\r\ndata: 0\n\ndata: 1\n\ndata: 2\n\n"), std::string::npos) << all;
}

TEST_F(ServerNetTest, PlainListenerRefusesNonLoopback) {
  HttpServer plain(test_limits(), nullptr, handler_, 1);
  auto st = plain.listen("0.0.0.0", 0);
  ASSERT_FALSE(st.is_ok());
  EXPECT_NE(st.message().find("loopback"), std::string::npos) << st.message();
  EXPECT_FALSE(plain.listen("not-an-address", 0).is_ok());
}

// ---- streaming ---------------------------------------------------------------------
TEST_F(ServerNetTest, StreamDeliversChunksInOrderThenKeepsAlive) {
  start_server();
  TlsClient c(trust_a());
  c.connect(server_->port());
  auto res = c.request(http::verb::get, "/stream?n=20&delay_ms=5");
  EXPECT_EQ(res.result_int(), 200);
  EXPECT_EQ(res[http::field::content_type], "text/event-stream");
  EXPECT_EQ(res[http::field::cache_control], "no-cache");
  EXPECT_TRUE(res.chunked());
  std::string expected;
  for (int i = 0; i < 20; ++i) expected += "data: " + std::to_string(i) + "\n\n";
  EXPECT_EQ(res.body(), expected);
  // The connection serves the next request after the stream ended.
  EXPECT_EQ(c.request(http::verb::get, "/echo").result_int(), 200);
  EXPECT_EQ(server_->stats().connections_accepted, 1u);
}

TEST_F(ServerNetTest, ClientDisconnectMidStreamFiresOnClose) {
  start_server();
  TlsClient c(trust_a());
  c.connect(server_->port());
  c.send(http::verb::get, "/stream?n=100000&delay_ms=2");
  http::response_parser<http::string_body> parser;
  http::read_header(c.stream(), c.buffer(), parser);
  EXPECT_EQ(parser.get().result_int(), 200);
  c.abort();
  ASSERT_TRUE(wait_until([&] { return handler_.close_count_.load() == 1; }));
  std::shared_ptr<ResponseStream> s;
  {
    std::lock_guard lock(handler_.mu_);
    s = handler_.last_stream_;
  }
  EXPECT_TRUE(s->closed());
  // on_close registered after the close runs at once.
  bool late = false;
  s->on_close([&] { late = true; });
  EXPECT_TRUE(late);
  EXPECT_TRUE(wait_until([&] { return server_->stats().open_connections == 0; }));
}

TEST_F(ServerNetTest, UnansweredRequestOfVanishedClientIsCleanedUp) {
  start_server();
  {
    TlsClient c(trust_a());
    c.connect(server_->port());
    c.send(http::verb::get, "/never");
    ASSERT_TRUE(wait_until([&] {
      std::lock_guard lock(handler_.mu_);
      return handler_.parked_.size() == 1;
    }));
    c.abort();
  }
  ASSERT_TRUE(wait_until([&] { return handler_.close_count_.load() == 1; }));
  std::shared_ptr<ResponseStream> parked;
  {
    std::lock_guard lock(handler_.mu_);
    parked = handler_.parked_[0];
  }
  EXPECT_TRUE(parked->closed());
  parked->send(200, "text/plain", "too late");  // must be a harmless no-op
  EXPECT_TRUE(wait_until([&] { return server_->stats().open_connections == 0; }));

  // A handler that drops the response without answering: the client gets a 500.
  TlsClient c(trust_a());
  c.connect(server_->port());
  auto res = c.request(http::verb::get, "/drop");
  EXPECT_EQ(res.result_int(), 500);
}

// ---- TLS management --------------------------------------------------------------
TEST_F(ServerNetTest, ReloadServesNewCertToNewConnectionsOnly) {
  const fs::path live = dir_ / "live";
  fs::create_directories(live);
  auto b = hearth::server::ensure_self_signed_certificate(dir_ / "b", "hearth-test-b");
  ASSERT_TRUE(b.is_ok());
  const fs::path crt = live / "server.crt", key = live / "server.key";
  fs::copy_file(cert_.cert_file, crt, fs::copy_options::overwrite_existing);
  fs::copy_file(cert_.key_file, key, fs::copy_options::overwrite_existing);
  auto tls = TlsConfig::create(TlsSettings{crt, key, std::nullopt});
  ASSERT_TRUE(tls.is_ok()) << tls.message();
  EXPECT_EQ((*tls)->fingerprint(), cert_.fingerprint);
  HttpServer server(test_limits(), *tls, handler_, 2);
  ASSERT_TRUE(server.listen("127.0.0.1", 0).is_ok());
  server.start();

  ClientOptions both{{cert_.cert_file, b->cert_file}, std::nullopt, false};
  TlsClient old_conn(both);
  old_conn.connect(server.port());
  EXPECT_EQ(old_conn.peer_fingerprint(), cert_.fingerprint);
  EXPECT_EQ(old_conn.request(http::verb::get, "/echo").result_int(), 200);

  fs::copy_file(b->cert_file, crt, fs::copy_options::overwrite_existing);
  fs::copy_file(b->key_file, key, fs::copy_options::overwrite_existing);
  auto st = (*tls)->reload();
  ASSERT_TRUE(st.is_ok()) << st.message();
  EXPECT_EQ((*tls)->fingerprint(), b->fingerprint);

  TlsClient new_conn(both);
  new_conn.connect(server.port());
  EXPECT_EQ(new_conn.peer_fingerprint(), b->fingerprint);
  EXPECT_EQ(new_conn.request(http::verb::get, "/echo").result_int(), 200);
  EXPECT_EQ(old_conn.request(http::verb::get, "/echo").result_int(), 200);  // still on the old context

  // A broken key file: reload fails, names the file, and B stays in service.
  std::ofstream(key, std::ios::trunc) << "garbage";
  auto bad = (*tls)->reload();
  ASSERT_FALSE(bad.is_ok());
  EXPECT_NE(bad.message().find(key.string()), std::string::npos) << bad.message();
  TlsClient after(both);
  after.connect(server.port());
  EXPECT_EQ(after.peer_fingerprint(), b->fingerprint);
  EXPECT_EQ(after.request(http::verb::get, "/echo").result_int(), 200);
  server.shutdown(0ms);
}

TEST_F(ServerNetTest, MutualTlsRequiresAClientCertificateFromTheCa) {
  const fs::path d = dir_ / "mtls";
  fs::create_directories(d);
  KeyAndCert ca = make_cert(d, "test-ca", true, nullptr);
  KeyAndCert client = make_cert(d, "client", false, &ca);
  KeyAndCert rogue_ca = make_cert(d, "rogue-ca", true, nullptr);
  KeyAndCert rogue = make_cert(d, "rogue", false, &rogue_ca);
  start_server(test_limits(), ca.cert);
  EXPECT_TRUE(tls_->requires_client_certificate());

  auto attempt = [&](std::optional<KeyAndCert> cert) {
    try {
      TlsClient c(ClientOptions{{cert_.cert_file}, cert, false});
      c.connect(server_->port());
      // With TLS 1.3 the server checks the client certificate after the
      // client's handshake finished; the refusal shows on the first read.
      return c.request(http::verb::get, "/echo").result_int() == 200;
    } catch (const std::exception&) {
      return false;
    }
  };
  EXPECT_FALSE(attempt(std::nullopt));
  EXPECT_FALSE(attempt(rogue));
  EXPECT_TRUE(attempt(client));
}

// ---- shutdown ---------------------------------------------------------------------
TEST_F(ServerNetTest, GracefulShutdownLetsInFlightStreamFinish) {
  start_server();
  TlsClient c(trust_a());
  c.connect(server_->port());
  c.send(http::verb::get, "/stream?n=10&delay_ms=50");
  http::response_parser<http::string_body> parser;
  http::read_header(c.stream(), c.buffer(), parser);
  ASSERT_EQ(parser.get().result_int(), 200);

  server_->stop_accepting();
  EXPECT_LT(raw_connect(server_->port()), 0);  // refused now
  auto t0 = std::chrono::steady_clock::now();
  std::thread stopper([&] { server_->shutdown(5000ms); });
  http::read(c.stream(), c.buffer(), parser);
  std::string expected;
  for (int i = 0; i < 10; ++i) expected += "data: " + std::to_string(i) + "\n\n";
  EXPECT_EQ(parser.get().body(), expected);
  EXPECT_EQ(parser.get()[http::field::connection], "keep-alive");  // sent before the shutdown began
  stopper.join();
  auto ms = std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::steady_clock::now() - t0).count();
  EXPECT_LT(ms, 4000) << "shutdown waited for the whole grace period";
  EXPECT_EQ(server_->stats().open_connections, 0u);
}

TEST_F(ServerNetTest, ShutdownGraceExpiryClosesStuckRequests) {
  start_server();
  TlsClient c(trust_a());
  c.connect(server_->port());
  c.send(http::verb::get, "/never");
  ASSERT_TRUE(wait_until([&] {
    std::lock_guard lock(handler_.mu_);
    return handler_.parked_.size() == 1;
  }));
  auto t0 = std::chrono::steady_clock::now();
  server_->shutdown(300ms);
  auto ms = std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::steady_clock::now() - t0).count();
  EXPECT_LT(ms, 2000);
  EXPECT_EQ(handler_.close_count_.load(), 1);
  std::lock_guard lock(handler_.mu_);
  EXPECT_TRUE(handler_.parked_[0]->closed());
}

// ---- WebSocket ---------------------------------------------------------------------
using WsClient = websocket::stream<ssl::stream<tcp::socket>&>;

void ws_handshake(WsClient& ws, const std::string& key) {
  ws.set_option(websocket::stream_base::decorator(
      [key](websocket::request_type& req) { req.set(http::field::authorization, "Bearer " + key); }));
  ws.handshake("localhost", "/v1/ws");
}

std::string ws_read(WsClient& ws) {
  beast::flat_buffer b;
  ws.read(b);
  return beast::buffers_to_string(b.data());
}

// Reads until the server's close frame; returns its code (0: none came).
int ws_read_close_code(WsClient& ws) {
  try {
    for (;;) ws_read(ws);
  } catch (const boost::system::system_error& e) {
    if (e.code() == websocket::error::closed) return ws.reason().code;
  }
  return 0;
}

TEST_F(ServerNetTest, WebSocketEchoStreamAndOversizedMessage) {
  start_server();
  TlsClient c(trust_a());
  c.connect(server_->port());
  WsClient ws(c.stream());
  ws_handshake(ws, "good");
  ws.text(true);
  ws.write(asio::buffer(std::string("hello")));
  EXPECT_EQ(ws_read(ws), "echo: hello");
  ws.write(asio::buffer(std::string("stream")));
  for (int i = 0; i < 5; ++i) EXPECT_EQ(ws_read(ws), "tok " + std::to_string(i));
  EXPECT_EQ(ws_read(ws), "done");
  EXPECT_EQ(ws_handler_.opens_.load(), 1);

  // Over ws_max_message_bytes: closed with 1009, and the server goes on.
  ws.write(asio::buffer(std::string(8000, 'x')));
  EXPECT_EQ(ws_read_close_code(ws), 1009);
  ASSERT_TRUE(wait_until([&] { return ws_handler_.closes_.load() == 1; }));
  EXPECT_EQ(ws_handler_.last_code_.load(), 1009);
  {
    std::lock_guard lock(ws_handler_.mu_);
    EXPECT_TRUE(ws_handler_.last_->closed());
  }
  EXPECT_TRUE(tls_get_ok(server_->port()));
  EXPECT_GE(server_->stats().websocket_connections, 1u);
}

TEST_F(ServerNetTest, WebSocketRefusalsAndBinary) {
  start_server();
  {
    // No key: the handler's refusal comes back as plain HTTP.
    TlsClient c(trust_a());
    c.connect(server_->port());
    WsClient ws(c.stream());
    websocket::response_type res;
    ws.set_option(websocket::stream_base::decorator([](websocket::request_type&) {}));
    EXPECT_THROW(ws.handshake(res, "localhost", "/v1/ws"), boost::system::system_error);
    EXPECT_EQ(res.result_int(), 401);
  }
  {
    // A plain GET of the WebSocket path is an ordinary request.
    TlsClient c(trust_a());
    c.connect(server_->port());
    EXPECT_EQ(c.request(http::verb::get, "/v1/ws").result_int(), 404);
  }
  {
    TlsClient c(trust_a());
    c.connect(server_->port());
    WsClient ws(c.stream());
    ws_handshake(ws, "good");
    ws.binary(true);
    ws.write(asio::buffer(std::string("\x00\x01", 2)));
    EXPECT_EQ(ws_read_close_code(ws), 1003);
  }
  ASSERT_TRUE(wait_until([&] { return ws_handler_.closes_.load() == 1; }));
  EXPECT_EQ(ws_handler_.last_code_.load(), 1003);
  EXPECT_EQ(ws_handler_.opens_.load(), 1);
}

TEST_F(ServerNetTest, WebSocketGetsServiceRestartOnShutdown) {
  start_server();
  TlsClient c(trust_a());
  c.connect(server_->port());
  WsClient ws(c.stream());
  ws_handshake(ws, "good");
  ws.write(asio::buffer(std::string("ping")));
  EXPECT_EQ(ws_read(ws), "echo: ping");
  std::thread stopper([&] { server_->shutdown(2000ms); });
  EXPECT_EQ(ws_read_close_code(ws), 1012);
  stopper.join();
  EXPECT_EQ(ws_handler_.closes_.load(), 1);
  EXPECT_EQ(server_->stats().open_connections, 0u);
}

TEST_F(ServerNetTest, CurlCanTalkToIt) {
  if (std::system("command -v curl >/dev/null 2>&1") != 0) GTEST_SKIP() << "curl not installed";
  start_server();
  const fs::path out = dir_ / "curl.out";
  const std::string cmd = "curl -sS --max-time 5 --cacert " + cert_.cert_file.string() + " -o " + out.string() +
                          " -d hello https://localhost:" + std::to_string(server_->port()) + "/echo";
  ASSERT_EQ(std::system(cmd.c_str()), 0) << cmd;
  std::ifstream in(out);
  std::string body((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  EXPECT_EQ(body, "POST /echo\nhello");
}

}  // namespace
