// The OpenAI-compatible API layer (daemon/server/api/), part 2: the service
// end to end below the network: a tiny generated model, a real Scheduler,
// and a ResponseStream double that records what a client would receive
// (the network layer has its own tests). Greedy output must equal
// engine::generate() on the same prompt tokens.
#include <gtest/gtest.h>

#include <unistd.h>

#include <boost/json.hpp>

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cmath>
#include <cstring>
#include <filesystem>
#include <functional>
#include <map>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "engine/generator.h"
#include "engine/loaded_model.h"
#include "server/api/openai_service.h"
#include "server/api/served_model.h"
#include "server/sched/scheduler.h"
#include "support/tiny_model.h"

namespace hearth::server::api {
namespace {

namespace json = boost::json;
using namespace std::chrono_literals;


// Records what a client would receive. Thread-safe like the real one.
class CapturingStream : public ResponseStream {
 public:
  void send(int status, const std::string& content_type, std::string body, HeaderList headers) override {
    std::lock_guard lock(mu_);
    EXPECT_FALSE(done_) << "answered twice";
    status_ = status;
    content_type_ = content_type;
    body_ = std::move(body);
    headers_ = std::move(headers);
    done_ = true;
    cv_.notify_all();
  }
  void begin_stream(int status, const std::string& content_type, HeaderList headers) override {
    std::lock_guard lock(mu_);
    EXPECT_FALSE(streaming_ || done_);
    status_ = status;
    content_type_ = content_type;
    headers_ = std::move(headers);
    streaming_ = true;
  }
  void write(std::string chunk) override {
    std::function<void(const std::string&)> hook;
    {
      std::lock_guard lock(mu_);
      EXPECT_TRUE(streaming_ && !done_);
      chunks_.push_back(chunk);
      hook = on_write_;
    }
    if (hook) hook(chunk);
  }
  void end() override {
    std::lock_guard lock(mu_);
    EXPECT_TRUE(streaming_);
    done_ = true;
    cv_.notify_all();
  }
  bool closed() const override { return gone_.load(); }
  void on_close(std::function<void()> fn) override {
    {
      std::lock_guard lock(mu_);
      if (!gone_) {
        close_fns_.push_back(std::move(fn));
        return;
      }
    }
    fn();
  }

  // The client goes away.
  void disconnect() {
    std::vector<std::function<void()>> fns;
    {
      std::lock_guard lock(mu_);
      gone_ = true;
      fns.swap(close_fns_);
    }
    for (auto& f : fns) f();
  }
  void set_on_write(std::function<void(const std::string&)> hook) {
    std::lock_guard lock(mu_);
    on_write_ = std::move(hook);
  }

  bool wait(std::chrono::seconds limit = 60s) {
    std::unique_lock lock(mu_);
    return cv_.wait_for(lock, limit, [&] { return done_; });
  }
  int status() const { std::lock_guard lock(mu_); return status_; }
  std::string content_type() const { std::lock_guard lock(mu_); return content_type_; }
  std::string body() const { std::lock_guard lock(mu_); return body_; }
  json::value json_body() const { return json::parse(body()); }
  std::vector<std::string> chunks() const { std::lock_guard lock(mu_); return chunks_; }
  bool done() const { std::lock_guard lock(mu_); return done_; }
  std::string header(const std::string& name) const {
    std::lock_guard lock(mu_);
    for (const auto& [k, v] : headers_) if (k == name) return v;
    return "";
  }

