// Parsing and validation of the bodies of POST /v1/chat/completions and
// POST /v1/completions into a CompletionPlan (and of POST /v1/embeddings into
// an EmbeddingPlan): everything the service needs
// to run the request, with every field checked for type and range. Nothing
// here needs a model; the checks that do (token ids against the vocabulary,
// prompt plus max_tokens against the context) happen in the service.
//
// Every rejection is a 400 whose `param` names the field at fault, e.g.
// param "temperature", message "temperature must be a number in [0, 2], got 3".
// `null` counts as absent for every optional field, as it does for OpenAI.
// Unknown fields are ignored (clients send vendor extensions); known fields
// this server cannot honour (tools, response_format json_object, echo ...)
// are rejected rather than silently ignored.
//
// Extensions beyond OpenAI: top_k, min_p, repeat_penalty, ignore_eos (llama.cpp's names),
// lora_scale (a LoRA adapter's strength when `model` names an adapter).
// Stateless free functions; thread-safe.
#pragma once

#include <boost/json/array.hpp>

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "engine/sampling_params.h"
#include "server/api/api_error.h"

namespace hearth::server::api {

enum class ApiKind { kChat, kCompletion };

// One prompt of a completions request: text to tokenize, or token ids as sent.
struct PromptInput {
  bool is_tokens = false;
  std::string text;             // when !is_tokens
  std::vector<int32_t> tokens;  // when is_tokens (range-checked against the model later)
};

struct CompletionPlan {
  ApiKind kind = ApiKind::kChat;
  std::string model;
  // Chat: the conversation, normalised for the template: every content is a
  // string (text parts joined with "\n", null → ""), "developer" became
  // "system". Other message keys pass through.
  boost::json::array messages;
  // Completions: one prompt or several; each gets n choices, numbered
  // prompt_index * n + i as OpenAI does.
  std::vector<PromptInput> prompts;
  // max_completion_tokens, else max_tokens; absent: whatever the context leaves.
  std::optional<int32_t> max_tokens;
  // temperature, top_p, penalties, logit_bias, extensions, n_top_logprobs.
  // `seed` holds the client's seed, or a random one when seed_given is false;
  // choice i samples with seed + i so that n > 1 gives different choices.
  engine::SamplingParams sampling;
  bool seed_given = false;
  int32_t n = 1;
  std::vector<std::string> stop;
  // Report log-probabilities (chat: logprobs true; completions: logprobs
  // present), with top_logprobs alternatives per token (== sampling.n_top_logprobs).
  bool logprobs = false;
  int32_t top_logprobs = 0;
  bool stream = false;
  bool include_usage = false;  // stream_options.include_usage
  std::string user;            // accepted, only logged
  bool ignore_eos = false;     // generate through end-of-generation tokens (benchmarks)
  // Extension: the factor on a LoRA adapter's alpha / rank when `model`
  // names an adapter (absent: the adapter's configured scale).
  std::optional<float> lora_scale;
};

// POST /v1/embeddings: the inputs to embed (each one sequence) and the answer's form.
struct EmbeddingPlan {
  std::string model;
  std::vector<PromptInput> inputs;
  bool base64 = false;                // encoding_format "base64": little-endian float32, base64-encoded
  std::optional<int32_t> dimensions;  // must equal the model's width when given
  std::string user;                   // accepted, only logged
};

// Upper limits on what one request may ask for.
inline constexpr int32_t kMaxChoices = 8;          // n
inline constexpr int32_t kMaxTotalSequences = 16;  // prompts × n (completions)
inline constexpr size_t kMaxStopStrings = 4;
inline constexpr int32_t kMaxTopLogprobsChat = 20;
inline constexpr int32_t kMaxLogprobsCompletion = 5;
inline constexpr size_t kMaxEmbeddingInputs = 16;  // input items of one embeddings request

// Parses a body as JSON: invalid UTF-8 and invalid JSON are 400s that say
// so (with the byte offset where parsing stopped); the body must be an object.
ApiResult<boost::json::object> parse_json_body(std::string_view body);

// The body of POST /v1/chat/completions.
ApiResult<CompletionPlan> parse_chat_request(std::string_view body);
// The body of POST /v1/completions.
ApiResult<CompletionPlan> parse_completion_request(std::string_view body);
// The body of POST /v1/embeddings.
ApiResult<EmbeddingPlan> parse_embeddings_request(std::string_view body);

}  // namespace hearth::server::api
