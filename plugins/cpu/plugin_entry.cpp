// The CPU backend's ABI v1 entry point and function table: the only code of
// this plugin that the host calls. Every entry catches everything, so no C++
// exception ever crosses into the host.
#include <cstddef>
#include <cstdio>
#include <cstring>
#include <memory>
#include <new>
#include <string>
#include <thread>

#include "cpu_features.h"
#include "hearth/backend.h"
#include "llama_model.h"
#include "plugin_entry_support.h"

struct hearth_model {
  std::unique_ptr<hearth::cpu::LlamaModel> impl;
};

namespace {

using hearth::plugin_entry::make_error;

void log_info(const std::string& message) { hearth::plugin_entry::log(HEARTH_LOG_INFO, message); }

hearth_error* cpu_probe(hearth_probe_result* out) {
  try {
    if (!out || out->struct_size < sizeof(hearth_probe_result)) return make_error("probe: result struct too small");
    out->usable = 1;
    out->n_devices = 1;
    out->reason[0] = '\0';
    const std::string desc = std::to_string(std::thread::hardware_concurrency()) + " threads, " +
                             hearth::cpu::cpu_feature_summary();
    std::snprintf(out->description, sizeof(out->description), "%s", desc.c_str());
    return nullptr;
  } catch (const std::exception& e) {
    return make_error(std::string("probe: ") + e.what());
  } catch (...) {
    return make_error("probe: unknown error");
  }
}

hearth_error* cpu_model_create(const hearth_model_desc* desc, const hearth_model_options* options,
                               hearth_model** out) {
  try {
    if (!desc || !options || !out) return make_error("model_create: null argument");
    // A 1.0 host's description ends at n_tensors; LlamaModel reads the 1.1
    // fields only when struct_size covers them.
    if (desc->struct_size < offsetof(hearth_model_desc, n_embd_head) ||
        options->struct_size < sizeof(hearth_model_options)) {
      return make_error("model_create: descriptor struct too small for ABI 1.0");
    }
    auto model = hearth::cpu::LlamaModel::create(*desc, *options);
    if (!model) return make_error(model.message());
    *out = new hearth_model{std::move(model.value())};
    log_info("created " + std::string(desc->architecture) + " model: " + std::to_string(desc->n_layer) + " layers, " +
             std::to_string(options->n_kv_blocks) + " KV blocks of " + std::to_string(options->kv_block_tokens) +
             " tokens");
    return nullptr;
  } catch (const std::bad_alloc&) {
    return make_error("model_create: out of memory");
  } catch (const std::exception& e) {
    return make_error(std::string("model_create: ") + e.what());
  } catch (...) {
    return make_error("model_create: unknown error");
  }
}

void cpu_model_destroy(hearth_model* model) { delete model; }

hearth_error* cpu_model_forward(hearth_model* model, const hearth_batch* batch) {
  try {
    if (!model || !batch) return make_error("forward: null argument");
    // A 1.0 host's batch ends at logits (LlamaModel::wanted_embeddings checks the rest).
    if (batch->struct_size < offsetof(hearth_batch, want_embeddings)) return make_error("forward: batch struct too small");
    hearth::Status s = model->impl->forward(*batch);
    return s ? nullptr : make_error("forward: " + s.message());
  } catch (const std::exception& e) {
    return make_error(std::string("forward: ") + e.what());
  } catch (...) {
    return make_error("forward: unknown error");
  }
}

hearth_error* cpu_model_stats(hearth_model* model, hearth_model_stats* out) {
  try {
    if (!model || !out || out->struct_size < sizeof(hearth_model_stats)) return make_error("stats: bad argument");
    *out = model->impl->stats();
    return nullptr;
  } catch (...) {
    return make_error("stats: unknown error");
  }
}

// hearth_adapter is never defined: the handle is the LoraAdapter's address,
// which the model checks against its live adapters before using it.
hearth_error* cpu_adapter_create(hearth_model* model, const hearth_adapter_desc* desc, hearth_adapter** out) {
  try {
    if (!model || !desc || !out) return make_error("adapter_create: null argument");
    if (desc->struct_size < sizeof(hearth_adapter_desc)) return make_error("adapter_create: descriptor struct too small");
    auto adapter = model->impl->create_adapter(*desc);
    if (!adapter) return make_error(adapter.message());
    *out = reinterpret_cast<hearth_adapter*>(adapter.value());
    log_info("created adapter '" + (*adapter)->name + "' on " + std::to_string((*adapter)->pairs.size()) + " tensors");
    return nullptr;
  } catch (const std::bad_alloc&) {
    return make_error("adapter_create: out of memory");
  } catch (const std::exception& e) {
    return make_error(std::string("adapter_create: ") + e.what());
  } catch (...) {
    return make_error("adapter_create: unknown error");
  }
}

void cpu_adapter_destroy(hearth_model* model, hearth_adapter* adapter) {
  if (model && adapter) model->impl->destroy_adapter(adapter);
}

const hearth_backend_api kApi = {
    sizeof(hearth_backend_api),
    HEARTH_BACKEND_ABI_MAJOR,
    HEARTH_BACKEND_ABI_MINOR,
    "cpu",
    HEARTH_PLUGIN_VERSION,
    hearth::plugin_entry::error_message,
    hearth::plugin_entry::error_free,
    cpu_probe,
    cpu_model_create,
    cpu_model_destroy,
    cpu_model_forward,
    cpu_model_stats,
    cpu_adapter_create,
    cpu_adapter_destroy,
};

}  // namespace

extern "C" HEARTH_BACKEND_EXPORT int hearth_backend_init(const hearth_host_api* host, const hearth_backend_api** out,
                                                         char* error_buf, size_t error_buf_size) {
  return hearth::plugin_entry::init(host, &kApi, out, error_buf, error_buf_size);
}