 private:
  mutable std::mutex mu_;
  std::condition_variable cv_;
  int status_ = 0;
  std::string content_type_, body_;
  HeaderList headers_;
  std::vector<std::string> chunks_;
  bool streaming_ = false, done_ = false;
  std::atomic<bool> gone_{false};
  std::vector<std::function<void()>> close_fns_;
  std::function<void(const std::string&)> on_write_;
};

class TestRegistry : public ModelRegistry {
 public:
  std::shared_ptr<ServedModel> find(const std::string& name) const override {
    for (const auto& m : models) if (m->name == name) return m;
    return nullptr;
  }
  std::vector<std::shared_ptr<ServedModel>> list() const override { return models; }
  std::vector<std::shared_ptr<ServedModel>> models;
};

constexpr const char* kChatMl =
    "{% for message in messages %}{{ '<|im_start|>' + message['role'] + '\\n' + message['content'] + "
    "'<|im_end|>' + '\\n' }}{% endfor %}{% if add_generation_prompt %}{{ '<|im_start|>assistant\\n' }}{% endif %}";

// Splits an SSE body into its data payloads, checking the framing.
std::vector<std::string> sse_payloads(const std::vector<std::string>& chunks) {
  std::vector<std::string> out;
  for (const auto& c : chunks) {
    EXPECT_EQ(c.rfind("data: ", 0), 0u) << c;
    EXPECT_EQ(c.substr(c.size() - 2), "\n\n") << c;
    out.push_back(c.substr(6, c.size() - 8));
  }
  return out;
}

class ServiceTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    path_ = std::filesystem::temp_directory_path() / ("hearth_api_tiny_" + std::to_string(getpid()) + ".gguf");
    hearth::testing::write_tiny_model(path_, {});
    engine::LoadOptions o;
    o.n_threads = 2;
    o.n_parallel = 4;
    auto m = engine::LoadedModel::load(path_, o);
    ASSERT_TRUE(m) << m.message();
    model_ = std::move(m.value());
  }
  static void TearDownTestSuite() {
    model_.reset();
    std::filesystem::remove(path_);
  }
  void TearDown() override {
    if (served_) served_->scheduler->shutdown();
  }

  // Starts the scheduler; reference generate() runs must come before this.
  void start(sched::SchedulerOptions options = {}) {
    served_ = std::make_shared<ServedModel>();
    served_->name = "tiny";
    served_->scheduler = std::make_shared<sched::Scheduler>(model_, options);
    auto tpl = templating::ChatTemplate::parse(kChatMl);
    ASSERT_TRUE(tpl) << tpl.message();
    served_->chat_template = std::move(*tpl);
    served_->bos_text = "<s>";
    served_->eos_text = "</s>";
    served_->created = 1700000000;
    registry_.models = {served_};
  }

  static engine::GenerateResult greedy_reference(const std::vector<int32_t>& prompt, int32_t max_tokens,
                                                 std::vector<std::string> stop = {}) {
    engine::GenerateRequest g;
    g.prompt = prompt;
    g.sampling.temperature = 0;
    g.max_tokens = max_tokens;
    g.stop = std::move(stop);
    auto r = engine::generate(*model_, g);
    EXPECT_TRUE(r) << r.message();
    return r ? *r : engine::GenerateResult{};
  }
  static std::vector<int32_t> completion_tokens(const std::string& text) {
    return model_->tokenizer().encode(text, true, false);
  }
  static std::vector<int32_t> chat_tokens(const std::string& rendered) {
    std::vector<int32_t> t;
    if (model_->tokenizer().vocab().add_bos()) t.push_back(model_->tokenizer().bos());
    auto rest = model_->tokenizer().encode(rendered, false, true);
    t.insert(t.end(), rest.begin(), rest.end());
    return t;
  }

  std::shared_ptr<CapturingStream> post(bool chat, const std::string& body) {
    HttpRequest req;
    req.method = "POST";
    req.path = req.target = chat ? "/v1/chat/completions" : "/v1/completions";
    req.body = body;
    req.request_id = "req-1";
    auto out = std::make_shared<CapturingStream>();
    if (chat) {
      service_.chat_completions(req, out);
    } else {
      service_.completions(req, out);
    }
    return out;
  }
  std::shared_ptr<CapturingStream> embed_and_wait(const std::string& body) {
    HttpRequest req;
    req.method = "POST";
    req.path = req.target = "/v1/embeddings";
    req.body = body;
    req.request_id = "req-e";
    auto out = std::make_shared<CapturingStream>();
    service_.embeddings(req, out);
    EXPECT_TRUE(out->wait()) << "no answer";
    return out;
  }
  // The reference embedding, straight from the engine: the mean of the
  // prompt's hidden states, L2-normalised. Must run before start().
  static std::vector<double> reference_embedding(const std::vector<int32_t>& prompt) {
    std::vector<int32_t> table;
    EXPECT_TRUE(model_->kv_blocks().ensure_capacity(table, static_cast<uint32_t>(prompt.size())));
    const std::vector<int32_t>* t[] = {&table};
    std::vector<engine::BatchEntry> entries;
    for (size_t i = 0; i < prompt.size(); ++i) entries.push_back({prompt[i], static_cast<int32_t>(i), 0, false, true});
    std::vector<float> logits, hidden;
    EXPECT_TRUE(model_->forward(entries, t, logits, &hidden));
    model_->kv_blocks().release(table);
    const size_t E = model_->config().n_embd;
    std::vector<double> mean(E, 0.0);
    for (size_t i = 0; i < prompt.size(); ++i) {
      for (size_t k = 0; k < E; ++k) mean[k] += hidden[i * E + k] / static_cast<double>(prompt.size());
    }
    double norm = 0;
    for (double v : mean) norm += v * v;
    for (double& v : mean) v /= std::sqrt(norm);
    return mean;
  }
  std::shared_ptr<CapturingStream> post_and_wait(bool chat, const std::string& body) {
    auto out = post(chat, body);
    EXPECT_TRUE(out->wait()) << "no answer";
    return out;
  }

