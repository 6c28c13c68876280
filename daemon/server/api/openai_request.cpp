#include "server/api/openai_request.h"

#include <boost/json/parser.hpp>

#include <charconv>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <exception>
#include <random>
#include <string>

#include "engine/lora_adapter.h"
#include "tokenizer/utf8.h"

namespace hearth::server::api {
namespace {

using boost::json::array;
using boost::json::object;
using boost::json::value;

// Fails the enclosing function (returning ApiResult<...>) with the error.
#define API_TRY(expr)                         \
  do {                                        \
    if (auto api_error_ = (expr)) return *api_error_; \
  } while (0)

using Check = std::optional<ApiError>;

std::string format_number(double v) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.17g", v);
  // %.17g spells 0.1 as 0.10000000000000001; prefer the shortest form that round-trips.
  for (int precision = 1; precision <= 17; ++precision) {
    char shorter[32];
    std::snprintf(shorter, sizeof shorter, "%.*g", precision, v);
    if (std::strtod(shorter, nullptr) == v) return shorter;
  }
  return buf;
}

const char* kind_name(const value& v) {
  switch (v.kind()) {
    case boost::json::kind::null: return "null";
    case boost::json::kind::bool_: return "a boolean";
    case boost::json::kind::int64:
    case boost::json::kind::uint64:
    case boost::json::kind::double_: return "a number";
    case boost::json::kind::string: return "a string";
    case boost::json::kind::array: return "an array";
    case boost::json::kind::object: return "an object";
  }
  return "something else";
}

ApiError bad(const std::string& param, std::string message) {
  return ApiError::invalid_request(std::move(message), param);
}

ApiError type_error(const std::string& param, const char* expected, const value& got) {
  return bad(param, param + " must be " + expected + ", got " + kind_name(got));
}

// The field's value, or null when it is absent or JSON null (both mean "not given").
const value* field(const object& o, std::string_view key) {
  const value* v = o.if_contains(key);
  return v && !v->is_null() ? v : nullptr;
}

// Any JSON number as a double (uint64 and int64 included).
std::optional<double> as_double(const value& v) {
  if (v.is_double()) return v.get_double();
  if (v.is_int64()) return static_cast<double>(v.get_int64());
  if (v.is_uint64()) return static_cast<double>(v.get_uint64());
  return std::nullopt;
}

// An integral JSON number (5 and 5.0 alike) as int64, if it fits.
std::optional<int64_t> as_integer(const value& v) {
  if (v.is_int64()) return v.get_int64();
  if (v.is_uint64()) {
    if (v.get_uint64() > static_cast<uint64_t>(INT64_MAX)) return std::nullopt;
    return static_cast<int64_t>(v.get_uint64());
  }
  if (v.is_double()) {
    const double d = v.get_double();
    if (std::isfinite(d) && d == std::floor(d) && std::fabs(d) < 9.0e15) return static_cast<int64_t>(d);
  }
  return std::nullopt;
}

// A number in [lo, hi] (or (lo, hi] when lo_open). NaN and infinities are
// refused by every range check.
Check read_number(const object& o, const char* key, double lo, double hi, bool lo_open, float& out) {
  const value* v = field(o, key);
  if (!v) return std::nullopt;
  auto d = as_double(*v);
  if (!d) return type_error(key, "a number", *v);
  const bool ok = std::isfinite(*d) && (lo_open ? *d > lo : *d >= lo) && *d <= hi;
  if (!ok) {
    return bad(key, std::string(key) + " must be a number in " + (lo_open ? "(" : "[") + format_number(lo) + ", " +
                        format_number(hi) + "], got " + format_number(*d));
  }
  out = static_cast<float>(*d);
  return std::nullopt;
}

Check read_integer(const object& o, const char* key, int64_t lo, int64_t hi, std::optional<int64_t>& out) {
  const value* v = field(o, key);
  if (!v) return std::nullopt;
  auto d = as_double(*v);
  if (!d) return type_error(key, "an integer", *v);
  auto i = as_integer(*v);
  const std::string range = "an integer in [" + std::to_string(lo) + ", " + std::to_string(hi) + "]";
  if (!i) return bad(key, std::string(key) + " must be " + range + ", got " + format_number(*d));
  if (*i < lo || *i > hi) return bad(key, std::string(key) + " must be " + range + ", got " + std::to_string(*i));
  out = *i;
  return std::nullopt;
}

Check read_bool(const object& o, const char* key, bool& out) {
  const value* v = field(o, key);
  if (!v) return std::nullopt;
  if (!v->is_bool()) return type_error(key, "a boolean", *v);
  out = v->get_bool();
  return std::nullopt;
}

Check read_string(const object& o, const char* key, std::string& out) {
  const value* v = field(o, key);
  if (!v) return std::nullopt;
  if (!v->is_string()) return type_error(key, "a string", *v);
  out = std::string(v->get_string());
  return std::nullopt;
}

uint64_t random_seed() {
  thread_local std::mt19937_64 rng{(static_cast<uint64_t>(std::random_device{}()) << 32) ^ std::random_device{}()};
  return rng();
}

Check read_stop(const object& o, CompletionPlan& plan) {
  const value* v = field(o, "stop");
  if (!v) return std::nullopt;
  auto add = [&](const value& s, const std::string& param) -> Check {
    if (!s.is_string()) return type_error(param, "a string", s);
    if (s.get_string().empty()) return bad(param, param + " must not be an empty string");
    plan.stop.emplace_back(s.get_string());
    return std::nullopt;
  };
  if (v->is_string()) return add(*v, "stop");
  if (!v->is_array()) return type_error("stop", "a string or an array of strings", *v);
  const array& a = v->get_array();
  if (a.size() > kMaxStopStrings) {
    return bad("stop", "stop may list at most " + std::to_string(kMaxStopStrings) + " strings, got " +
                           std::to_string(a.size()));
  }
  for (size_t i = 0; i < a.size(); ++i) API_TRY(add(a[i], "stop"));
  return std::nullopt;
}

Check read_logit_bias(const object& o, engine::SamplingParams& sampling) {
  const value* v = field(o, "logit_bias");
  if (!v) return std::nullopt;
  if (!v->is_object()) return type_error("logit_bias", "an object mapping token ids to numbers", *v);
  for (const auto& kv : v->get_object()) {
    const std::string_view key = kv.key();
    int64_t id = -1;
    const auto [end, ec] = std::from_chars(key.data(), key.data() + key.size(), id);
    if (ec != std::errc() || end != key.data() + key.size() || key.empty() || id < 0 || id > INT32_MAX) {
      return bad("logit_bias", "logit_bias keys must be token ids (non-negative integers), got \"" +
                                   std::string(key) + "\"");
    }
    auto bias = as_double(kv.value());
    if (!bias) return type_error("logit_bias", "an object mapping token ids to numbers", kv.value());
    if (!(std::isfinite(*bias) && *bias >= -100.0 && *bias <= 100.0)) {
      return bad("logit_bias", "logit_bias values must be numbers in [-100, 100], got " + format_number(*bias) +
                                   " for token " + std::string(key));
    }
    sampling.logit_bias.emplace_back(static_cast<int32_t>(id), static_cast<float>(*bias));
  }
  return std::nullopt;
}

// The fields both endpoints share.
Check read_common(const object& o, CompletionPlan& plan) {
  const value* model = o.if_contains("model");
  if (!model || model->is_null()) return bad("model", "you must provide a model parameter");
  if (!model->is_string()) return type_error("model", "a string", *model);
  if (model->get_string().empty()) return bad("model", "model must not be empty");
  plan.model = std::string(model->get_string());

  auto& s = plan.sampling;
  s.temperature = 1.0f;  // OpenAI's default
  API_TRY(read_number(o, "temperature", 0.0, 2.0, false, s.temperature));
  API_TRY(read_number(o, "top_p", 0.0, 1.0, true, s.top_p));
  API_TRY(read_number(o, "presence_penalty", -2.0, 2.0, false, s.presence_penalty));
  API_TRY(read_number(o, "frequency_penalty", -2.0, 2.0, false, s.frequency_penalty));
  API_TRY(read_number(o, "min_p", 0.0, 1.0, false, s.min_p));
  API_TRY(read_number(o, "repeat_penalty", 0.0, 10.0, true, s.repeat_penalty));
  std::optional<int64_t> top_k, n, seed;
  API_TRY(read_integer(o, "top_k", 0, 1 << 20, top_k));
  if (top_k) s.top_k = static_cast<int32_t>(*top_k);
  API_TRY(read_integer(o, "n", 1, kMaxChoices, n));
  if (n) plan.n = static_cast<int32_t>(*n);

  if (const value* v = field(o, "seed")) {
    // Any 64-bit integer, signed or not: clients use both.
    if (v->is_uint64()) {
      s.seed = v->get_uint64();
    } else {
      API_TRY(read_integer(o, "seed", INT64_MIN, INT64_MAX, seed));
      s.seed = static_cast<uint64_t>(*seed);
    }
    plan.seed_given = true;
  } else {
    s.seed = random_seed();
  }

  // max_completion_tokens is the newer name; it wins when both are given.
  constexpr int64_t kMaxTokensLimit = 1 << 24;
  std::optional<int64_t> max_tokens, max_completion_tokens;
  API_TRY(read_integer(o, "max_tokens", 1, kMaxTokensLimit, max_tokens));
  if (plan.kind == ApiKind::kChat) {
    API_TRY(read_integer(o, "max_completion_tokens", 1, kMaxTokensLimit, max_completion_tokens));
  }
  if (max_completion_tokens) max_tokens = max_completion_tokens;
  if (max_tokens) plan.max_tokens = static_cast<int32_t>(*max_tokens);

  API_TRY(read_stop(o, plan));
  API_TRY(read_logit_bias(o, s));
  API_TRY(read_bool(o, "stream", plan.stream));
  if (const value* v = field(o, "stream_options")) {
    if (!v->is_object()) return type_error("stream_options", "an object", *v);
    if (const value* u = field(v->get_object(), "include_usage")) {
      if (!u->is_bool()) return type_error("stream_options.include_usage", "a boolean", *u);
      plan.include_usage = u->get_bool();
    }
  }
  API_TRY(read_bool(o, "ignore_eos", plan.ignore_eos));
  if (field(o, "lora_scale")) {
    float scale = 1.0f;
    API_TRY(read_number(o, "lora_scale", -engine::kMaxLoraScale, engine::kMaxLoraScale, false, scale));
    plan.lora_scale = scale;
  }
  API_TRY(read_string(o, "user", plan.user));
  return std::nullopt;
}

// Chat message content as one string: text parts joined with "\n" (what
// llama.cpp's server does), since most GGUF templates expect a string.
Check normalise_content(const value* content, const std::string& param, std::string& out) {
  if (!content) return std::nullopt;
  if (content->is_string()) {
    out = std::string(content->get_string());
    return std::nullopt;
  }
  if (!content->is_array()) return type_error(param, "a string or an array of content parts", *content);
  const array& parts = content->get_array();
  for (size_t i = 0; i < parts.size(); ++i) {
    const std::string p = param + "[" + std::to_string(i) + "]";
    if (!parts[i].is_object()) return type_error(p, "an object", parts[i]);
    const object& part = parts[i].get_object();
    const value* type = field(part, "type");
    if (!type || !type->is_string()) return bad(p + ".type", p + ".type must be a string");
    if (type->get_string() != "text") {
      return bad(p + ".type", "content part type '" + std::string(type->get_string()) +
                                  "' is not supported (this server handles text only)");
    }
    const value* text = field(part, "text");
    if (!text || !text->is_string()) return bad(p + ".text", p + ".text must be a string");
    if (i > 0) out += '\n';
    out += text->get_string();
  }
  return std::nullopt;
}

Check read_messages(const object& o, CompletionPlan& plan) {
  const value* v = field(o, "messages");
  if (!v) return bad("messages", "messages is required");
  if (!v->is_array()) return type_error("messages", "an array", *v);
  const array& in = v->get_array();
  if (in.empty()) return bad("messages", "messages must contain at least one message");
  for (size_t i = 0; i < in.size(); ++i) {
    const std::string p = "messages[" + std::to_string(i) + "]";
    if (!in[i].is_object()) return type_error(p, "an object", in[i]);
    object m = in[i].get_object();
    const value* role = field(m, "role");
    if (!role) return bad(p + ".role", p + ".role is required");
    if (!role->is_string()) return type_error(p + ".role", "a string", *role);
    std::string r(role->get_string());
    // "developer" is OpenAI's newer name for "system"; templates know only the latter.
    if (r == "developer") r = "system";
    if (r != "system" && r != "user" && r != "assistant" && r != "tool") {
      return bad(p + ".role", p + ".role must be one of system, developer, user, assistant, tool, got '" + r + "'");
    }
    const value* content = field(m, "content");
    // An assistant turn that only calls tools carries no content.
    if (!content && r != "assistant") return bad(p + ".content", p + ".content is required for role " + r);
    std::string text;
    API_TRY(normalise_content(content, p + ".content", text));
    if (const value* name = field(m, "name"); name && !name->is_string()) {
      return type_error(p + ".name", "a string", *name);
    }
    m["role"] = r;
    m["content"] = text;
    plan.messages.push_back(std::move(m));
  }
  return std::nullopt;
}

Check read_token_ids(const array& a, const std::string& param, PromptInput& out) {
  if (a.empty()) return bad(param, param + " must not be empty");
  out.is_tokens = true;
  out.tokens.reserve(a.size());
  for (const value& t : a) {
    auto id = as_integer(t);
    if (!id || *id < 0 || *id > INT32_MAX) {
      return bad(param, param + " must contain token ids (non-negative integers)");
    }
    out.tokens.push_back(static_cast<int32_t>(*id));
  }
  return std::nullopt;
}

// A prompt field in any of the four shapes OpenAI accepts (completions'
// "prompt", embeddings' "input"); each prompt is one PromptInput.
Check read_prompts(const object& o, const std::string& key, std::vector<PromptInput>& prompts) {
  const value* v = field(o, key);
  if (!v) return bad(key, key + " is required");
  if (v->is_string()) {
    prompts.push_back({false, std::string(v->get_string()), {}});
    return std::nullopt;
  }
  const char* kShapes = "a string, an array of strings, an array of token ids or an array of arrays of token ids";
  if (!v->is_array()) return type_error(key, kShapes, *v);
  const array& a = v->get_array();
  if (a.empty()) return bad(key, key + " must not be an empty array");
  if (a[0].is_number()) {
    PromptInput p;
    API_TRY(read_token_ids(a, key, p));
    prompts.push_back(std::move(p));
    return std::nullopt;
  }
  for (size_t i = 0; i < a.size(); ++i) {
    const std::string param = key + "[" + std::to_string(i) + "]";
    if (a[i].is_string()) {
      prompts.push_back({false, std::string(a[i].get_string()), {}});
    } else if (a[i].is_array()) {
      PromptInput p;
      API_TRY(read_token_ids(a[i].get_array(), param, p));
      prompts.push_back(std::move(p));
    } else {
      return bad(key, key + " must be " + std::string(kShapes) + "; " + param + " is " + kind_name(a[i]));
    }
  }
  return std::nullopt;
}

Check read_prompt(const object& o, CompletionPlan& plan) { return read_prompts(o, "prompt", plan.prompts); }

Check read_response_format(const object& o) {
  const value* v = field(o, "response_format");
  if (!v) return std::nullopt;
  if (!v->is_object()) return type_error("response_format", "an object", *v);
  const value* type = field(v->get_object(), "type");
  if (!type || !type->is_string()) return bad("response_format", "response_format.type must be a string");
  const std::string t(type->get_string());
  if (t == "text") return std::nullopt;
  if (t == "json_object" || t == "json_schema") {
    return bad("response_format", "response_format " + t + " is not supported yet");
  }
  return bad("response_format", "response_format.type must be one of text, json_object, json_schema, got '" + t + "'");
}

// A non-empty list under `key` asks for something this server cannot do yet.
Check refuse_nonempty_array(const object& o, const char* key, const char* what) {
  const value* v = field(o, key);
  if (!v) return std::nullopt;
  if (!v->is_array()) return type_error(key, "an array", *v);
  if (!v->get_array().empty()) return bad(key, std::string(what) + " are not supported yet");
  return std::nullopt;
}

}  // namespace

