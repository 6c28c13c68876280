// The OpenAI-compatible API layer (daemon/server/api/), part 1: request
// parsing and validation (every bad field is a 400 naming it), the error
// shape and the response JSON shapes. The service end to end is in
// server_api_service_test.cpp (same binary).
#include <gtest/gtest.h>

#include <boost/json.hpp>

#include <string>
#include <vector>

#include "server/api/api_error.h"
#include "server/api/openai_request.h"
#include "server/api/openai_response.h"
#include "server/api/served_model.h"

namespace hearth::server::api {
namespace {

namespace json = boost::json;

// ---------------------------------------------------------------- requests

constexpr const char* kChatBase = R"("model":"m","messages":[{"role":"user","content":"hi"}])";
constexpr const char* kCompletionBase = R"("model":"m","prompt":"hi")";

std::string chat_body(const std::string& extra) {
  return std::string("{") + kChatBase + (extra.empty() ? "" : "," + extra) + "}";
}
std::string completion_body(const std::string& extra) {
  return std::string("{") + kCompletionBase + (extra.empty() ? "" : "," + extra) + "}";
}

TEST(OpenAiRequest, ValidChatRequestBecomesAPlan) {
  auto plan = parse_chat_request(chat_body(
      R"("max_tokens":7,"temperature":0.5,"top_p":0.9,"n":2,"stop":["\n","END"],"seed":42,)"
      R"("presence_penalty":0.5,"frequency_penalty":-0.5,"logit_bias":{"5":-100,"7":2.5},)"
      R"("logprobs":true,"top_logprobs":3,"response_format":{"type":"text"},"stream":true,)"
      R"("stream_options":{"include_usage":true},"user":"u1","top_k":40,"min_p":0.05,"repeat_penalty":1.1)"));
  ASSERT_TRUE(plan) << plan.error().message;
  EXPECT_EQ(plan->kind, ApiKind::kChat);
  EXPECT_EQ(plan->model, "m");
  ASSERT_EQ(plan->messages.size(), 1u);
  EXPECT_EQ(plan->messages[0].at("content").as_string(), "hi");
  EXPECT_EQ(plan->max_tokens, 7);
  EXPECT_FLOAT_EQ(plan->sampling.temperature, 0.5f);
  EXPECT_FLOAT_EQ(plan->sampling.top_p, 0.9f);
  EXPECT_EQ(plan->n, 2);
  EXPECT_EQ(plan->stop, (std::vector<std::string>{"\n", "END"}));
  EXPECT_EQ(plan->sampling.seed, 42u);
  EXPECT_TRUE(plan->seed_given);
  EXPECT_FLOAT_EQ(plan->sampling.presence_penalty, 0.5f);
  EXPECT_FLOAT_EQ(plan->sampling.frequency_penalty, -0.5f);
  ASSERT_EQ(plan->sampling.logit_bias.size(), 2u);
  EXPECT_EQ(plan->sampling.logit_bias[0], (std::pair<int32_t, float>{5, -100.0f}));
  EXPECT_TRUE(plan->logprobs);
  EXPECT_EQ(plan->top_logprobs, 3);
  EXPECT_EQ(plan->sampling.n_top_logprobs, 3);
  EXPECT_TRUE(plan->stream);
  EXPECT_TRUE(plan->include_usage);
  EXPECT_EQ(plan->user, "u1");
  EXPECT_EQ(plan->sampling.top_k, 40);
  EXPECT_FLOAT_EQ(plan->sampling.min_p, 0.05f);
  EXPECT_FLOAT_EQ(plan->sampling.repeat_penalty, 1.1f);
}

TEST(OpenAiRequest, DefaultsAndNulls) {
  auto plan = parse_chat_request(chat_body(R"("temperature":null,"stop":null,"max_tokens":null)"));
  ASSERT_TRUE(plan) << plan.error().message;
  EXPECT_FLOAT_EQ(plan->sampling.temperature, 1.0f);  // OpenAI's default
  EXPECT_FALSE(plan->max_tokens);
  EXPECT_FALSE(plan->seed_given);
  EXPECT_EQ(plan->n, 1);
  EXPECT_FALSE(plan->stream);
  EXPECT_TRUE(plan->stop.empty());
}

TEST(OpenAiRequest, MaxCompletionTokensWinsAndStopStringIsAList) {
  auto plan = parse_chat_request(chat_body(R"("max_tokens":5,"max_completion_tokens":9,"stop":"x")"));
  ASSERT_TRUE(plan) << plan.error().message;
  EXPECT_EQ(plan->max_tokens, 9);
  EXPECT_EQ(plan->stop, std::vector<std::string>{"x"});
}

TEST(OpenAiRequest, MessagesAreNormalisedForTheTemplate) {
  auto plan = parse_chat_request(
      R"({"model":"m","messages":[{"role":"developer","content":"be brief"},)"
      R"({"role":"user","content":[{"type":"text","text":"a"},{"type":"text","text":"b"}]},)"
      R"({"role":"assistant","content":null,"tool_calls":[]},{"role":"tool","content":"r","tool_call_id":"t1"}]})");
  ASSERT_TRUE(plan) << plan.error().message;
  ASSERT_EQ(plan->messages.size(), 4u);
  EXPECT_EQ(plan->messages[0].at("role").as_string(), "system");
  EXPECT_EQ(plan->messages[1].at("content").as_string(), "a\nb");
  EXPECT_EQ(plan->messages[2].at("content").as_string(), "");
  EXPECT_TRUE(plan->messages[2].as_object().contains("tool_calls"));
  EXPECT_EQ(plan->messages[3].at("tool_call_id").as_string(), "t1");
}

TEST(OpenAiRequest, CompletionPromptShapes) {
  auto one = parse_completion_request(completion_body(""));
  ASSERT_TRUE(one) << one.error().message;
  ASSERT_EQ(one->prompts.size(), 1u);
  EXPECT_FALSE(one->prompts[0].is_tokens);
  EXPECT_EQ(one->prompts[0].text, "hi");

  auto strings = parse_completion_request(R"({"model":"m","prompt":["a","b"],"n":2})");
  ASSERT_TRUE(strings) << strings.error().message;
  ASSERT_EQ(strings->prompts.size(), 2u);
  EXPECT_EQ(strings->prompts[1].text, "b");

  auto ids = parse_completion_request(R"({"model":"m","prompt":[1,2,3]})");
  ASSERT_TRUE(ids) << ids.error().message;
  ASSERT_EQ(ids->prompts.size(), 1u);
  EXPECT_TRUE(ids->prompts[0].is_tokens);
  EXPECT_EQ(ids->prompts[0].tokens, (std::vector<int32_t>{1, 2, 3}));

  auto nested = parse_completion_request(R"({"model":"m","prompt":[[1,2],[3]],"logprobs":2})");
  ASSERT_TRUE(nested) << nested.error().message;
  ASSERT_EQ(nested->prompts.size(), 2u);
  EXPECT_EQ(nested->prompts[1].tokens, std::vector<int32_t>{3});
  EXPECT_TRUE(nested->logprobs);
  EXPECT_EQ(nested->top_logprobs, 2);
}

struct BadCase {
  const char* extra;  // fields added to a valid body
  const char* param;  // the param the 400 must name
};

TEST(OpenAiRequest, EveryBadChatFieldIsA400NamingIt) {
  const BadCase cases[] = {
      {R"("temperature":"hot")", "temperature"},
      {R"("temperature":-0.1)", "temperature"},
      {R"("temperature":2.5)", "temperature"},
      {R"("temperature":1e999)", "temperature"},
      {R"("top_p":0)", "top_p"},
      {R"("top_p":1.01)", "top_p"},
      {R"("n":0)", "n"},
      {R"("n":9)", "n"},
      {R"("n":1.5)", "n"},
      {R"("max_tokens":0)", "max_tokens"},
      {R"("max_tokens":-5)", "max_tokens"},
      {R"("max_tokens":1000000000000)", "max_tokens"},
      {R"("max_tokens":"10")", "max_tokens"},
      {R"("max_completion_tokens":-1)", "max_completion_tokens"},
      {R"("stop":5)", "stop"},
      {R"("stop":["a","b","c","d","e"])", "stop"},
      {R"("stop":[""])", "stop"},
      {R"("stop":[1])", "stop"},
      {R"("seed":"x")", "seed"},
      {R"("seed":1.5)", "seed"},
      {R"("presence_penalty":3)", "presence_penalty"},
      {R"("frequency_penalty":-2.5)", "frequency_penalty"},
      {R"("logit_bias":[1])", "logit_bias"},
      {R"("logit_bias":{"abc":1})", "logit_bias"},
      {R"("logit_bias":{"-1":1})", "logit_bias"},
      {R"("logit_bias":{"5":101})", "logit_bias"},
      {R"("logit_bias":{"5":"x"})", "logit_bias"},
      {R"("logprobs":1)", "logprobs"},
      {R"("top_logprobs":2)", "top_logprobs"},  // without logprobs: true
      {R"("logprobs":true,"top_logprobs":21)", "top_logprobs"},
      {R"("response_format":{"type":"json_object"})", "response_format"},
      {R"("response_format":{"type":"json_schema","json_schema":{}})", "response_format"},
      {R"("response_format":{"type":"yaml"})", "response_format"},
      {R"("response_format":"text")", "response_format"},
      {R"("stream":"yes")", "stream"},
      {R"("stream_options":{"include_usage":1})", "stream_options.include_usage"},
      {R"("user":5)", "user"},
      {R"("top_k":-1)", "top_k"},
      {R"("min_p":1.5)", "min_p"},
      {R"("repeat_penalty":0)", "repeat_penalty"},
      {R"("tools":[{"type":"function","function":{"name":"f"}}])", "tools"},
  };
  for (const auto& c : cases) {
    auto r = parse_chat_request(chat_body(c.extra));
    ASSERT_FALSE(r) << c.extra;
    EXPECT_EQ(r.error().status, 400) << c.extra;
    EXPECT_EQ(r.error().type, "invalid_request_error") << c.extra;
    EXPECT_EQ(r.error().param.value_or("<none>"), c.param) << c.extra << ": " << r.error().message;
    EXPECT_FALSE(r.error().message.empty());
  }
}

TEST(OpenAiRequest, ErrorMessagesSayWhatWasWrong) {
  auto r = parse_chat_request(chat_body(R"("temperature":3)"));
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().message, "temperature must be a number in [0, 2], got 3");
  r = parse_chat_request(chat_body(R"("response_format":{"type":"json_object"})"));
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().message, "response_format json_object is not supported yet");
  r = parse_chat_request(chat_body(R"("n":"2")"));
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().message, "n must be an integer, got a string");
}

