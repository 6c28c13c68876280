// Tests for daemon/server/net: TLS configuration, the self-signed
// certificate, and HttpServer driven by real clients (a Beast TLS client,
// raw TCP sockets for hostile input). Timeouts are configured short so the
// whole binary runs in well under 30 s. WebSocket and curl:
// server_net_ws_test.cpp.
#include "server_net_fixture.h"

namespace hearth::net_testing {
namespace {

// A hung test fails loudly instead of stalling the suite (the whole binary).
struct Watchdog : ::testing::Environment {
  void SetUp() override { ::alarm(120); }
};
const auto* const kWatchdog = ::testing::AddGlobalTestEnvironment(new Watchdog);

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

}  // namespace
}  // namespace hearth::net_testing