  void wait_idle() {
    for (int i = 0; i < 2000; ++i) {
      const auto st = served_->scheduler->stats();
      if (st.running == 0 && st.queued == 0 && model_->kv_blocks().n_free() == model_->kv_blocks().n_blocks()) {
        return;
      }
      std::this_thread::sleep_for(5ms);
    }
    ADD_FAILURE() << "the scheduler did not become idle";
  }

  static inline std::filesystem::path path_;
  static inline std::shared_ptr<engine::LoadedModel> model_;
  std::shared_ptr<ServedModel> served_;
  TestRegistry registry_;
  OpenAiService service_{registry_};
};

const std::string kPrompt = "Once upon a time there was a";
const std::string kChatRendered = "<|im_start|>user\nhello world<|im_end|>\n<|im_start|>assistant\n";
const std::string kChatMessages = R"("messages":[{"role":"user","content":"hello world"}])";

TEST_F(ServiceTest, GreedyCompletionEqualsGenerate) {
  const auto prompt = completion_tokens(kPrompt);
  const auto ref = greedy_reference(prompt, 12);
  start();
  auto out = post_and_wait(false, R"({"model":"tiny","prompt":")" + kPrompt + R"(","max_tokens":12,"temperature":0})");
  ASSERT_EQ(out->status(), 200) << out->body();
  EXPECT_EQ(out->content_type(), "application/json");
  auto v = out->json_body();
  EXPECT_EQ(v.at("object").as_string(), "text_completion");
  EXPECT_EQ(v.at("id").as_string().subview().substr(0, 5), "cmpl-");
  EXPECT_EQ(v.at("model").as_string(), "tiny");
  const auto& c = v.at("choices").at(0);
  EXPECT_EQ(c.at("text").as_string(), ref.text);
  EXPECT_EQ(c.at("finish_reason").as_string(), engine::finish_reason_name(ref.finish));
  EXPECT_TRUE(c.at("logprobs").is_null());
  EXPECT_EQ(v.at("usage").at("prompt_tokens").as_int64(), static_cast<int64_t>(prompt.size()));
  EXPECT_EQ(v.at("usage").at("completion_tokens").as_int64(), static_cast<int64_t>(ref.tokens.size()));
  EXPECT_EQ(v.at("usage").at("total_tokens").as_int64(), static_cast<int64_t>(prompt.size() + ref.tokens.size()));
}

TEST_F(ServiceTest, GreedyChatEqualsGenerateOnTheRenderedPrompt) {
  const auto prompt = chat_tokens(kChatRendered);
  const auto ref = greedy_reference(prompt, 10);
  start();
  auto out = post_and_wait(true, R"({"model":"tiny",)" + kChatMessages + R"(,"max_tokens":10,"temperature":0})");
  ASSERT_EQ(out->status(), 200) << out->body();
  auto v = out->json_body();
  EXPECT_EQ(v.at("object").as_string(), "chat.completion");
  EXPECT_EQ(v.at("id").as_string().subview().substr(0, 9), "chatcmpl-");
  const auto& c = v.at("choices").at(0);
  EXPECT_EQ(c.at("message").at("role").as_string(), "assistant");
  EXPECT_EQ(c.at("message").at("content").as_string(), ref.text);
  EXPECT_EQ(c.at("finish_reason").as_string(), engine::finish_reason_name(ref.finish));
  EXPECT_EQ(v.at("usage").at("prompt_tokens").as_int64(), static_cast<int64_t>(prompt.size()));
  EXPECT_EQ(v.at("usage").at("completion_tokens").as_int64(), static_cast<int64_t>(ref.tokens.size()));
}

