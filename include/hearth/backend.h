/*
 * Hearth backend plugin ABI, version 1.2.
 *
 * A backend plugin is a shared library (libhearth_backend_<name>.so) that runs
 * models: the host hands it a model's hyperparameters and tensors (pointers
 * into the host's copy of the GGUF file), and asks it for logits of batches of
 * tokens from many sequences. The host owns tokenizer, sampler, scheduler and
 * the KV block tables; the plugin owns its device memory and the KV block pool.
 *
 * Rules at this boundary (C99, no C++ types, no exceptions):
 *  - Exactly one exported symbol: hearth_backend_init (see the bottom).
 *  - Every struct passed across starts with `struct_size`, set by whoever fills
 *    it, so either side can tell which fields the other knows. Fields are only
 *    ever appended; a reader ignores fields past the struct_size it was given.
 *  - Compatibility: the host loads a plugin when the major versions are equal
 *    and the host's minor >= the plugin's minor.
 *  - Errors: calls that can fail return a hearth_error* (NULL = success). The
 *    error is allocated by the plugin and freed by the host with
 *    api->error_free; its text comes from api->error_message.
 *  - Ownership: whoever allocates frees. Pointers passed into a call are only
 *    borrowed for that call unless stated otherwise.
 *  - Logging goes through the host's callback, never to stdout/stderr.
 */
#ifndef HEARTH_BACKEND_H_
#define HEARTH_BACKEND_H_

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#define HEARTH_BACKEND_ABI_MAJOR 1
/* 1.1: hidden states (hearth_batch.want_embeddings), architecture extras in
 *      hearth_model_desc.
 * 1.2: LoRA adapters: hearth_backend_api.adapter_create/adapter_destroy and
 *      per-sequence hearth_batch.seq_adapters/seq_adapter_scales;
 *      hearth_model_desc.tensors_released (the host frees weights the plugin copied). */
#define HEARTH_BACKEND_ABI_MINOR 2

#if defined(__GNUC__)
#define HEARTH_BACKEND_EXPORT __attribute__((visibility("default")))
#else
#define HEARTH_BACKEND_EXPORT
#endif

typedef struct hearth_error hearth_error; /* opaque, plugin-owned */
typedef struct hearth_model hearth_model; /* opaque, one loaded model on the plugin */
typedef struct hearth_adapter hearth_adapter; /* opaque, one LoRA adapter of one model (ABI 1.2) */

typedef enum hearth_log_level {
  HEARTH_LOG_DEBUG = 0,
  HEARTH_LOG_INFO = 1,
  HEARTH_LOG_WARNING = 2,
  HEARTH_LOG_ERROR = 3
} hearth_log_level;

/* What the host offers the plugin. Valid from init until the library is
 * unloaded. `log` may be called from any thread. */
typedef struct hearth_host_api {
  size_t struct_size;
  uint32_t abi_major;
  uint32_t abi_minor;
  void* log_user;
  void (*log)(void* log_user, int level, const char* message);
} hearth_host_api;

/* Result of probe(): is this backend usable on this machine? */
typedef struct hearth_probe_result {
  size_t struct_size;
  int32_t usable;        /* 1: models can be created; 0: see reason */
  uint32_t n_devices;    /* devices this backend can use (CPU: 1) */
  char reason[256];      /* why not usable ("no CUDA driver", ...), NUL-terminated */
  char description[256]; /* what was found ("2 cores, AVX-512", "NVIDIA H100 80GB"), NUL-terminated */
} hearth_probe_result;

/* Rotary embedding layouts (how llama.cpp names them). */
typedef enum hearth_rope_type {
  HEARTH_ROPE_NORMAL = 0, /* rotate adjacent pairs (x[2i], x[2i+1]): llama */
  HEARTH_ROPE_NEOX = 2    /* rotate halves (x[i], x[i+n_rot/2]): gpt-neox, qwen2, phi3 */
} hearth_rope_type;

/* One tensor of the model, as stored in the GGUF file. `data` points into
 * host memory that stays valid until model_destroy returns; the plugin may
 * read it at any time in between (a CPU plugin computes from it directly),
 * unless it released the tensor (hearth_model_desc.tensors_released). */
typedef struct hearth_tensor {
  size_t struct_size;
  const char* name;   /* GGUF tensor name, e.g. "blk.0.attn_q.weight" */
  uint32_t type;      /* ggml type id (GGUF numbering): 0 f32, 1 f16, 2 q4_0, ... */
  uint32_t n_dims;
  uint64_t ne[4];     /* ne[0] is the contiguous dimension; unused dims are 1 */
  const void* data;
  uint64_t n_bytes;
} hearth_tensor;

