#include "server/api/openai_service.h"

#include <boost/json/serialize.hpp>

#include <algorithm>
#include <chrono>
#include <ctime>
#include <functional>
#include <string>
#include <utility>
#include <vector>

#include "server/api/api_error.h"
#include "server/api/completion_exchange.h"
#include "server/api/embedding_exchange.h"
#include "server/api/openai_request.h"
#include "server/api/openai_response.h"

namespace hearth::server::api {
namespace {

// One prompt, ready for the scheduler.
struct TokenizedPrompt {
  std::vector<int32_t> tokens;
  int32_t max_tokens = 0;
};

ApiError unknown_model(const std::string& name) {
  return ApiError::not_found("The model '" + name + "' does not exist", "model", "model_not_found");
}

// Chat prompt tokens; the BOS rule is explained in openai_service.h.
ApiResult<std::vector<int32_t>> chat_prompt(const ServedModel& served, const CompletionPlan& plan) {
  if (!served.chat_template) {
    return ApiError::invalid_request("model " + served.name + " has no chat template; use /v1/completions",
                                     "messages");
  }
  templating::ChatInputs inputs;
  inputs.messages = plan.messages;
  inputs.add_generation_prompt = true;
  inputs.bos_token = served.bos_text;
  inputs.eos_token = served.eos_text;
  auto text = served.chat_template->render(inputs);
  if (!text) return ApiError::invalid_request(text.message(), "messages");
  const auto& tok = served.scheduler->model().tokenizer();
  std::vector<int32_t> tokens = tok.encode(*text, /*add_special=*/false, /*parse_special=*/true);
  const bool has_bos_text = !served.bos_text.empty() && text->starts_with(served.bos_text);
  if (tok.vocab().add_bos() && tok.bos() >= 0 && !has_bos_text) tokens.insert(tokens.begin(), tok.bos());
  return tokens;
}

ApiResult<std::vector<int32_t>> completion_prompt(const ServedModel& served, const PromptInput& prompt,
                                                  const std::string& param) {
  const auto& tok = served.scheduler->model().tokenizer();
  if (!prompt.is_tokens) return tok.encode(prompt.text, /*add_special=*/true, /*parse_special=*/false);
  const int32_t n_vocab = tok.n_vocab();
  for (int32_t id : prompt.tokens) {
    if (id >= n_vocab) {
      return ApiError::invalid_request(param + " has token id " + std::to_string(id) +
                                           ", outside the model's vocabulary of " + std::to_string(n_vocab) +
                                           " tokens",
                                       param);
    }
  }
  return prompt.tokens;
}

// The token budget of one prompt: what the client asked for, or the rest of
// the context. OpenAI refuses requests that cannot fit rather than clipping.
ApiResult<int32_t> token_budget(const CompletionPlan& plan, size_t n_prompt, uint32_t n_ctx, const char* param) {
  if (n_prompt == 0) return ApiError::invalid_request("the prompt is empty (it has no tokens)", param);
  const int64_t requested = plan.max_tokens.value_or(0);
  if (n_prompt >= n_ctx || n_prompt + requested > n_ctx) {
    std::string msg = "This model's maximum context length is " + std::to_string(n_ctx) + " tokens. However, ";
    if (plan.max_tokens) {
      msg += "you requested " + std::to_string(n_prompt + requested) + " tokens (" + std::to_string(n_prompt) +
             " in the prompt, " + std::to_string(requested) + " in the completion).";
    } else {
      msg += "your prompt has " + std::to_string(n_prompt) + " tokens, leaving no room for the completion.";
    }
    msg += " Please reduce the length of the prompt or max_tokens.";
    return ApiError::invalid_request(msg, plan.max_tokens && n_prompt < n_ctx ? "max_tokens" : param,
                                     "context_length_exceeded");
  }
  return static_cast<int32_t>(plan.max_tokens ? requested : static_cast<int64_t>(n_ctx - n_prompt));
}

// Everything the model must agree to before anything is submitted.
ApiResult<std::vector<TokenizedPrompt>> prepare(const ServedModel& served, const CompletionPlan& plan) {
  const auto& model = served.scheduler->model();
  const int32_t n_vocab = static_cast<int32_t>(model.config().n_vocab);
  for (const auto& [id, bias] : plan.sampling.logit_bias) {
    if (id >= n_vocab) {
      return ApiError::invalid_request("logit_bias has token id " + std::to_string(id) +
                                           ", outside the model's vocabulary of " + std::to_string(n_vocab) +
                                           " tokens",
                                       "logit_bias");
    }
  }
  if (Status s = plan.sampling.validate(n_vocab); !s) return ApiError::invalid_request(s.message());

  std::vector<TokenizedPrompt> out;
  if (plan.kind == ApiKind::kChat) {
    auto tokens = chat_prompt(served, plan);
    if (!tokens) return tokens.error();
    auto budget = token_budget(plan, tokens->size(), model.n_ctx(), "messages");
    if (!budget) return budget.error();
    out.push_back({std::move(*tokens), *budget});
    return out;
  }
  for (size_t p = 0; p < plan.prompts.size(); ++p) {
    const std::string param = plan.prompts.size() == 1 ? "prompt" : "prompt[" + std::to_string(p) + "]";
    auto tokens = completion_prompt(served, plan.prompts[p], param);
    if (!tokens) return tokens.error();
    auto budget = token_budget(plan, tokens->size(), model.n_ctx(), "prompt");
    if (!budget) return budget.error();
    out.push_back({std::move(*tokens), *budget});
  }
  return out;
}

ApiError submit_error(sched::SubmitFailure why, const std::string& message, const std::string& model) {
  switch (why) {
    case sched::SubmitFailure::kQueueFull:
      return ApiError::rate_limited("model " + model + " is busy: its request queue is full; retry later");
    case sched::SubmitFailure::kInvalid: return ApiError::invalid_request(message);
    case sched::SubmitFailure::kShuttingDown:
      return ApiError::unavailable("model " + model + " is shutting down: " + message);
    case sched::SubmitFailure::kNone: break;
  }
  return ApiError::internal(message);
}

// Answers a refused submit; a full queue says when to retry.
void send_submit_error(ResponseStream& out, sched::SubmitFailure why, const std::string& message,
                       const std::string& model) {
  const ApiError error = submit_error(why, message, model);
  HeaderList headers;
  if (error.status == 429) headers.emplace_back("Retry-After", "1");
  send_error(out, error, std::move(headers));
}

// Looks the model up (which may load it: then `then` runs later, on the
// registry's loader thread, so no network thread waits for a load) and runs
// `then` with it, or answers 404 (no such model) / 503 (it did not load).
void with_model(const ModelRegistry& registry, const std::string& name, const std::shared_ptr<ResponseStream>& out,
                std::function<void(const std::shared_ptr<ServedModel>&)> then) {
  registry.acquire(name, [name, out, then = std::move(then)](std::shared_ptr<ServedModel> served, std::string why) {
    if (!served && !why.empty()) return send_error(*out, ApiError::unavailable(why));
    if (!served || !served->scheduler) return send_error(*out, unknown_model(name));
    then(served);
  });
}

void generate_on(const std::shared_ptr<ServedModel>& served, const std::string& request_id, CompletionPlan& plan,
                 const std::shared_ptr<ResponseStream>& out) {
  auto prompts = prepare(*served, plan);
  if (!prompts) return send_error(*out, prompts.error());

  const bool chat = plan.kind == ApiKind::kChat;
  CompletionExchange::Options options;
  options.kind = plan.kind;
  options.meta.id = new_response_id(chat ? "chatcmpl-" : "cmpl-");
  options.meta.created = static_cast<int64_t>(std::time(nullptr));
  options.meta.model = served->name;
  options.meta.system_fingerprint = system_fingerprint();
  const int32_t n_choices = static_cast<int32_t>(prompts->size()) * plan.n;
  options.n_choices = n_choices;
  options.stream = plan.stream;
  options.include_usage = plan.stream && plan.include_usage;
  options.logprobs = plan.logprobs;
  for (const auto& p : *prompts) options.prompt_tokens += static_cast<int64_t>(p.tokens.size());
  auto exchange = std::make_shared<CompletionExchange>(std::move(options), served->scheduler->model().tokenizer(), out);

  // Choice index = prompt index * n + i, as OpenAI numbers them; choice i of
  // a prompt samples with seed + i so that the n choices differ.
  for (size_t p = 0; p < prompts->size(); ++p) {
    for (int32_t i = 0; i < plan.n; ++i) {
      const int32_t index = static_cast<int32_t>(p) * plan.n + i;
      sched::SequenceRequest seq;
      seq.prompt = (*prompts)[p].tokens;
      seq.sampling = plan.sampling;
      seq.sampling.seed = plan.sampling.seed + static_cast<uint64_t>(i);
      seq.max_tokens = (*prompts)[p].max_tokens;
      seq.stop = plan.stop;
      seq.ignore_eos = plan.ignore_eos;
      seq.adapter = served->adapter;
      seq.adapter_scale = plan.lora_scale.value_or(served->adapter_scale);
      seq.deadline = std::chrono::steady_clock::now() + served->request_timeout;
      seq.request_id = request_id;
      if (n_choices > 1) seq.request_id += "/" + std::to_string(index);
      sched::SubmitFailure why = sched::SubmitFailure::kNone;
      auto handle = served->scheduler->submit(std::move(seq), exchange->sink(index), &why);
      if (!handle) {
        exchange->abandon();
        return send_submit_error(*out, why, handle.message(), served->name);
      }
      exchange->add_handle(std::move(*handle));
    }
  }
  // Weak: the stream keeps the callback, and the exchange keeps the stream.
  out->on_close([weak = std::weak_ptr<CompletionExchange>(exchange)] {
    if (auto ex = weak.lock()) ex->client_gone();
  });
  exchange->start();
}

void generate(const ModelRegistry& registry, const HttpRequest& request, ApiResult<CompletionPlan> parsed,
              const std::shared_ptr<ResponseStream>& out) {
  if (!parsed) return send_error(*out, parsed.error());
  auto plan = std::make_shared<CompletionPlan>(std::move(*parsed));
  with_model(registry, plan->model, out, [plan, request_id = request.request_id, out](const std::shared_ptr<ServedModel>& served) {
    generate_on(served, request_id, *plan, out);
  });
}

// One sequence per input; the exchange answers once every vector is in.
void embed_on(const std::shared_ptr<ServedModel>& served, const std::string& request_id, EmbeddingPlan& plan,
              const std::shared_ptr<ResponseStream>& out) {
  const auto& model = served->scheduler->model();
  if (!model.supports_embeddings()) {
    return send_error(*out, ApiError::invalid_request("model " + served->name + " runs on a backend that cannot "
                                                      "compute embeddings", "model"));
  }
  const int64_t width = model.config().n_embd;
  if (plan.dimensions && *plan.dimensions != width) {
    return send_error(*out, ApiError::invalid_request("model " + served->name + " gives " + std::to_string(width) +
                                                          "-dimensional embeddings; dimensions must be " +
                                                          std::to_string(width) + " or absent, got " +
                                                          std::to_string(*plan.dimensions),
                                                      "dimensions"));
  }
  std::vector<std::vector<int32_t>> prompts;
  for (size_t i = 0; i < plan.inputs.size(); ++i) {
    const std::string param = plan.inputs.size() == 1 ? "input" : "input[" + std::to_string(i) + "]";
    auto tokens = completion_prompt(*served, plan.inputs[i], param);
    if (!tokens) return send_error(*out, tokens.error());
    if (tokens->size() > model.n_ctx() - 1) {
      return send_error(*out, ApiError::invalid_request(
                                  "This model's maximum context length is " + std::to_string(model.n_ctx()) +
                                      " tokens, however " + param + " has " + std::to_string(tokens->size()) +
                                      " tokens. Please reduce the length of the input.",
                                  param, "context_length_exceeded"));
    }
    prompts.push_back(std::move(*tokens));
  }

  auto exchange = std::make_shared<EmbeddingExchange>(served->name, prompts.size(), plan.base64, out);
  for (size_t i = 0; i < prompts.size(); ++i) {
    sched::SequenceRequest seq;
    seq.prompt = std::move(prompts[i]);
    seq.embedding = true;
    seq.max_tokens = 0;
    seq.adapter = served->adapter;
    seq.adapter_scale = served->adapter_scale;
    seq.deadline = std::chrono::steady_clock::now() + served->request_timeout;
    seq.request_id = request_id;
    if (prompts.size() > 1) seq.request_id += "/" + std::to_string(i);
    sched::SubmitFailure why = sched::SubmitFailure::kNone;
    auto handle = served->scheduler->submit(std::move(seq), exchange->sink(i), &why);
    if (!handle) {
      exchange->abandon();
      return send_submit_error(*out, why, handle.message(), served->name);
    }
    exchange->add_handle(std::move(*handle));
  }
  out->on_close([weak = std::weak_ptr<EmbeddingExchange>(exchange)] {
    if (auto ex = weak.lock()) ex->client_gone();
  });
}

void embed(const ModelRegistry& registry, const HttpRequest& request, const std::shared_ptr<ResponseStream>& out) {
  auto parsed = parse_embeddings_request(request.body);
  if (!parsed) return send_error(*out, parsed.error());
  auto plan = std::make_shared<EmbeddingPlan>(std::move(*parsed));
  with_model(registry, plan->model, out, [plan, request_id = request.request_id, out](const std::shared_ptr<ServedModel>& served) {
    embed_on(served, request_id, *plan, out);
  });
}

}  // namespace

OpenAiService::OpenAiService(const ModelRegistry& models) : models_(models) {}

void OpenAiService::chat_completions(const HttpRequest& request, std::shared_ptr<ResponseStream> out) {
  generate(models_, request, parse_chat_request(request.body), out);
}

void OpenAiService::completions(const HttpRequest& request, std::shared_ptr<ResponseStream> out) {
  generate(models_, request, parse_completion_request(request.body), out);
}

void OpenAiService::embeddings(const HttpRequest& request, std::shared_ptr<ResponseStream> out) {
  embed(models_, request, out);
}

void OpenAiService::models(const HttpRequest& /*request*/, std::shared_ptr<ResponseStream> out) {
  out->send(200, "application/json", boost::json::serialize(model_list_json(models_.list(), models_.loadable_names())));
}

void OpenAiService::model(const std::string& id, const HttpRequest& /*request*/,
                          std::shared_ptr<ResponseStream> out) {
  if (const auto served = models_.find(id)) {
    return out->send(200, "application/json", boost::json::serialize(model_json(*served)));
  }
  const auto loadable = models_.loadable_names();
  if (std::find(loadable.begin(), loadable.end(), id) == loadable.end()) return send_error(*out, unknown_model(id));
  out->send(200, "application/json", boost::json::serialize(loadable_model_json(id)));
}

}  // namespace hearth::server::api