TEST_F(ServiceTest, TemplateThatWritesBosGetsNoSecondBos) {
  start();
  auto tpl = templating::ChatTemplate::parse(std::string("{{ bos_token }}") + kChatMl);
  ASSERT_TRUE(tpl);
  served_->chat_template = std::move(*tpl);
  auto out = post_and_wait(true, R"({"model":"tiny",)" + kChatMessages + R"(,"max_tokens":1})");
  ASSERT_EQ(out->status(), 200) << out->body();
  const auto expect = model_->tokenizer().encode("<s>" + kChatRendered, false, true);
  ASSERT_EQ(expect.at(0), model_->tokenizer().bos());
  EXPECT_EQ(out->json_body().at("usage").at("prompt_tokens").as_int64(), static_cast<int64_t>(expect.size()));
}

TEST_F(ServiceTest, StreamedChatConcatenatesToTheSameText) {
  const auto ref = greedy_reference(chat_tokens(kChatRendered), 10);
  start();
  auto out = post_and_wait(true, R"({"model":"tiny",)" + kChatMessages +
                                     R"(,"max_tokens":10,"temperature":0,"stream":true,)"
                                     R"("stream_options":{"include_usage":true}})");
  ASSERT_EQ(out->status(), 200);
  EXPECT_EQ(out->content_type(), "text/event-stream");
  const auto payloads = sse_payloads(out->chunks());
  ASSERT_GE(payloads.size(), 4u);
  EXPECT_EQ(payloads.back(), "[DONE]");
  std::string text, id;
  for (size_t i = 0; i + 1 < payloads.size(); ++i) {
    auto v = json::parse(payloads[i]);
    if (id.empty()) id = v.at("id").as_string();
    EXPECT_EQ(v.at("id").as_string(), id) << "one id per stream";
    EXPECT_EQ(v.at("object").as_string(), "chat.completion.chunk");
    if (i + 2 == payloads.size()) {  // the usage chunk
      EXPECT_TRUE(v.at("choices").as_array().empty());
      EXPECT_EQ(v.at("usage").at("completion_tokens").as_int64(), static_cast<int64_t>(ref.tokens.size()));
      continue;
    }
    EXPECT_TRUE(v.at("usage").is_null());
    const auto& ch = v.at("choices").at(0);
    const auto& delta = ch.at("delta").as_object();
    if (i == 0) {
      EXPECT_EQ(delta.at("role").as_string(), "assistant");
      EXPECT_EQ(delta.at("content").as_string(), "");
    } else if (i + 3 == payloads.size()) {  // the finish chunk
      EXPECT_TRUE(delta.empty());
      EXPECT_EQ(ch.at("finish_reason").as_string(), engine::finish_reason_name(ref.finish));
    } else {
      EXPECT_FALSE(delta.at("content").as_string().empty()) << "empty deltas are skipped";
      EXPECT_TRUE(ch.at("finish_reason").is_null());
      text += delta.at("content").as_string();
    }
  }
  EXPECT_EQ(text, ref.text);
}