/* The model to create: architecture hyperparameters from GGUF metadata and
 * every tensor. Borrowed for the duration of model_create, except the tensor
 * data (see hearth_tensor). */
typedef struct hearth_model_desc {
  size_t struct_size;
  const char* architecture; /* general.architecture: "llama", ... */
  uint32_t n_vocab;
  uint32_t n_ctx_train;
  uint32_t n_embd;
  uint32_t n_layer;
  uint32_t n_head;
  uint32_t n_head_kv;
  uint32_t n_ff;
  uint32_t n_rot;           /* rotary dimensions per head */
  uint32_t rope_type;       /* hearth_rope_type */
  float rope_freq_base;
  float rope_freq_scale;    /* 1 / linear scaling factor */
  float norm_rms_eps;
  const hearth_tensor* tensors;
  size_t n_tensors;
  /* Since ABI 1.1: what architectures beyond plain Llama need. A plugin reads
   * these only when desc->struct_size covers them; a 1.0 host's shorter
   * struct means the defaults given here. */
  uint32_t n_embd_head;      /* size of one Q/K/V head (attention.key_length); 0: n_embd / n_head */
  uint32_t n_swa;            /* sliding-window attention: a token sees the n_swa latest positions; 0: all */
  uint32_t n_ctx_orig;       /* rope.scaling.original_context_length (0: n_ctx_train) */
  uint32_t n_ctx_seq;        /* context one sequence may use on this host (0: n_ctx_train); picks long/short rope factors */
  float norm_eps;            /* LayerNorm epsilon (attention.layer_norm_epsilon) */
  float rope_attn_factor;    /* rope.scaling.attn_factor: cos/sin are multiplied by it (0 or 1: none) */
  float alibi_max_bias;      /* attention.max_alibi_bias: ALiBi position bias when > 0 (MPT) */
  float clamp_kqv;           /* attention.clamp_kqv: Q, K, V clamped to [-c, c] when > 0 (MPT) */
  /* Since ABI 1.2: [n_tensors] flags, all 0 on entry, or NULL. During
   * model_create the plugin sets entry i to 1 when it keeps its own copy of
   * tensor i (a repacked or device copy) and will never read tensors[i].data
   * again; the host may then free that memory, so weights are not held twice.
   * The only field of the description the plugin writes. */
  uint8_t* tensors_released;
} hearth_model_desc;

/* How to run the model. */
typedef struct hearth_model_options {
  size_t struct_size;
  uint32_t n_threads;      /* CPU threads for compute (0 = plugin default) */
  uint32_t kv_block_tokens;/* tokens per KV block */
  uint32_t n_kv_blocks;    /* blocks in the pool; sequences share it through block tables */
  uint32_t max_batch_tokens; /* most entries one forward() call may carry */
} hearth_model_options;

/* Memory a created model uses, for status and budgets. */
typedef struct hearth_model_stats {
  size_t struct_size;
  uint64_t weight_bytes;   /* weights held by the plugin beyond the host's copy (repacks, device copies) */
  uint64_t kv_bytes;       /* the KV block pool */
  uint64_t scratch_bytes;  /* activations and other working memory */
} hearth_model_stats;

/* One forward step over a batch of entries from any number of sequences.
 * Entry i places token[i] at position pos[i] of sequence seq[i]: its K and V
 * are written into slot (pos % kv_block_tokens) of block
 * block_table[seq][pos / kv_block_tokens], and it attends to positions
 * 0..pos of the same sequence (earlier entries of the same batch included).
 * Entries of one sequence appear in increasing position order.
 * For every entry with want_logits[i] != 0, one row of n_vocab floats is
 * written to logits, in entry order. All arrays are borrowed for the call. */
typedef struct hearth_batch {
  size_t struct_size;
  uint32_t n_entries;
  const int32_t* tokens;       /* [n_entries] */
  const int32_t* positions;    /* [n_entries] */
  const int32_t* seq_ids;      /* [n_entries], each < n_seqs */
  const uint8_t* want_logits;  /* [n_entries] */
  uint32_t n_seqs;
  const int32_t* const* block_tables; /* [n_seqs] arrays of block indices */
  const uint32_t* block_table_lens;   /* [n_seqs] */
  float* logits;               /* [rows wanted, n_vocab], written by the plugin */
  /* Since ABI 1.1 (a 1.0 plugin never reads these; the host checks the
   * plugin's minor before asking). For every entry with want_embeddings[i] != 0,
   * one row of n_embd floats is written to embeddings, in entry order: the
   * entry's final hidden state after the output norm (what embedding endpoints
   * pool). want_embeddings NULL means none. */
  const uint8_t* want_embeddings; /* [n_entries] or NULL */
  float* embeddings;              /* [rows wanted, n_embd], written by the plugin */
  /* Since ABI 1.2 (the host sets them only for a plugin of minor >= 2).
   * seq_adapters[s] is the LoRA adapter applied to every entry of sequence s,
   * or NULL for the bare model; each must have been created on this model by
   * adapter_create and not destroyed. seq_adapter_scales[s] multiplies that
   * adapter's alpha / rank (finite; NULL array: 1 for every sequence).
   * seq_adapters NULL: no sequence has an adapter. Sequences with different
   * adapters, or none, share one batch. */
  const hearth_adapter* const* seq_adapters; /* [n_seqs] or NULL */
  const float* seq_adapter_scales;           /* [n_seqs] or NULL */
} hearth_batch;