TEST(OpenAiRequest, BadMessagesAreRefused) {
  const BadCase cases[] = {
      {R"({"model":"m"})", "messages"},
      {R"({"model":"m","messages":[]})", "messages"},
      {R"({"model":"m","messages":"hi"})", "messages"},
      {R"({"model":"m","messages":[5]})", "messages[0]"},
      {R"({"model":"m","messages":[{"content":"x"}]})", "messages[0].role"},
      {R"({"model":"m","messages":[{"role":"wizard","content":"x"}]})", "messages[0].role"},
      {R"({"model":"m","messages":[{"role":"user"}]})", "messages[0].content"},
      {R"({"model":"m","messages":[{"role":"user","content":5}]})", "messages[0].content"},
      {R"({"model":"m","messages":[{"role":"user","content":[{"type":"image_url","image_url":{}}]}]})",
       "messages[0].content[0].type"},
      {R"({"model":"m","messages":[{"role":"user","content":[{"type":"text"}]}]})", "messages[0].content[0].text"},
      {R"({"model":"m","messages":[{"role":"user","content":"a","name":3}]})", "messages[0].name"},
      {R"({"messages":[{"role":"user","content":"a"}]})", "model"},
      {R"({"model":7,"messages":[{"role":"user","content":"a"}]})", "model"},
  };
  for (const auto& c : cases) {
    auto r = parse_chat_request(c.extra);
    ASSERT_FALSE(r) << c.extra;
    EXPECT_EQ(r.error().status, 400);
    EXPECT_EQ(r.error().param.value_or("<none>"), c.param) << c.extra << ": " << r.error().message;
  }
}