ApiResult<object> parse_json_body(std::string_view body) {
  // Checked first because Boost.JSON reports bad UTF-8 as a plain syntax error.
  if (!tokenizer::utf8::is_valid(body)) {
    return ApiError::invalid_request("invalid UTF-8 in the request body");
  }
  try {
    boost::json::parser p;
    boost::system::error_code ec;
    const size_t used = p.write(body.data(), body.size(), ec);
    if (!ec && used != body.size()) ec = boost::json::error::extra_data;
    if (ec) {
      return ApiError::invalid_request("invalid JSON: " + ec.message() + " at byte " + std::to_string(used));
    }
    value v = p.release();
    if (!v.is_object()) {
      return ApiError::invalid_request(std::string("the request body must be a JSON object, got ") + kind_name(v));
    }
    return std::move(v.get_object());
  } catch (const std::exception& e) {
    // Boost.JSON throws only for allocation failures and limits.
    return ApiError::invalid_request(std::string("invalid JSON: ") + e.what());
  }
}

ApiResult<CompletionPlan> parse_chat_request(std::string_view body) {
  auto json = parse_json_body(body);
  if (!json) return json.error();
  const object& o = *json;
  CompletionPlan plan;
  plan.kind = ApiKind::kChat;
  API_TRY(read_common(o, plan));
  API_TRY(read_messages(o, plan));
  API_TRY(read_bool(o, "logprobs", plan.logprobs));
  std::optional<int64_t> top;
  API_TRY(read_integer(o, "top_logprobs", 0, kMaxTopLogprobsChat, top));
  if (top) {
    if (!plan.logprobs) return bad("top_logprobs", "top_logprobs requires logprobs to be true");
    plan.top_logprobs = static_cast<int32_t>(*top);
  }
  plan.sampling.n_top_logprobs = plan.top_logprobs;
  API_TRY(read_response_format(o));
  API_TRY(refuse_nonempty_array(o, "tools", "tools"));
  API_TRY(refuse_nonempty_array(o, "functions", "functions"));
  return plan;
}