/* One adapted weight matrix of a LoRA adapter (ABI 1.2): the base weight W
 * named base_name (n_in = W.ne[0] columns, n_out = W.ne[1] rows) becomes
 * W + scale * (alpha / rank) * B A, i.e. y = W x + scale * (alpha / rank) * B (A x).
 * a: ne = [n_in, rank], b: ne = [rank, n_out] (llama.cpp's lora_a / lora_b),
 * f32 or f16. */
typedef struct hearth_adapter_pair {
  size_t struct_size;
  const char* base_name; /* e.g. "blk.0.attn_q.weight" */
  hearth_tensor a;
  hearth_tensor b;
  uint32_t rank;
  float alpha;
} hearth_adapter_pair;

/* A LoRA adapter to create on a model. Everything, tensor data included, is
 * borrowed for the duration of adapter_create only: the plugin copies what it
 * keeps. */
typedef struct hearth_adapter_desc {
  size_t struct_size;
  const char* name; /* for messages */
  const hearth_adapter_pair* pairs;
  size_t n_pairs;
} hearth_adapter_desc;

/* The plugin's function table. Thread-safety: probe and model_create may be
 * called from any thread; calls on one hearth_model are serialised by the
 * host (a model is driven by one scheduler thread); different models may be
 * used concurrently. */
typedef struct hearth_backend_api {
  size_t struct_size;
  uint32_t abi_major; /* HEARTH_BACKEND_ABI_MAJOR the plugin was built with */
  uint32_t abi_minor;
  const char* name;    /* "cpu", "cuda", "hip" */
  const char* version; /* the plugin's own version string */

  const char* (*error_message)(const hearth_error* error);
  void (*error_free)(hearth_error* error);

  /* Fills *out (whose struct_size the host set). Never fails for "no device":
   * that is usable = 0 with a reason. */
  hearth_error* (*probe)(hearth_probe_result* out);

  /* Creates a model; on success *out is owned by the host, released with model_destroy. */
  hearth_error* (*model_create)(const hearth_model_desc* desc, const hearth_model_options* options,
                                hearth_model** out);
  void (*model_destroy)(hearth_model* model);
  hearth_error* (*model_forward)(hearth_model* model, const hearth_batch* batch);
  hearth_error* (*model_stats)(hearth_model* model, hearth_model_stats* out);

  /* Since ABI 1.2 (present when abi_minor >= 2 and struct_size covers them).
   * adapter_create validates the adapter against the model (every base
   * tensor exists and is a matrix the plugin can adapt, shapes and ranks
   * agree) and on success sets *out, owned by the host and released with
   * adapter_destroy before model_destroy. Unlike the other calls on a model,
   * both may run on any thread concurrently with model_forward on the same
   * model, except that an adapter must not be destroyed while a forward whose
   * batch names it is running. */
  hearth_error* (*adapter_create)(hearth_model* model, const hearth_adapter_desc* desc, hearth_adapter** out);
  void (*adapter_destroy)(hearth_model* model, hearth_adapter* adapter);
} hearth_backend_api;

/* The one entry point. The host passes its API; on success the plugin sets
 * *out to a table that stays valid until the library is unloaded and returns
 * 0. On failure it returns non-zero and writes a NUL-terminated reason into
 * error_buf (size error_buf_size). */
typedef int (*hearth_backend_init_fn)(const hearth_host_api* host, const hearth_backend_api** out,
                                      char* error_buf, size_t error_buf_size);
#define HEARTH_BACKEND_INIT_SYMBOL "hearth_backend_init"

HEARTH_BACKEND_EXPORT int hearth_backend_init(const hearth_host_api* host, const hearth_backend_api** out,
                                              char* error_buf, size_t error_buf_size);

#ifdef __cplusplus
}
#endif

#endif /* HEARTH_BACKEND_H_ */