TEST(OpenAiRequest, EveryBadCompletionFieldIsA400NamingIt) {
  const BadCase cases[] = {
      {R"({"model":"m"})", "prompt"},
      {R"({"model":"m","prompt":5})", "prompt"},
      {R"({"model":"m","prompt":[]})", "prompt"},
      {R"({"model":"m","prompt":[1,"a"]})", "prompt"},
      {R"({"model":"m","prompt":[-1]})", "prompt"},
      {R"({"model":"m","prompt":[[]]})", "prompt[0]"},
      {R"({"model":"m","prompt":["a",{}]})", "prompt"},
      {R"({"model":"m","prompt":"a","logprobs":6})", "logprobs"},
      {R"({"model":"m","prompt":"a","logprobs":true})", "logprobs"},
      {R"({"model":"m","prompt":"a","echo":true})", "echo"},
      {R"({"model":"m","prompt":"a","suffix":"z"})", "suffix"},
      {R"({"model":"m","prompt":"a","best_of":3})", "best_of"},
      {R"({"model":"m","prompt":["a","b","c"],"n":8})", "n"},
      {R"({"model":"m","prompt":"a","temperature":"NaN"})", "temperature"},
  };
  for (const auto& c : cases) {
    auto r = parse_completion_request(c.extra);
    ASSERT_FALSE(r) << c.extra;
    EXPECT_EQ(r.error().status, 400);
    EXPECT_EQ(r.error().param.value_or("<none>"), c.param) << c.extra << ": " << r.error().message;
  }
}