TEST_F(ServiceTest, StreamedCompletionWithLogprobs) {
  const auto prompt = completion_tokens(kPrompt);
  const auto ref = greedy_reference(prompt, 8);
  start();
  auto out = post_and_wait(false, R"({"model":"tiny","prompt":")" + kPrompt +
                                      R"(","max_tokens":8,"temperature":0,"stream":true,"logprobs":2})");
  ASSERT_EQ(out->status(), 200);
  const auto payloads = sse_payloads(out->chunks());
  ASSERT_GE(payloads.size(), 2u);
  EXPECT_EQ(payloads.back(), "[DONE]");
  std::string text, finish;
  size_t n_tokens = 0;
  for (size_t i = 0; i + 1 < payloads.size(); ++i) {
    auto v = json::parse(payloads[i]);
    EXPECT_EQ(v.at("object").as_string(), "text_completion");
    EXPECT_FALSE(v.as_object().contains("usage"));
    const auto& ch = v.at("choices").at(0);
    text += ch.at("text").as_string();
    if (!ch.at("finish_reason").is_null()) finish = ch.at("finish_reason").as_string();
    const auto& lp = ch.at("logprobs");
    n_tokens += lp.at("tokens").as_array().size();
    // Two alternatives each (fewer keys when two tokens share a piece).
    for (const auto& top : lp.at("top_logprobs").as_array()) {
      EXPECT_GE(top.as_object().size(), 1u);
      EXPECT_LE(top.as_object().size(), 2u);
    }
    for (const auto& l : lp.at("token_logprobs").as_array()) EXPECT_LE(l.to_number<double>(), 0.0);
  }
  EXPECT_EQ(text, ref.text);
  EXPECT_EQ(finish, engine::finish_reason_name(ref.finish));
  EXPECT_EQ(n_tokens, ref.tokens.size()) << "every token's logprob is reported once";
}

TEST_F(ServiceTest, ChatLogprobs) {
  start();
  auto out = post_and_wait(true, R"({"model":"tiny",)" + kChatMessages +
                                     R"(,"max_tokens":5,"temperature":0,"logprobs":true,"top_logprobs":3})");
  ASSERT_EQ(out->status(), 200) << out->body();
  auto v = out->json_body();
  const auto& content = v.at("choices").at(0).at("logprobs").at("content").as_array();
  EXPECT_EQ(static_cast<int64_t>(content.size()), v.at("usage").at("completion_tokens").as_int64());
  for (const auto& t : content) {
    ASSERT_EQ(t.at("top_logprobs").as_array().size(), 3u);
    // Greedy: the sampled token is the most likely one.
    EXPECT_DOUBLE_EQ(t.at("logprob").to_number<double>(),
                     t.at("top_logprobs").at(0).at("logprob").to_number<double>());
    EXPECT_TRUE(t.at("bytes").is_array());
  }
}

TEST_F(ServiceTest, TwoChoices) {
  start();
  auto out = post_and_wait(true, R"({"model":"tiny",)" + kChatMessages + R"(,"max_tokens":6,"n":2,"seed":7})");
  ASSERT_EQ(out->status(), 200) << out->body();
  auto v = out->json_body();
  const auto& cs = v.at("choices").as_array();
  ASSERT_EQ(cs.size(), 2u);
  EXPECT_EQ(cs[0].at("index").as_int64(), 0);
  EXPECT_EQ(cs[1].at("index").as_int64(), 1);
  // The prompt counts once; completions add up.
  EXPECT_EQ(v.at("usage").at("prompt_tokens").as_int64(), static_cast<int64_t>(chat_tokens(kChatRendered).size()));
  EXPECT_LE(v.at("usage").at("completion_tokens").as_int64(), 12);

  // Streamed: each choice gets its role chunk, its deltas and its finish chunk.
  auto s = post_and_wait(false, R"({"model":"tiny","prompt":["a","b"],"max_tokens":4,"n":2,"stream":true})");
  std::map<int64_t, int> finishes;
  for (const auto& p : sse_payloads(s->chunks())) {
    if (p == "[DONE]") continue;
    auto c = json::parse(p).at("choices").at(0);
    if (!c.at("finish_reason").is_null()) finishes[c.at("index").as_int64()]++;
  }
  EXPECT_EQ(finishes, (std::map<int64_t, int>{{0, 1}, {1, 1}, {2, 1}, {3, 1}}));
}

TEST_F(ServiceTest, StopStringEndsTheText) {
  const auto prompt = completion_tokens(kPrompt);
  const auto free_run = greedy_reference(prompt, 16);
  ASSERT_GE(free_run.text.size(), 6u);
  const std::string stop = free_run.text.substr(free_run.text.size() / 2, 2);
  const auto ref = greedy_reference(prompt, 16, {stop});
  start();
  auto out = post_and_wait(false, R"({"model":"tiny","prompt":")" + kPrompt +
                                      R"(","max_tokens":16,"temperature":0,"stop":)" +
                                      json::serialize(json::value(stop)) + "}");
  ASSERT_EQ(out->status(), 200) << out->body();
  const auto v = out->json_body();
  const auto& c = v.at("choices").at(0);
  EXPECT_EQ(c.at("text").as_string(), ref.text);
  EXPECT_EQ(c.at("finish_reason").as_string(), "stop");
  EXPECT_EQ(std::string(c.at("text").as_string()).find(stop), std::string::npos);
}

