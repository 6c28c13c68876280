// The GPU backends' ABI entry point and function table, built twice from this
// one source: libhearth_backend_cuda.so (nvcc) and libhearth_backend_hip.so
// (hipcc); HEARTH_GPU_VENDOR names which. Every entry catches everything, so
// no C++ exception crosses into the host. Models run on device 0.
#include <cstddef>
#include <cstdio>
#include <memory>
#include <new>
#include <string>

#include "gpu_model.h"
#include "gpu_shim.h"
#include "hearth/backend.h"
#include "plugin_entry_support.h"

struct hearth_model {
  std::unique_ptr<hearth::gpu::GpuModel> impl;
};

namespace {

using hearth::plugin_entry::make_error;

// Why no device can be used, in words an admin can act on.
std::string no_device_reason(hipError_t err) {
#if defined(__HIPCC__)
  if (err == hipErrorNoDevice) return "no AMD GPU found (the ROCm runtime is installed)";
  if (err == hipErrorInsufficientDriver)
    return "no usable AMD GPU driver (amdgpu/ROCm kernel driver missing or too old)";
#else
  if (err == hipErrorNoDevice) return "no NVIDIA GPU found (the driver is installed)";
  if (err == hipErrorInsufficientDriver)
    return "no NVIDIA driver (libcuda missing or older than this plugin's CUDA runtime)";
#endif
  return std::string("cannot count GPUs: ") + hipGetErrorString(err);
}

hearth_error* gpu_probe(hearth_probe_result* out) {
  try {
    if (!out || out->struct_size < sizeof(hearth_probe_result)) return make_error("probe: result struct too small");
    out->usable = 0;
    out->n_devices = 0;
    out->reason[0] = '\0';
    out->description[0] = '\0';
    int count = 0;
    const hipError_t err = hipGetDeviceCount(&count);
    if (err != hipSuccess || count == 0) {
      (void)hipGetLastError();
      const std::string reason = err != hipSuccess ? no_device_reason(err) : no_device_reason(hipErrorNoDevice);
      std::snprintf(out->reason, sizeof(out->reason), "%s", reason.c_str());
      return nullptr;
    }
    hipDeviceProp_t prop{};
    if (hipGetDeviceProperties(&prop, 0) != hipSuccess) {
      (void)hipGetLastError();
      std::snprintf(out->reason, sizeof(out->reason), "cannot read the properties of GPU 0");
      return nullptr;
    }
    out->usable = 1;
    out->n_devices = static_cast<uint32_t>(count);
    std::snprintf(out->description, sizeof(out->description),
                  "%d x %.160s, %.1f GiB, compute %d.%d (models run on GPU 0)", count, prop.name,
                  static_cast<double>(prop.totalGlobalMem) / (1u << 30), prop.major, prop.minor);
    return nullptr;
  } catch (const std::exception& e) {
    return make_error(std::string("probe: ") + e.what());
  } catch (...) {
    return make_error("probe: unknown error");
  }
}

hearth_error* gpu_model_create(const hearth_model_desc* desc, const hearth_model_options* options, hearth_model** out) {
  try {
    if (!desc || !options || !out) return make_error("model_create: null argument");
    if (desc->struct_size < offsetof(hearth_model_desc, n_embd_head) ||
        options->struct_size < sizeof(hearth_model_options)) {
      return make_error("model_create: descriptor struct too small for ABI 1.0");
    }
    hearth_probe_result probe{};
    probe.struct_size = sizeof(probe);
    if (hearth_error* e = gpu_probe(&probe)) return e;
    if (!probe.usable) return make_error(std::string("model_create: ") + probe.reason);
    auto model = hearth::gpu::GpuModel::create(*desc, *options, 0);
    if (!model) return make_error(model.message());
    const hearth_model_stats st = (*model)->stats();
    *out = new hearth_model{std::move(model.value())};
    hearth::plugin_entry::log(HEARTH_LOG_INFO, "created " + std::string(desc->architecture) + " model on " +
                                                   probe.description + ": " + std::to_string(st.weight_bytes >> 20) +
                                                   " MiB of weights, " + std::to_string(st.kv_bytes >> 20) +
                                                   " MiB of KV cache (" + std::to_string(options->n_kv_blocks) +
                                                   " blocks of " + std::to_string(options->kv_block_tokens) +
                                                   " tokens)");
    return nullptr;
  } catch (const std::bad_alloc&) {
    return make_error("model_create: out of memory");
  } catch (const std::exception& e) {
    return make_error(std::string("model_create: ") + e.what());
  } catch (...) {
    return make_error("model_create: unknown error");
  }
}

void gpu_model_destroy(hearth_model* model) { delete model; }

hearth_error* gpu_model_forward(hearth_model* model, const hearth_batch* batch) {
  try {
    if (!model || !batch) return make_error("forward: null argument");
    if (batch->struct_size < offsetof(hearth_batch, want_embeddings))
      return make_error("forward: batch struct too small");
    hearth::Status s = model->impl->forward(*batch);
    return s ? nullptr : make_error("forward: " + s.message());
  } catch (const std::exception& e) {
    return make_error(std::string("forward: ") + e.what());
  } catch (...) {
    return make_error("forward: unknown error");
  }
}

hearth_error* gpu_model_stats(hearth_model* model, hearth_model_stats* out) {
  try {
    if (!model || !out || out->struct_size < sizeof(hearth_model_stats)) return make_error("stats: bad argument");
    *out = model->impl->stats();
    return nullptr;
  } catch (...) {
    return make_error("stats: unknown error");
  }
}

hearth_error* gpu_adapter_create(hearth_model* model, const hearth_adapter_desc* desc, hearth_adapter** out) {
  return make_error("adapter_create: LoRA adapters are not supported by the " HEARTH_GPU_VENDOR
                    " backend yet; serve adapted models on backend \"cpu\"");
}

void gpu_adapter_destroy(hearth_model*, hearth_adapter*) {}

const hearth_backend_api kApi = {
    sizeof(hearth_backend_api),
    HEARTH_BACKEND_ABI_MAJOR,
    HEARTH_BACKEND_ABI_MINOR,
    HEARTH_GPU_VENDOR,
    HEARTH_PLUGIN_VERSION,
    hearth::plugin_entry::error_message,
    hearth::plugin_entry::error_free,
    gpu_probe,
    gpu_model_create,
    gpu_model_destroy,
    gpu_model_forward,
    gpu_model_stats,
    gpu_adapter_create,
    gpu_adapter_destroy,
};

}  // namespace

extern "C" HEARTH_BACKEND_EXPORT int hearth_backend_init(const hearth_host_api* host, const hearth_backend_api** out,
                                                         char* error_buf, size_t error_buf_size) {
  return hearth::plugin_entry::init(host, &kApi, out, error_buf, error_buf_size);
}