TEST(OpenAiRequest, InvalidJsonAndUtf8AreClear400s) {
  auto r = parse_chat_request(R"({"model":"m",)");
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().status, 400);
  EXPECT_EQ(r.error().message.rfind("invalid JSON: ", 0), 0u) << r.error().message;

  r = parse_chat_request("{\"model\":\"m\xff\",\"messages\":[]}");
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().message, "invalid UTF-8 in the request body");

  r = parse_chat_request(R"({"model":"m","messages":[{"role":"user","content":"\ud800"}]})");
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().message.rfind("invalid JSON: ", 0), 0u) << r.error().message;

  r = parse_chat_request(R"({"a":NaN})");
  ASSERT_FALSE(r);
  r = parse_chat_request("[1,2]");
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().message, "the request body must be a JSON object, got an array");
  r = parse_chat_request(R"({"model":"m"} trailing)");
  ASSERT_FALSE(r);
  r = parse_chat_request("");
  ASSERT_FALSE(r);
  r = parse_chat_request(std::string(100, '[') + std::string(100, ']'));
  ASSERT_FALSE(r);
}

// ---------------------------------------------------------------- errors and responses

TEST(ApiErrorJson, HasOpenAisShape) {
  auto v = json::parse(error_json(ApiError::invalid_request("bad n", "n")));
  const auto& e = v.at("error");
  EXPECT_EQ(e.at("message").as_string(), "bad n");
  EXPECT_EQ(e.at("type").as_string(), "invalid_request_error");
  EXPECT_EQ(e.at("param").as_string(), "n");
  EXPECT_TRUE(e.at("code").is_null());

  v = json::parse(error_json(ApiError::not_found("no such model", "model", "model_not_found")));
  EXPECT_EQ(v.at("error").at("type").as_string(), "not_found_error");
  EXPECT_EQ(v.at("error").at("code").as_string(), "model_not_found");
  EXPECT_EQ(ApiError::rate_limited("x").status, 429);
  EXPECT_EQ(ApiError::rate_limited("x").type, "rate_limit_error");
  EXPECT_EQ(ApiError::internal("x").type, "server_error");
  EXPECT_EQ(ApiError::unavailable("x").status, 503);
  EXPECT_STREQ(error_type_for_status(401), "authentication_error");
  EXPECT_STREQ(error_type_for_status(403), "permission_error");
}

ResponseMeta test_meta() { return {"chatcmpl-abc", 1700000000, "m", "fp_x"}; }

TEST(OpenAiResponse, ChatCompletionShape) {
  ChoiceResult c;
  c.index = 0;
  c.text = "Hello";
  c.has_logprobs = true;
  c.logprobs = {{"He", -0.5f, {{"He", -0.5f}, {"\xE2\x82", -2.0f}}}};
  c.finish_reason = "stop";
  auto v = json::value(chat_completion_json(test_meta(), {c}, {5, 3}));
  EXPECT_EQ(v.at("id").as_string(), "chatcmpl-abc");
  EXPECT_EQ(v.at("object").as_string(), "chat.completion");
  EXPECT_EQ(v.at("created").as_int64(), 1700000000);
  EXPECT_EQ(v.at("model").as_string(), "m");
  EXPECT_EQ(v.at("system_fingerprint").as_string(), "fp_x");
  const auto& ch = v.at("choices").as_array().at(0);
  EXPECT_EQ(ch.at("index").as_int64(), 0);
  EXPECT_EQ(ch.at("message").at("role").as_string(), "assistant");
  EXPECT_EQ(ch.at("message").at("content").as_string(), "Hello");
  EXPECT_EQ(ch.at("finish_reason").as_string(), "stop");
  const auto& lp = ch.at("logprobs").at("content").as_array().at(0);
  EXPECT_EQ(lp.at("token").as_string(), "He");
  EXPECT_DOUBLE_EQ(lp.at("logprob").to_number<double>(), -0.5);
  EXPECT_EQ(lp.at("bytes").as_array().size(), 2u);
  const auto& alt = lp.at("top_logprobs").as_array().at(1);
  // A piece that ends mid-character goes out repaired; its bytes stay exact.
  EXPECT_EQ(alt.at("token").as_string(), "\xEF\xBF\xBD\xEF\xBF\xBD");
  EXPECT_EQ(alt.at("bytes"), json::value(json::array{0xE2, 0x82}));
  EXPECT_EQ(v.at("usage").at("prompt_tokens").as_int64(), 5);
  EXPECT_EQ(v.at("usage").at("completion_tokens").as_int64(), 3);
  EXPECT_EQ(v.at("usage").at("total_tokens").as_int64(), 8);

  c.has_logprobs = false;
  v = chat_completion_json(test_meta(), {c}, {5, 3});
  EXPECT_TRUE(v.at("choices").at(0).at("logprobs").is_null());
}