TEST_F(ServiceTest, ModelErrors) {
  start();
  auto out = post_and_wait(true, R"({"model":"nope",)" + kChatMessages + "}");
  EXPECT_EQ(out->status(), 404);
  auto e = out->json_body().at("error");
  EXPECT_EQ(e.at("message").as_string(), "The model 'nope' does not exist");
  EXPECT_EQ(e.at("param").as_string(), "model");

  served_->chat_template.reset();
  out = post_and_wait(true, R"({"model":"tiny",)" + kChatMessages + "}");
  EXPECT_EQ(out->status(), 400);
  EXPECT_EQ(out->json_body().at("error").at("message").as_string().subview().substr(0, 33),
            "model tiny has no chat template; ");

  auto tpl = templating::ChatTemplate::parse("{{ raise_exception('only user turns, please') }}");
  ASSERT_TRUE(tpl);
  served_->chat_template = std::move(*tpl);
  out = post_and_wait(true, R"({"model":"tiny",)" + kChatMessages + "}");
  EXPECT_EQ(out->status(), 400);
  EXPECT_EQ(out->json_body().at("error").at("message").as_string(), "only user turns, please");

  out = post_and_wait(false, R"({"model":"tiny","prompt":"a","max_tokens":100000})");
  EXPECT_EQ(out->status(), 400);
  EXPECT_EQ(out->json_body().at("error").at("code").as_string(), "context_length_exceeded");
  EXPECT_EQ(out->json_body().at("error").at("param").as_string(), "max_tokens");

  out = post_and_wait(false, R"({"model":"tiny","prompt":[1,99999]})");
  EXPECT_EQ(out->status(), 400);
  EXPECT_EQ(out->json_body().at("error").at("param").as_string(), "prompt");

  out = post_and_wait(false, R"({"model":"tiny","prompt":"a","logit_bias":{"99999":1}})");
  EXPECT_EQ(out->status(), 400);
  EXPECT_EQ(out->json_body().at("error").at("param").as_string(), "logit_bias");

  out = post_and_wait(false, R"({"model":"tiny","prompt":"a","temperature":-1})");
  EXPECT_EQ(out->status(), 400);
  EXPECT_EQ(out->json_body().at("error").at("param").as_string(), "temperature");

  std::string long_prompt = "[1";
  for (int i = 0; i < 300; ++i) long_prompt += ",270";
  out = post_and_wait(false, R"({"model":"tiny","prompt":)" + long_prompt + "]}");
  EXPECT_EQ(out->status(), 400);
  EXPECT_EQ(out->json_body().at("error").at("param").as_string(), "prompt");
  EXPECT_EQ(out->json_body().at("error").at("code").as_string(), "context_length_exceeded");

  out = post_and_wait(true, "{\"model\":\"tiny\",\"messages\":[{\"role\":\"user\",\"content\":\"\xC3\"}]}");
  EXPECT_EQ(out->status(), 400);
  EXPECT_EQ(out->json_body().at("error").at("message").as_string(), "invalid UTF-8 in the request body");

  out = post_and_wait(false, "{not json");
  EXPECT_EQ(out->status(), 400);
  EXPECT_EQ(out->json_body().at("error").at("type").as_string(), "invalid_request_error");
}

