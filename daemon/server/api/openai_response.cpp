#include "server/api/openai_response.h"

#include <boost/json/array.hpp>
#include <boost/json/serialize.hpp>

#include <random>

#include "tokenizer/utf8.h"

namespace hearth::server::api {
namespace {

using boost::json::array;
using boost::json::object;
using boost::json::value;

// Token pieces can end inside a UTF-8 character; JSON strings must not.
std::string json_safe(const std::string& bytes) {
  return tokenizer::utf8::is_valid(bytes) ? bytes : tokenizer::utf8::repair_per_byte(bytes);
}

array byte_array(const std::string& bytes) {
  array a;
  a.reserve(bytes.size());
  for (unsigned char c : bytes) a.emplace_back(static_cast<int64_t>(c));
  return a;
}

object meta_fields(const ResponseMeta& meta, const char* object_name) {
  object o;
  o["id"] = meta.id;
  o["object"] = object_name;
  o["created"] = meta.created;
  o["model"] = meta.model;
  o["system_fingerprint"] = meta.system_fingerprint;
  return o;
}

value finish_value(const std::optional<std::string>& finish) {
  return finish ? value(*finish) : value(nullptr);
}

}  // namespace

std::string new_response_id(std::string_view prefix) {
  static constexpr char kAlphabet[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789";
  thread_local std::mt19937_64 rng{(static_cast<uint64_t>(std::random_device{}()) << 32) ^ std::random_device{}()};
  std::string id(prefix);
  for (int i = 0; i < 24; ++i) id += kAlphabet[rng() % (sizeof(kAlphabet) - 1)];
  return id;
}

std::string system_fingerprint() { return "fp_hearth_" HEARTH_VERSION; }

object usage_json(const Usage& usage) {
  object u;
  u["prompt_tokens"] = usage.prompt_tokens;
  u["completion_tokens"] = usage.completion_tokens;
  u["total_tokens"] = usage.prompt_tokens + usage.completion_tokens;
  return u;
}

value chat_logprobs_json(const std::vector<TokenLogprob>& logprobs) {
  array content;
  content.reserve(logprobs.size());
  for (const auto& lp : logprobs) {
    object entry;
    entry["token"] = json_safe(lp.token);
    entry["logprob"] = lp.logprob;
    entry["bytes"] = byte_array(lp.token);
    array top;
    for (const auto& [token, logprob] : lp.top) {
      object alt;
      alt["token"] = json_safe(token);
      alt["logprob"] = logprob;
      alt["bytes"] = byte_array(token);
      top.push_back(std::move(alt));
    }
    entry["top_logprobs"] = std::move(top);
    content.push_back(std::move(entry));
  }
  object o;
  o["content"] = std::move(content);
  o["refusal"] = nullptr;
  return o;
}

value text_logprobs_json(const std::vector<TokenLogprob>& logprobs, int64_t text_offset) {
  array tokens, token_logprobs, top_logprobs, offsets;
  for (const auto& lp : logprobs) {
    tokens.emplace_back(json_safe(lp.token));
    token_logprobs.emplace_back(lp.logprob);
    object top;
    for (const auto& [token, logprob] : lp.top) top[json_safe(token)] = logprob;
    top_logprobs.emplace_back(std::move(top));
    offsets.emplace_back(text_offset);
    text_offset += static_cast<int64_t>(lp.token.size());
  }
  object o;
  o["tokens"] = std::move(tokens);
  o["token_logprobs"] = std::move(token_logprobs);
  o["top_logprobs"] = std::move(top_logprobs);
  o["text_offset"] = std::move(offsets);
  return o;
}

object chat_completion_json(const ResponseMeta& meta, const std::vector<ChoiceResult>& choices, const Usage& usage) {
  object o = meta_fields(meta, "chat.completion");
  array cs;
  for (const auto& c : choices) {
    object message;
    message["role"] = "assistant";
    message["content"] = c.text;
    message["refusal"] = nullptr;
    object choice;
    choice["index"] = c.index;
    choice["message"] = std::move(message);
    choice["logprobs"] = c.has_logprobs ? chat_logprobs_json(c.logprobs) : value(nullptr);
    choice["finish_reason"] = c.finish_reason;
    cs.push_back(std::move(choice));
  }
  o["choices"] = std::move(cs);
  o["usage"] = usage_json(usage);
  return o;
}

object text_completion_json(const ResponseMeta& meta, const std::vector<ChoiceResult>& choices, const Usage& usage) {
  object o = meta_fields(meta, "text_completion");
  array cs;
  for (const auto& c : choices) {
    object choice;
    choice["text"] = c.text;
    choice["index"] = c.index;
    choice["logprobs"] = c.has_logprobs ? text_logprobs_json(c.logprobs, 0) : value(nullptr);
    choice["finish_reason"] = c.finish_reason;
    cs.push_back(std::move(choice));
  }
  o["choices"] = std::move(cs);
  o["usage"] = usage_json(usage);
  return o;
}

object chat_chunk_json(const ResponseMeta& meta, int32_t index, bool role, const std::optional<std::string>& content,
                       const std::vector<TokenLogprob>* logprobs, const std::optional<std::string>& finish_reason,
                       bool usage_null) {
  object o = meta_fields(meta, "chat.completion.chunk");
  object delta;
  if (role) delta["role"] = "assistant";
  if (content) delta["content"] = *content;
  object choice;
  choice["index"] = index;
  choice["delta"] = std::move(delta);
  choice["logprobs"] = logprobs ? chat_logprobs_json(*logprobs) : value(nullptr);
  choice["finish_reason"] = finish_value(finish_reason);
  array cs;
  cs.push_back(std::move(choice));
  o["choices"] = std::move(cs);
  if (usage_null) o["usage"] = nullptr;
  return o;
}

object text_chunk_json(const ResponseMeta& meta, int32_t index, const std::string& text,
                       const std::vector<TokenLogprob>* logprobs, int64_t text_offset,
                       const std::optional<std::string>& finish_reason, bool usage_null) {
  object o = meta_fields(meta, "text_completion");
  object choice;
  choice["text"] = text;
  choice["index"] = index;
  choice["logprobs"] = logprobs ? text_logprobs_json(*logprobs, text_offset) : value(nullptr);
  choice["finish_reason"] = finish_value(finish_reason);
  array cs;
  cs.push_back(std::move(choice));
  o["choices"] = std::move(cs);
  if (usage_null) o["usage"] = nullptr;
  return o;
}

object usage_chunk_json(const ResponseMeta& meta, bool chat, const Usage& usage) {
  object o = meta_fields(meta, chat ? "chat.completion.chunk" : "text_completion");
  o["choices"] = array();
  o["usage"] = usage_json(usage);
  return o;
}

object model_json(const ServedModel& model) {
  object o;
  o["id"] = model.name;
  o["object"] = "model";
  o["created"] = model.created;
  o["owned_by"] = model.owned_by;
  // A LoRA adapter names the model it adapts (as OpenAI's fine-tunes do).
  if (model.base) o["parent"] = model.base->name;
  return o;
}

object loadable_model_json(const std::string& name) {
  object o;
  o["id"] = name;
  o["object"] = "model";
  o["created"] = 0;
  o["owned_by"] = ServedModel{}.owned_by;
  return o;
}

object model_list_json(const std::vector<std::shared_ptr<ServedModel>>& models, const std::vector<std::string>& loadable) {
  array data;
  for (const auto& m : models) {
    if (m) data.push_back(model_json(*m));
  }
  for (const auto& name : loadable) data.push_back(loadable_model_json(name));
  object o;
  o["object"] = "list";
  o["data"] = std::move(data);
  return o;
}

std::string sse_event(const value& json) {
  std::string s = "data: ";
  s += boost::json::serialize(json);
  s += "\n\n";
  return s;
}

}  // namespace hearth::server::api