TEST(OpenAiResponse, ChatChunkShapes) {
  auto first = json::value(chat_chunk_json(test_meta(), 0, true, std::string(), nullptr, std::nullopt, false));
  EXPECT_EQ(first.at("object").as_string(), "chat.completion.chunk");
  const auto& d = first.at("choices").at(0).at("delta");
  EXPECT_EQ(d.at("role").as_string(), "assistant");
  EXPECT_EQ(d.at("content").as_string(), "");
  EXPECT_TRUE(first.at("choices").at(0).at("finish_reason").is_null());
  EXPECT_FALSE(first.as_object().contains("usage"));

  auto last = json::value(chat_chunk_json(test_meta(), 1, false, std::nullopt, nullptr, std::string("length"), true));
  EXPECT_TRUE(last.at("choices").at(0).at("delta").as_object().empty());
  EXPECT_EQ(last.at("choices").at(0).at("index").as_int64(), 1);
  EXPECT_EQ(last.at("choices").at(0).at("finish_reason").as_string(), "length");
  EXPECT_TRUE(last.at("usage").is_null());

  auto usage = json::value(usage_chunk_json(test_meta(), true, {4, 6}));
  EXPECT_TRUE(usage.at("choices").as_array().empty());
  EXPECT_EQ(usage.at("usage").at("total_tokens").as_int64(), 10);
  EXPECT_EQ(sse_event(json::value(1)), "data: 1\n\n");
}

TEST(OpenAiResponse, TextCompletionShapes) {
  ChoiceResult c;
  c.index = 1;
  c.text = " the cat";
  c.has_logprobs = true;
  c.logprobs = {{" the", -1.0f, {{" the", -1.0f}}}, {" cat", -2.0f, {{" cat", -2.0f}}}};
  c.finish_reason = "length";
  ResponseMeta meta = test_meta();
  meta.id = "cmpl-abc";
  auto v = json::value(text_completion_json(meta, {c}, {2, 2}));
  EXPECT_EQ(v.at("object").as_string(), "text_completion");
  const auto& ch = v.at("choices").at(0);
  EXPECT_EQ(ch.at("text").as_string(), " the cat");
  EXPECT_EQ(ch.at("index").as_int64(), 1);
  EXPECT_EQ(ch.at("finish_reason").as_string(), "length");
  const auto& lp = ch.at("logprobs");
  EXPECT_EQ(lp.at("tokens"), json::value(json::array{" the", " cat"}));
  EXPECT_EQ(lp.at("token_logprobs").as_array().size(), 2u);
  EXPECT_EQ(lp.at("top_logprobs").at(1).at(" cat").to_number<double>(), -2.0);
  EXPECT_EQ(lp.at("text_offset"), json::value(json::array{0, 4}));

  auto chunk = json::value(text_chunk_json(meta, 0, "x", nullptr, 0, std::nullopt, false));
  EXPECT_EQ(chunk.at("object").as_string(), "text_completion");
  EXPECT_EQ(chunk.at("choices").at(0).at("text").as_string(), "x");
  EXPECT_TRUE(chunk.at("choices").at(0).at("logprobs").is_null());
  EXPECT_TRUE(chunk.at("choices").at(0).at("finish_reason").is_null());
}

TEST(OpenAiResponse, ModelListAndIds) {
  auto a = std::make_shared<ServedModel>();
  a->name = "alpha";
  a->created = 123;
  auto v = json::value(model_list_json({a}));
  EXPECT_EQ(v.at("object").as_string(), "list");
  const auto& m = v.at("data").at(0);
  EXPECT_EQ(m.at("id").as_string(), "alpha");
  EXPECT_EQ(m.at("object").as_string(), "model");
  EXPECT_EQ(m.at("created").as_int64(), 123);
  EXPECT_EQ(m.at("owned_by").as_string(), "hearth");
  const auto id = new_response_id("chatcmpl-");
  EXPECT_EQ(id.size(), 9u + 24u);
  EXPECT_NE(id, new_response_id("chatcmpl-"));
}

}  // namespace
}  // namespace hearth::server::api
