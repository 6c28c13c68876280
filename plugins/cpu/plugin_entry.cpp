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

struct hearth_error {
  std::string message;
};

struct hearth_model {
  std::unique_ptr<hearth::cpu::LlamaModel> impl;
};

namespace {

const hearth_host_api* g_host = nullptr;

hearth_error* make_error(std::string message) {
  try {
    return new hearth_error{std::move(message)};
  } catch (...) {
    // Out of memory while reporting: a static error the host must not free
    // would break the contract, so fall back to the smallest allocation possible.
    return new (std::nothrow) hearth_error{};
  }
}

void log_info(const std::string& message) {
  if (g_host && g_host->log) g_host->log(g_host->log_user, HEARTH_LOG_INFO, message.c_str());
}

const char* cpu_error_message(const hearth_error* e) { return e ? e->message.c_str() : ""; }
void cpu_error_free(hearth_error* e) { delete e; }

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
    cpu_error_message,
    cpu_error_free,
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
  auto fail = [&](const char* msg) {
    if (error_buf && error_buf_size) std::snprintf(error_buf, error_buf_size, "%s", msg);
    return 1;
  };
  if (!out) return fail("null output pointer");
  if (!host || host->struct_size < sizeof(hearth_host_api)) return fail("host API struct missing or too small");
  if (host->abi_major != HEARTH_BACKEND_ABI_MAJOR) return fail("host ABI major version differs from the plugin's");
  g_host = host;
  *out = &kApi;
  return 0;
}