TEST_F(ServiceTest, EmbeddingsArePooledNormalisedHiddenStates) {
  const auto a = completion_tokens(kPrompt);
  const auto b = completion_tokens("hello world");
  const auto ref_a = reference_embedding(a), ref_b = reference_embedding(b);
  start();
  auto out = embed_and_wait(R"({"model":"tiny","input":[")" + kPrompt + R"(","hello world"]})");
  ASSERT_EQ(out->status(), 200) << out->body();
  auto v = out->json_body();
  EXPECT_EQ(v.at("object").as_string(), "list");
  EXPECT_EQ(v.at("model").as_string(), "tiny");
  EXPECT_EQ(v.at("usage").at("prompt_tokens").as_int64(), static_cast<int64_t>(a.size() + b.size()));
  EXPECT_EQ(v.at("usage").at("total_tokens").as_int64(), static_cast<int64_t>(a.size() + b.size()));
  const auto& data = v.at("data").as_array();
  ASSERT_EQ(data.size(), 2u);
  const std::vector<double>* refs[] = {&ref_a, &ref_b};
  for (size_t i = 0; i < 2; ++i) {
    EXPECT_EQ(data[i].at("object").as_string(), "embedding");
    EXPECT_EQ(data[i].at("index").as_int64(), static_cast<int64_t>(i));
    const auto& e = data[i].at("embedding").as_array();
    ASSERT_EQ(e.size(), refs[i]->size());
    double norm = 0;
    for (size_t k = 0; k < e.size(); ++k) {
      const double x = e[k].to_number<double>();
      norm += x * x;
      EXPECT_NEAR(x, (*refs[i])[k], 1e-5) << "input " << i << " dim " << k;
    }
    EXPECT_NEAR(norm, 1.0, 1e-5);
  }

  // base64 (what the official clients request): the same floats, little-endian.
  out = embed_and_wait(R"({"model":"tiny","input":")" + kPrompt + R"(","encoding_format":"base64"})");
  ASSERT_EQ(out->status(), 200) << out->body();
  const std::string b64(out->json_body().at("data").at(0).at("embedding").as_string());
  std::vector<float> floats(ref_a.begin(), ref_a.end());
  // Decoding by hand keeps the test independent of the server's encoder.
  std::string bytes;
  uint32_t acc = 0;
  int bits = 0;
  for (char c : b64) {
    if (c == '=') break;
    const char* alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    acc = (acc << 6) | static_cast<uint32_t>(std::strchr(alphabet, c) - alphabet);
    bits += 6;
    if (bits >= 8) {
      bits -= 8;
      bytes.push_back(static_cast<char>((acc >> bits) & 0xFF));
    }
  }
  ASSERT_EQ(bytes.size(), floats.size() * sizeof(float));
  for (size_t k = 0; k < floats.size(); ++k) {
    float x;
    std::memcpy(&x, bytes.data() + k * sizeof(float), sizeof x);
    EXPECT_NEAR(x, ref_a[k], 1e-5);
  }
  wait_idle();
}

TEST_F(ServiceTest, EmbeddingsBadInput) {
  start();
  struct Case {
    std::string body;
    int status;
    std::string param;
  };
  std::string too_many = "[";
  for (int i = 0; i < 17; ++i) too_many += std::string(i ? "," : "") + "\"x\"";
  too_many += "]";
  std::string too_long = "[1";
  for (int i = 0; i < 300; ++i) too_long += ",270";
  too_long += "]";
  const Case cases[] = {
      {R"({"model":"nope","input":"a"})", 404, "model"},
      {R"({"input":"a"})", 400, "model"},
      {R"({"model":"tiny"})", 400, "input"},
      {R"({"model":"tiny","input":""})", 400, "input"},
      {R"({"model":"tiny","input":["a",""]})", 400, "input[1]"},
      {R"({"model":"tiny","input":[]})", 400, "input"},
      {R"({"model":"tiny","input":[1,99999]})", 400, "input"},
      {R"({"model":"tiny","input":{"text":"a"}})", 400, "input"},
      {R"({"model":"tiny","input":"a","encoding_format":"int8"})", 400, "encoding_format"},
      {R"({"model":"tiny","input":"a","dimensions":3})", 400, "dimensions"},
      {R"({"model":"tiny","input":"a","dimensions":-1})", 400, "dimensions"},
      {R"({"model":"tiny","input":)" + too_many + "}", 400, "input"},
      {R"({"model":"tiny","input":)" + too_long + "}", 400, "input"},
  };
  for (const auto& c : cases) {
    auto out = embed_and_wait(c.body);
    EXPECT_EQ(out->status(), c.status) << c.body << " → " << out->body();
    EXPECT_EQ(out->json_body().at("error").at("param").as_string(), c.param) << c.body;
  }
  // Still serving.
  auto out = embed_and_wait(R"({"model":"tiny","input":"a","dimensions":64})");
  EXPECT_EQ(out->status(), 200) << out->body();
  wait_idle();
}

