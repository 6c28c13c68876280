// JSON builders for the OpenAI-compatible responses, field for field as
// OpenAI sends them: chat.completion and chat.completion.chunk,
// text_completion (whole and streamed), the usage-only final chunk, and the
// model list; plus the Server-Sent Events framing and response ids.
//
// Streamed chat, per choice: a first chunk whose delta is
// {"role":"assistant","content":""}, content chunks, a last chunk with an
// empty delta and the finish_reason; after every choice, when
// stream_options.include_usage, one chunk with "choices": [] and the usage
// (every earlier chunk then carries "usage": null); then "data: [DONE]".
// Streamed completions are the same without the role chunk.
//
// Strings go out as valid UTF-8 (token pieces that end mid-character are
// repaired with U+FFFD; their exact bytes are in "bytes").
// Stateless free functions and value types; thread-safe.
#pragma once

#include <boost/json/object.hpp>
#include <boost/json/value.hpp>

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "server/api/served_model.h"

namespace hearth::server::api {

// Identifies one response; the same for every chunk of a stream.
struct ResponseMeta {
  std::string id;        // "chatcmpl-..." / "cmpl-..."
  int64_t created = 0;   // Unix seconds
  std::string model;     // the name the client asked for
  std::string system_fingerprint;
};

// One generated token's log-probability and its most likely alternatives,
// each as the token's raw bytes.
struct TokenLogprob {
  std::string token;
  float logprob = 0;
  std::vector<std::pair<std::string, float>> top;
};

struct Usage {
  int64_t prompt_tokens = 0;
  int64_t completion_tokens = 0;
};

struct ChoiceResult {
  int32_t index = 0;
  std::string text;
  bool has_logprobs = false;            // false: "logprobs": null
  std::vector<TokenLogprob> logprobs;
  std::string finish_reason;            // "stop" or "length"
};

// "chatcmpl-" / "cmpl-" followed by 24 random alphanumerics.
std::string new_response_id(std::string_view prefix);
// What this build reports as system_fingerprint.
std::string system_fingerprint();

// Non-streamed responses.
boost::json::object chat_completion_json(const ResponseMeta& meta, const std::vector<ChoiceResult>& choices,
                                         const Usage& usage);
boost::json::object text_completion_json(const ResponseMeta& meta, const std::vector<ChoiceResult>& choices,
                                         const Usage& usage);

// One chunk of a streamed chat completion for one choice. `role` adds
// "role":"assistant" to the delta; `content` absent leaves it out (the
// final chunk's delta is {}); `logprobs` null gives "logprobs": null.
// `usage_null` adds "usage": null (streams with include_usage).
boost::json::object chat_chunk_json(const ResponseMeta& meta, int32_t index, bool role,
                                    const std::optional<std::string>& content,
                                    const std::vector<TokenLogprob>* logprobs,
                                    const std::optional<std::string>& finish_reason, bool usage_null);
// One chunk of a streamed text completion. `text_offset` is where the first
// of `logprobs`' tokens starts in the choice's generated text.
boost::json::object text_chunk_json(const ResponseMeta& meta, int32_t index, const std::string& text,
                                    const std::vector<TokenLogprob>* logprobs, int64_t text_offset,
                                    const std::optional<std::string>& finish_reason, bool usage_null);
// The final usage chunk: "choices": [] and the usage.
boost::json::object usage_chunk_json(const ResponseMeta& meta, bool chat, const Usage& usage);

// The logprobs objects themselves.
boost::json::value chat_logprobs_json(const std::vector<TokenLogprob>& logprobs);
boost::json::value text_logprobs_json(const std::vector<TokenLogprob>& logprobs, int64_t text_offset);
boost::json::object usage_json(const Usage& usage);

// GET /v1/models and GET /v1/models/{id}. A model configured but not loaded
// now (`loadable`) is listed with "created" 0: it is not served yet, and a
// request naming it loads it.
boost::json::object model_json(const ServedModel& model);
boost::json::object loadable_model_json(const std::string& name);
boost::json::object model_list_json(const std::vector<std::shared_ptr<ServedModel>>& models,
                                    const std::vector<std::string>& loadable = {});

// "data: <json>\n\n".
std::string sse_event(const boost::json::value& json);
inline constexpr std::string_view kSseDone = "data: [DONE]\n\n";

}  // namespace hearth::server::api