ApiResult<CompletionPlan> parse_completion_request(std::string_view body) {
  auto json = parse_json_body(body);
  if (!json) return json.error();
  const object& o = *json;
  CompletionPlan plan;
  plan.kind = ApiKind::kCompletion;
  API_TRY(read_common(o, plan));
  API_TRY(read_prompt(o, plan));
  const size_t total = plan.prompts.size() * static_cast<size_t>(plan.n);
  if (total > static_cast<size_t>(kMaxTotalSequences)) {
    return bad("n", "prompts × n may be at most " + std::to_string(kMaxTotalSequences) + ", got " +
                        std::to_string(total));
  }
  std::optional<int64_t> logprobs;
  API_TRY(read_integer(o, "logprobs", 0, kMaxLogprobsCompletion, logprobs));
  if (logprobs) {
    plan.logprobs = true;
    plan.top_logprobs = static_cast<int32_t>(*logprobs);
  }
  plan.sampling.n_top_logprobs = plan.top_logprobs;
  bool echo = false;
  API_TRY(read_bool(o, "echo", echo));
  if (echo) return bad("echo", "echo is not supported yet");
  std::string suffix;
  API_TRY(read_string(o, "suffix", suffix));
  if (!suffix.empty()) return bad("suffix", "suffix is not supported yet");
  std::optional<int64_t> best_of;
  API_TRY(read_integer(o, "best_of", 1, kMaxChoices, best_of));
  if (best_of && *best_of != plan.n) return bad("best_of", "best_of other than n is not supported yet");
  return plan;
}