TEST_F(ServiceTest, ModelsList) {
  start();
  auto out = std::make_shared<CapturingStream>();
  service_.models(HttpRequest{}, out);
  ASSERT_EQ(out->status(), 200);
  auto v = out->json_body();
  EXPECT_EQ(v.at("object").as_string(), "list");
  EXPECT_EQ(v.at("data").at(0).at("id").as_string(), "tiny");
  EXPECT_EQ(v.at("data").at(0).at("created").as_int64(), 1700000000);

  out = std::make_shared<CapturingStream>();
  service_.model("tiny", HttpRequest{}, out);
  EXPECT_EQ(out->status(), 200);
  EXPECT_EQ(out->json_body().at("object").as_string(), "model");
  out = std::make_shared<CapturingStream>();
  service_.model("other", HttpRequest{}, out);
  EXPECT_EQ(out->status(), 404);
}

// A streamed request whose first write blocks the scheduler thread until
// released, so the test controls when its sequences can progress.
struct Gate {
  std::mutex mu;
  std::condition_variable cv;
  bool open = false;
  void wait() {
    std::unique_lock lock(mu);
    cv.wait_for(lock, 30s, [&] { return open; });
  }
  void release() {
    std::lock_guard lock(mu);
    open = true;
    cv.notify_all();
  }
};

// EOS banned, so the sequences run to max_tokens unless cancelled.
const std::string kLongRequest =
    R"({"model":"tiny","prompt":"a","n":4,"max_tokens":200,"stream":true,"logit_bias":{"2":-100}})";

TEST_F(ServiceTest, FullQueueIs429WithRetryAfter) {
  sched::SchedulerOptions options;
  options.max_queued = 0;
  start(options);
  Gate gate;
  const auto test_thread = std::this_thread::get_id();
  HttpRequest req;
  req.body = kLongRequest;
  auto busy = std::make_shared<CapturingStream>();
  // Only the scheduler thread is held (start() may flush early chunks from this one).
  busy->set_on_write([&](const std::string&) {
    if (std::this_thread::get_id() != test_thread) gate.wait();
  });
  service_.completions(req, busy);  // takes all four slots

  auto out = post_and_wait(true, R"({"model":"tiny",)" + kChatMessages + "}");
  EXPECT_EQ(out->status(), 429);
  EXPECT_EQ(out->header("Retry-After"), "1");
  EXPECT_EQ(out->json_body().at("error").at("type").as_string(), "rate_limit_error");

  busy->set_on_write({});
  gate.release();
  busy->disconnect();
  wait_idle();
  EXPECT_FALSE(busy->done()) << "a cancelled stream is not finished for the client";
}

TEST_F(ServiceTest, ClientDisconnectCancelsItsSequences) {
  start();
  auto out = std::make_shared<CapturingStream>();
  std::atomic<int> writes{0};
  // The client leaves as soon as the first tokens arrive.
  out->set_on_write([&](const std::string&) {
    if (++writes == 1) out->disconnect();
  });
  HttpRequest req;
  req.body = kLongRequest;
  service_.completions(req, out);
  wait_idle();
  const auto st = served_->scheduler->stats();
  EXPECT_LT(st.generated_tokens, 4u * 20u) << "cancelled within a step or so, not run to max_tokens";
  EXPECT_FALSE(out->done());
  for (const auto& c : out->chunks()) EXPECT_EQ(c.find("[DONE]"), std::string::npos);

  // The slots are free again for the next client.
  auto next = post_and_wait(false, R"({"model":"tiny","prompt":"a","max_tokens":3})");
  EXPECT_EQ(next->status(), 200) << next->body();
}

TEST_F(ServiceTest, ShutdownMidRequestIsA503NotAHang) {
  start();
  HttpRequest req;
  req.body = R"({"model":"tiny","prompt":"a","max_tokens":200,"logit_bias":{"2":-100}})";
  auto out = std::make_shared<CapturingStream>();
  service_.completions(req, out);
  served_->scheduler->shutdown();
  ASSERT_TRUE(out->wait());
  // Either it finished before the shutdown or it was cut off with a 503.
  EXPECT_TRUE(out->status() == 200 || out->status() == 503) << out->status();
  auto after = post_and_wait(false, R"({"model":"tiny","prompt":"a"})");
  EXPECT_EQ(after->status(), 503);
}

}  // namespace
}  // namespace hearth::server::api
