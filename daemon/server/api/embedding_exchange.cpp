#include "server/api/embedding_exchange.h"

#include <boost/json/array.hpp>
#include <boost/json/object.hpp>
#include <boost/json/serialize.hpp>

#include <bit>
#include <cstring>
#include <utility>

#include "server/api/api_error.h"

namespace hearth::server::api {

std::string base64_floats(const std::vector<float>& values) {
  static_assert(std::endian::native == std::endian::little, "the wire format is little-endian float32");
  static constexpr char kAlphabet[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
  const auto* bytes = reinterpret_cast<const unsigned char*>(values.data());
  const size_t n = values.size() * sizeof(float);
  std::string out;
  out.reserve((n + 2) / 3 * 4);
  size_t i = 0;
  for (; i + 3 <= n; i += 3) {
    const uint32_t v = (bytes[i] << 16) | (bytes[i + 1] << 8) | bytes[i + 2];
    out += kAlphabet[v >> 18];
    out += kAlphabet[(v >> 12) & 63];
    out += kAlphabet[(v >> 6) & 63];
    out += kAlphabet[v & 63];
  }
  if (i < n) {
    const bool two = i + 1 < n;
    const uint32_t v = (bytes[i] << 16) | (two ? bytes[i + 1] << 8 : 0);
    out += kAlphabet[v >> 18];
    out += kAlphabet[(v >> 12) & 63];
    out += two ? kAlphabet[(v >> 6) & 63] : '=';
    out += '=';
  }
  return out;
}

EmbeddingExchange::EmbeddingExchange(std::string model, size_t n_inputs, bool base64,
                                     std::shared_ptr<ResponseStream> out)
    : model_(std::move(model)), base64_(base64), out_(std::move(out)), vectors_(n_inputs), remaining_(n_inputs) {}

sched::EventSink EmbeddingExchange::sink(size_t index) {
  return [self = shared_from_this(), index](const sched::SequenceEvent& ev) { self->on_event(index, ev); };
}

void EmbeddingExchange::add_handle(std::shared_ptr<sched::SequenceHandle> handle) {
  std::lock_guard<std::mutex> lock(mu_);
  handles_.push_back(std::move(handle));
}

void EmbeddingExchange::cancel_all_locked() {
  for (auto& h : handles_) h->cancel();
}

void EmbeddingExchange::abandon() {
  std::lock_guard<std::mutex> lock(mu_);
  finished_ = true;
  cancel_all_locked();
}

void EmbeddingExchange::client_gone() {
  std::lock_guard<std::mutex> lock(mu_);
  finished_ = true;
  cancel_all_locked();
}

void EmbeddingExchange::on_event(size_t index, const sched::SequenceEvent& ev) {
  std::lock_guard<std::mutex> lock(mu_);
  if (finished_) return;
  if (ev.kind == sched::SequenceEvent::Kind::kError ||
      (ev.kind == sched::SequenceEvent::Kind::kFinished && ev.embedding.empty())) {
    // An input that failed (or was cancelled by the server) fails the whole
    // request: a partial list would misnumber the client's inputs.
    finished_ = true;
    cancel_all_locked();
    const std::string why = ev.kind == sched::SequenceEvent::Kind::kError ? ev.error : "the request was cancelled";
    send_error(*out_, ApiError::internal("embedding input " + std::to_string(index) + " failed: " + why));
    return;
  }
  if (ev.kind != sched::SequenceEvent::Kind::kFinished) return;
  vectors_[index] = ev.embedding;
  prompt_tokens_ += ev.n_prompt_tokens;
  if (--remaining_ > 0) return;

  finished_ = true;
  boost::json::array data;
  for (size_t i = 0; i < vectors_.size(); ++i) {
    boost::json::object item;
    item["object"] = "embedding";
    item["index"] = static_cast<int64_t>(i);
    if (base64_) {
      item["embedding"] = base64_floats(vectors_[i]);
    } else {
      boost::json::array values;
      values.reserve(vectors_[i].size());
      for (float v : vectors_[i]) values.emplace_back(static_cast<double>(v));
      item["embedding"] = std::move(values);
    }
    data.emplace_back(std::move(item));
  }
  boost::json::object body;
  body["object"] = "list";
  body["data"] = std::move(data);
  body["model"] = model_;
  body["usage"] = boost::json::object{{"prompt_tokens", prompt_tokens_}, {"total_tokens", prompt_tokens_}};
  out_->send(200, "application/json", boost::json::serialize(body));
}

}  // namespace hearth::server::api
