// Tests for the WebSocket side of daemon/server/net (upgrade, echo and
// streaming, refusals, oversized messages, close codes on shutdown) and a
// curl round trip, on the fixture of server_net_fixture.h.
#include "server_net_fixture.h"

namespace hearth::net_testing {
namespace {

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
}  // namespace hearth::net_testing
