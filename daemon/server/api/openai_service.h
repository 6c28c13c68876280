// OpenAiService: the OpenAI-compatible REST endpoints, between the network
// layer's HttpRequest / ResponseStream and the models' schedulers:
//   POST /v1/chat/completions → chat_completions()
//   POST /v1/completions      → completions()
//   POST /v1/embeddings       → embeddings()  (mean-pooled, L2-normalised final hidden states)
//   GET  /v1/models           → models()
//   GET  /v1/models/{id}      → model()
// A generation request is parsed and validated (openai_request.h), turned
// into prompt tokens, submitted as n sequences to the model's scheduler, and
// answered through `out`: one JSON body when every sequence has finished, or
// a Server-Sent Events stream of chunks (openai_response.h) as tokens come.
//
// Prompt tokens. Chat: the messages are rendered with the model's chat
// template and the text is tokenized with parse_special (the template writes
// special tokens such as <|im_start|> as text) and without add_special;
// templates usually write bos_token themselves, so BOS is prepended only when
// the vocabulary asks for one and the rendered text does not already start
// with the BOS text. Completions: text prompts are tokenized like
// `hearthctl generate` does (add_special, no parse_special: a client's text
// never becomes control tokens); token-id prompts are used as sent.
// max_tokens absent means "up to the end of the context"; prompt + max_tokens
// beyond the context is a 400, as in OpenAI.
//
// Errors go out in OpenAI's error shape: 400 for bad requests, 404 for an
// unknown model, 429 with Retry-After when the model's queue is full, 503
// while shutting down, 500 when generation fails (in a stream, after the
// headers went out: an error event, then the stream ends). A client that
// disconnects cancels all of its sequences.
//
// Thread-safety: the methods may be called from any number of network
// threads at once and return without waiting for generation (tokenizing and
// template rendering do run on the caller's thread). The registry must
// outlive the service. Scheduler events reach the response on the
// scheduler's thread.
#pragma once

#include <memory>
#include <string>

#include "server/api/served_model.h"
#include "server/net/http_types.h"

namespace hearth::server::api {

class OpenAiService {
 public:
  explicit OpenAiService(const ModelRegistry& models);

  void chat_completions(const HttpRequest& request, std::shared_ptr<ResponseStream> out);
  void completions(const HttpRequest& request, std::shared_ptr<ResponseStream> out);
  void embeddings(const HttpRequest& request, std::shared_ptr<ResponseStream> out);
  void models(const HttpRequest& request, std::shared_ptr<ResponseStream> out);
  void model(const std::string& id, const HttpRequest& request, std::shared_ptr<ResponseStream> out);

 private:
  const ModelRegistry& models_;
};

}  // namespace hearth::server::api