ApiResult<EmbeddingPlan> parse_embeddings_request(std::string_view body) {
  auto json = parse_json_body(body);
  if (!json) return json.error();
  const object& o = *json;
  EmbeddingPlan plan;
  const value* model = o.if_contains("model");
  if (!model || model->is_null()) return bad("model", "you must provide a model parameter");
  if (!model->is_string()) return type_error("model", "a string", *model);
  if (model->get_string().empty()) return bad("model", "model must not be empty");
  plan.model = std::string(model->get_string());
  API_TRY(read_prompts(o, "input", plan.inputs));
  if (plan.inputs.size() > kMaxEmbeddingInputs) {
    return bad("input", "input may hold at most " + std::to_string(kMaxEmbeddingInputs) + " items, got " +
                            std::to_string(plan.inputs.size()));
  }
  for (size_t i = 0; i < plan.inputs.size(); ++i) {
    if (!plan.inputs[i].is_tokens && plan.inputs[i].text.empty()) {
      const std::string param = plan.inputs.size() == 1 ? "input" : "input[" + std::to_string(i) + "]";
      return bad(param, param + " must not be an empty string");
    }
  }
  std::string format = "float";
  API_TRY(read_string(o, "encoding_format", format));
  if (format == "base64") {
    plan.base64 = true;
  } else if (format != "float") {
    return bad("encoding_format", "encoding_format must be \"float\" or \"base64\", got \"" + format + "\"");
  }
  std::optional<int64_t> dimensions;
  API_TRY(read_integer(o, "dimensions", 1, INT32_MAX, dimensions));
  if (dimensions) plan.dimensions = static_cast<int32_t>(*dimensions);
  API_TRY(read_string(o, "user", plan.user));
  return plan;
}

}  // namespace hearth::server::api
