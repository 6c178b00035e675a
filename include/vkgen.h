/* vkgen: generative neural networks on any Vulkan GPU.
 *
 * The public C API. Every symbol starts with vkg_ / VKG_. Functions that can fail return a
 * vkg_status; vkg_last_error() and vkg_last_hint() then describe what went wrong and what to try.
 *
 * Work is expressed as a graph: tensors are created by ops on a vkg_graph, the graph is compiled once
 * (shapes checked, memory planned, command buffer recorded) and then run any number of times, each
 * run being one queue submission. Per-run values (seed, step, learning rate, temperature) are
 * "scalars": small slots in a host-visible buffer that the recorded shaders read at run time.
 *
 * Graph building never fails loudly: an op given a bad shape records the first error in the graph
 * and returns VKG_NONE; ops given VKG_NONE return VKG_NONE; vkg_graph_compile() reports the error. */
#ifndef VKGEN_H
#define VKGEN_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/* The version of these headers. vkg_version() gives the library's, which may be newer. */
#define VKG_VERSION_MAJOR 0
#define VKG_VERSION_MINOR 1
#define VKG_VERSION_PATCH 0
#define VKG_VERSION_STRING "0.1.0"
/* One number that orders versions: MAJOR * 10000 + MINOR * 100 + PATCH. */
#define VKG_VERSION (VKG_VERSION_MAJOR * 10000 + VKG_VERSION_MINOR * 100 + VKG_VERSION_PATCH)

/* The shared library exports exactly what this header declares (it is built with hidden visibility
 * by default); a program built with -fvisibility=hidden still sees these as external functions. */
#if defined(__GNUC__) && __GNUC__ >= 4
#pragma GCC visibility push(default)
#endif

/* The library's version, "MAJOR.MINOR.PATCH" (VKG_VERSION_STRING of the headers it was built with). */
const char *vkg_version(void);

#define VKG_MAX_DIMS 6

typedef enum vkg_status {
  VKG_OK = 0,
  VKG_ERR_VULKAN,      /* a Vulkan call failed (message names the call and VkResult) */
  VKG_ERR_NO_DEVICE,   /* no Vulkan driver or no matching device */
  VKG_ERR_IO,          /* a file could not be read or written */
  VKG_ERR_SHAPE,       /* tensor shapes do not fit an op */
  VKG_ERR_OOM,         /* out of host or device memory */
  VKG_ERR_ARG,         /* a bad argument */
  VKG_ERR_UNSUPPORTED, /* the device lacks a feature */
  VKG_ERR_FORMAT,      /* a file is corrupt or of the wrong kind */
  VKG_ERR_DEVICE_LOST, /* the GPU was lost */
  VKG_ERR_NUMERIC,     /* a value became NaN or infinite (e.g. a diverging loss) */
} vkg_status;

const char *vkg_status_str(vkg_status s);
const char *vkg_last_error(void); /* message of the last failure on this thread ("" if none) */
const char *vkg_last_hint(void);  /* what to try next ("" if nothing useful) */

typedef enum vkg_dtype { VKG_F32 = 0, VKG_F16 = 1, VKG_I32 = 2 } vkg_dtype;
const char *vkg_dtype_str(vkg_dtype t);
size_t vkg_dtype_size(vkg_dtype t);

/* ---- devices and context ---- */

struct vkg_device_info {
  int index;
  char name[256];
  const char *type; /* "discrete", "integrated", "virtual", "cpu", "other" */
  uint32_t api_version, driver_version, vendor_id, device_id;
  uint32_t subgroup_size;
  uint32_t shared_memory; /* bytes of shared memory per workgroup */
  uint64_t device_memory; /* bytes in the largest device-local heap */
  int fp16;               /* shaderFloat16 + 16-bit storage buffers */
  int int8;               /* shaderInt8 + 8-bit storage buffers */
  int coopmat;            /* VK_KHR_cooperative_matrix or VK_NV_cooperative_matrix */
  int timestamps;         /* compute queue supports timestamp queries */
};

/* Lists the Vulkan devices (no context needed). *count gets the number found. */
vkg_status vkg_enumerate_devices(struct vkg_device_info *out, int max, int *count);

typedef struct vkg_ctx vkg_ctx;

struct vkg_ctx_desc {
  const char *device;         /* index or name substring; NULL: $VKGEN_DEVICE, else the best device */
  int validate;               /* 1 on, 0 off, -1: from $VKGEN_VALIDATE */
  const char *pipeline_cache; /* file path; NULL: $VKGEN_PIPELINE_CACHE or ~/.cache/vkgen/; "": none */
  const char *watch_shaders;  /* a directory of .comp/.glsl sources to hot-reload from (NULL: off);
                                 see vkg_ctx_poll_shaders */
};
struct vkg_ctx_desc vkg_ctx_desc_default(void);
vkg_status vkg_ctx_create(const struct vkg_ctx_desc *desc, vkg_ctx **out);
void vkg_ctx_destroy(vkg_ctx *ctx);
const struct vkg_device_info *vkg_ctx_device(const vkg_ctx *ctx);
/* Number of validation-layer messages (warnings and errors) seen so far; 0 when validation is off. */
uint32_t vkg_ctx_validation_messages(const vkg_ctx *ctx);
int vkg_ctx_validation_enabled(const vkg_ctx *ctx);
/* Allow fp16 storage tensors (default: on when the device supports them). */
int vkg_ctx_has_fp16(const vkg_ctx *ctx);
/* Shader hot reload, when the context watches a directory (vkg_ctx_desc.watch_shaders): shaders are
 * compiled from that directory's sources on first use, and after an edit of a .comp (or of a .glsl it
 * includes) this recompiles it, swaps the pipelines of every spec-constant variant and re-records the
 * compiled graphs that use them (waiting for their runs in flight). An edit that does not compile, or
 * that changes the shader's interface (bindings, push-constant block, specialization constants), is
 * printed with file:line and the previous code kept. vkg_graph_run_async calls this before each run;
 * call it yourself to apply edits at a known point. Returns the number of shaders reloaded (0 when
 * nothing changed or nothing is watched), or -(vkg_status) if an edit was refused: VKG_ERR_FORMAT for
 * a compile error, VKG_ERR_UNSUPPORTED for an interface change (vkg_last_error() says which). */
int vkg_ctx_poll_shaders(vkg_ctx *ctx);

/* ---- tensors that live outside any graph (weights shared by several graphs) ---- */

typedef struct vkg_tensor vkg_tensor;
vkg_status vkg_tensor_create(vkg_ctx *ctx, vkg_dtype dtype, int ndim, const int *shape, vkg_tensor **out);
void vkg_tensor_destroy(vkg_tensor *t);
size_t vkg_tensor_numel(const vkg_tensor *t);
/* f32 data from the host, converted to the tensor's dtype (f16 rounds to nearest even; i32 truncates). */
vkg_status vkg_tensor_upload_f32(vkg_tensor *t, const float *data, size_t count);
vkg_status vkg_tensor_download_f32(vkg_tensor *t, float *data, size_t count);
/* Raw bytes in the tensor's own dtype. */
vkg_status vkg_tensor_upload(vkg_tensor *t, const void *data, size_t bytes);
vkg_status vkg_tensor_download(vkg_tensor *t, void *data, size_t bytes);

/* ---- graphs ---- */

typedef struct vkg_graph vkg_graph;
typedef int32_t vkg_t; /* a tensor of a graph */
#define VKG_NONE ((vkg_t)-1)

vkg_status vkg_graph_create(vkg_ctx *ctx, vkg_graph **out);
void vkg_graph_destroy(vkg_graph *g);
vkg_status vkg_graph_status(const vkg_graph *g); /* first build error, VKG_OK if none */

/* A tensor written by the host before each run (kept in its own memory). */
vkg_t vkg_input(vkg_graph *g, const char *name, vkg_dtype dtype, int ndim, const int *shape);
/* A tensor the host writes before every run (a batch of data). It is staged per run, so the host can
 * write run k+1's data while run k executes (vkg_graph_run_async); write it before each run. */
vkg_t vkg_input_streamed(vkg_graph *g, const char *name, vkg_dtype dtype, int ndim, const int *shape);
/* A tensor that lives outside the graph (weights); the graph reads and may write it. */
vkg_t vkg_bind(vkg_graph *g, vkg_tensor *t);
/* Keep t after a run so the host can read it (otherwise its memory may be reused). */
void vkg_output(vkg_graph *g, vkg_t t);

int vkg_ndim(const vkg_graph *g, vkg_t t);
int vkg_dim(const vkg_graph *g, vkg_t t, int axis); /* negative axis counts from the end */
vkg_dtype vkg_type(const vkg_graph *g, vkg_t t);
size_t vkg_numel(const vkg_graph *g, vkg_t t);

/* A per-run scalar slot by name (created on first use). Values are 32-bit; set them before a run. */
int vkg_scalar(vkg_graph *g, const char *name);
vkg_status vkg_graph_set_f32(vkg_graph *g, int slot, float v);
vkg_status vkg_graph_set_u32(vkg_graph *g, int slot, uint32_t v);

/* Checks, plans memory and records the command buffer. Call once, after all ops. */
vkg_status vkg_graph_compile(vkg_graph *g);
/* Runs the recorded command buffer once (one queue submission) and waits for it. */
vkg_status vkg_graph_run(vkg_graph *g);
/* Submits a run without waiting for it; at most two runs are in flight (a third waits for the first).
 * Writes to streamed inputs and scalars go to the next run; other host reads and writes, and
 * vkg_graph_wait, first wait for the runs in flight. */
vkg_status vkg_graph_run_async(vkg_graph *g);
vkg_status vkg_graph_wait(vkg_graph *g);
/* As vkg_graph_run, and gives the GPU time of the run in milliseconds (timestamps, else wall time). */
vkg_status vkg_graph_run_timed(vkg_graph *g, double *ms);
/* Host data in and out of input/output tensors (f32 converted to and from the tensor's dtype). */
vkg_status vkg_graph_write(vkg_graph *g, vkg_t t, const float *data, size_t count);
vkg_status vkg_graph_write_i32(vkg_graph *g, vkg_t t, const int32_t *data, size_t count);
vkg_status vkg_graph_read(vkg_graph *g, vkg_t t, float *data, size_t count);
vkg_status vkg_graph_read_i32(vkg_graph *g, vkg_t t, int32_t *data, size_t count);
/* Fills every tensor that the graph computes with NaN (a test aid: a kernel that skips an element
 * shows up). Inputs and bound tensors are left alone. */
vkg_status vkg_graph_poison(vkg_graph *g);

struct vkg_graph_stats {
  int tensors, dispatches, barriers;
  size_t arena_bytes;    /* memory for intermediates after reuse */
  size_t unshared_bytes; /* what intermediates would need without reuse */
};
void vkg_graph_stats(const vkg_graph *g, struct vkg_graph_stats *s);

/* ---- profiling ----
 * While profiling is on, every graph of the context is recorded with a GPU timestamp before and after
 * each dispatch (and a barrier before each, so that dispatches run one at a time and each time is its
 * own), and every run's times are collected as it completes. Graphs compiled while profiling is on are
 * recorded so too; turning it off re-records them as before. Without timestamps on the queue, runs and
 * dispatches are still counted but every time is -1. */
struct vkg_profile_dispatch {
  int run;             /* index into vkg_profile.runs */
  int index;           /* the dispatch's place in its graph */
  char op[32];         /* the op node that made it ("matmul", "conv2d_bwd_weight", ...) */
  char shader[64];     /* the compute shader */
  double start_ms, ms; /* start from the first profiled run's start, and duration; -1 if unknown */
  double flops, bytes; /* floating-point operations where the op knows them (else 0); bytes bound */
  uint32_t groups[3];  /* workgroups */
};
struct vkg_profile_run {
  int graph;                /* which graph (numbered in order of their first profiled run) */
  int dispatches, barriers; /* of the graph's ordinary recording */
  double start_ms, ms;      /* GPU span of the run (first to last timestamp); -1 if unknown */
};
struct vkg_profile {
  int timestamps; /* 1 if the times were measured */
  int nruns, ndispatches;
  struct vkg_profile_run *runs;
  struct vkg_profile_dispatch *d;
};
/* Starts profiling (re-records the context's compiled graphs); VKG_ERR_ARG if already on. */
vkg_status vkg_profile_start(vkg_ctx *ctx);
/* Waits for the runs in flight, hands what was collected since vkg_profile_start to *out (free it with
 * vkg_profile_free) and re-records the graphs without timestamps. */
vkg_status vkg_profile_stop(vkg_ctx *ctx, struct vkg_profile *out);
void vkg_profile_free(struct vkg_profile *p);

/* ---- ops ----
 * Shape letters: B batch, T time, C channels, H W height width, K kernel, NH heads, D head size,
 * V vocabulary. All compute is fp32; f16 tensors are storage, converted by vkg_cast. */

/* Matmul: a (..., M, K) or, with VKG_TRANS_A, (..., K, M); b (..., K, N) or, with VKG_TRANS_B, (..., N, K);
 * bias (N) or VKG_NONE. Batch dims broadcast (b may be 2-D). Result (..., M, N), fp32 accumulation. */
#define VKG_TRANS_A 1u
#define VKG_TRANS_B 2u
vkg_t vkg_matmul(vkg_graph *g, vkg_t a, vkg_t b, vkg_t bias, unsigned flags);

/* 2-D convolution as in PyTorch: x (B, C, H, W), w (O, C/groups, KH, KW), bias (O) or VKG_NONE.
 * conv_transpose2d takes w (C, O/groups, KH, KW) and uses out_pad. */
struct vkg_conv2d_desc {
  int stride_h, stride_w, pad_h, pad_w, dil_h, dil_w, out_pad_h, out_pad_w, groups;
};
struct vkg_conv2d_desc vkg_conv2d_desc_default(void); /* stride 1, pad 0, dilation 1, groups 1 */
vkg_t vkg_conv2d(vkg_graph *g, vkg_t x, vkg_t w, vkg_t bias, const struct vkg_conv2d_desc *d);
vkg_t vkg_conv_transpose2d(vkg_graph *g, vkg_t x, vkg_t w, vkg_t bias, const struct vkg_conv2d_desc *d);
/* 1-D convolution: x (B, C, T), w (O, C/groups, K). causal pads dilation*(K-1) on the left only
 * (pad is then ignored) so that output t sees inputs <= t. */
vkg_t vkg_conv1d(vkg_graph *g, vkg_t x, vkg_t w, vkg_t bias, int stride, int pad, int dilation, int groups, int causal);

/* Scaled dot-product attention per head: q (B, NH, Tq, D), k (B, NH, Tk, D), v (B, NH, Tk, Dv)
 * -> (B, NH, Tq, Dv). scale <= 0 means 1/sqrt(D). causal: query i stands at position Tk - Tq + i and
 * sees keys at positions <= that (so Tq < Tk works for a KV cache); causal with Tq > Tk is a shape
 * error. Any Tk, D and Dv (online softmax over key tiles). */
vkg_t vkg_attention(vkg_graph *g, vkg_t q, vkg_t k, vkg_t v, float scale, int causal);

/* Normalizations. layernorm over the last axis; gamma, beta (C) or VKG_NONE. */
vkg_t vkg_layernorm(vkg_graph *g, vkg_t x, vkg_t gamma, vkg_t beta, float eps);
/* batchnorm over axis 1 of x (B, C, ...). training: normalizes with the batch statistics and, when
 * running_mean/var are given, updates them in place (PyTorch's momentum and unbiased variance);
 * inference: normalizes with running_mean/var. gamma, beta (C) or VKG_NONE. Running stats must be
 * inputs or bound tensors, both or neither; training needs more than one value per channel. */
vkg_t vkg_batchnorm(vkg_graph *g, vkg_t x, vkg_t gamma, vkg_t beta, vkg_t running_mean, vkg_t running_var,
                    float momentum, float eps, int training);
/* softmax and log-softmax over the last axis. */
vkg_t vkg_softmax(vkg_graph *g, vkg_t x);
vkg_t vkg_log_softmax(vkg_graph *g, vkg_t x);
/* Embedding: table (V, C), ids i32 of any shape -> (ids..., C). Out-of-range ids give zeros. */
vkg_t vkg_embedding(vkg_graph *g, vkg_t table, vkg_t ids);
/* The same lookup in a block of rows of a larger table: table (R, C) holds rows [first, first + R),
 * so id i reads row i - first, and ids outside the block give zeros. Summing the lookups of blocks
 * that cover the table gives vkg_embedding of the whole table, for tables larger than one storage
 * buffer. Differentiable (table only) when first is 0; a gradient with first != 0 is an error. */
vkg_t vkg_embedding_rows(vkg_graph *g, vkg_t table, vkg_t ids, int first);

/* Elementwise, with NumPy broadcasting. */
typedef enum vkg_binop { VKG_ADD, VKG_SUB, VKG_MUL, VKG_DIV, VKG_MAXIMUM, VKG_MINIMUM, VKG_POW } vkg_binop;
vkg_t vkg_binary(vkg_graph *g, vkg_binop op, vkg_t a, vkg_t b);
typedef enum vkg_unop {
  VKG_RELU,
  VKG_LEAKY_RELU, /* alpha: negative slope */
  VKG_GELU,       /* exact, with erf */
  VKG_GELU_TANH,  /* tanh approximation (GPT-2) */
  VKG_TANH,
  VKG_SIGMOID,
  VKG_SILU,
  VKG_SOFTPLUS,
  VKG_EXP,
  VKG_LOG,
  VKG_NEG,
  VKG_ABS,
  VKG_SQRT,
  VKG_SQUARE,
  VKG_AFFINE, /* alpha * x + beta */
  VKG_UNOP_COUNT
} vkg_unop;
vkg_t vkg_unary(vkg_graph *g, vkg_unop op, vkg_t x, float alpha, float beta);

/* Reductions over one axis (negative counts from the end). */
typedef enum vkg_reduce_op { VKG_REDUCE_SUM, VKG_REDUCE_MEAN, VKG_REDUCE_MAX } vkg_reduce_op;
vkg_t vkg_reduce(vkg_graph *g, vkg_reduce_op op, vkg_t x, int axis, int keepdim);

/* Shapes. reshape is a view (no copy); one dim may be -1. */
vkg_t vkg_reshape(vkg_graph *g, vkg_t x, int ndim, const int *shape);
vkg_t vkg_permute(vkg_graph *g, vkg_t x, const int *perm);
vkg_t vkg_concat(vkg_graph *g, int n, const vkg_t *xs, int axis);
vkg_t vkg_slice(vkg_graph *g, vkg_t x, int axis, int start, int end); /* [start, end) along axis */
vkg_t vkg_cast(vkg_graph *g, vkg_t x, vkg_dtype to);                  /* f32 <-> f16 */

/* A history of a one-value tensor across runs: each run stores x into element (step - 1) % n of the
 * returned (n,) output, where step is the u32 scalar step_slot. Lets the host read the values of n
 * runs with one read (e.g. the loss of every training step, read back every n steps). */
vkg_t vkg_history(vkg_graph *g, vkg_t x, int n, int step_slot);
/* A new tensor filled with value. */
vkg_t vkg_full(vkg_graph *g, int ndim, const int *shape, float value);

/* Random numbers from a counter-based generator (Philox-4x32-10, key (seed, 0), counter
 * (element / 4, stream, 0, 0)). The seed is read at run time from the u32 scalar seed_slot (-1: seed
 * 0); the same seed gives the same numbers on any device. Each random op of a graph draws its own
 * stream, numbered in the order the ops are made. lo > hi, non-finite bounds or std < 0 are errors. */
vkg_t vkg_random_uniform(vkg_graph *g, int ndim, const int *shape, int seed_slot, float lo, float hi);
vkg_t vkg_random_normal(vkg_graph *g, int ndim, const int *shape, int seed_slot, float mean, float std);

/* Draws one token id per row of logits (B, V) -> i32 (B). Temperature (f32 scalar slot, default 1
 * when the slot is -1) divides the logits; top_k (u32 scalar slot; 0 or slot -1: all tokens) keeps
 * the k largest (ties at the k-th value kept in index order). Temperature <= 0 means greedy (argmax,
 * lowest index on ties). Rows holding +inf or only -inf draw among their largest tokens; NaN logits
 * give an unspecified token. */
vkg_t vkg_sample_logits(vkg_graph *g, vkg_t logits, int seed_slot, int temperature_slot, int top_k_slot);

/* ---- recurrent layers: LSTM and GRU ----
 * One layer's recurrence over a whole sequence, with PyTorch's semantics and gate order. The input
 * projection of every time step is one matmul done by the caller, gates_x = x W_ih^T + b_ih, of shape
 * (T, B, G*H) with G = 4 gates (i, f, g, o) for the LSTM and G = 3 (r, z, n) for the GRU. The op adds
 * the hidden projection h_{t-1} W_hh^T + b_hh and applies the cell:
 *   LSTM: c_t = f * c_{t-1} + i * g,  h_t = o * tanh(c_t)   (i, f, o sigmoid; g tanh)
 *   GRU:  n = tanh(gx_n + r * (W_hn h_{t-1} + b_hn)),  h_t = (1 - z) * n + z * h_{t-1}   (r, z sigmoid)
 * w_hh (G*H, H); b_hh (G*H) or VKG_NONE; h0, c0 (B, H) or VKG_NONE for zeros. Returns the hidden
 * states h_1..h_T, (T, B, H); the final state is its last time step (vkg_slice). vkg_lstm also gives
 * the cell states c_1..c_T (T, B, H) in *c_seq when c_seq is not NULL. Both are differentiable with
 * respect to every input (backpropagation through time), and c_seq's gradient flows too.
 * Layers stack by projecting one layer's output as the next one's gates_x. The recurrence loops over
 * t inside a workgroup per batch row (per block of rows on CPU devices), in a few dispatches for long
 * sequences; H up to 2048 on devices with 32 KiB of shared memory. */
vkg_t vkg_lstm(vkg_graph *g, vkg_t gates_x, vkg_t w_hh, vkg_t b_hh, vkg_t h0, vkg_t c0, vkg_t *c_seq);
vkg_t vkg_gru(vkg_graph *g, vkg_t gates_x, vkg_t w_hh, vkg_t b_hh, vkg_t h0);

/* As vkg_sample_logits, and top_p (f32 scalar slot; -1 or a value >= 1: off) keeps the most
 * probable tokens (after temperature and top-k) whose probabilities, summed from the largest down,
 * first reach top_p of the kept total: every token whose weight is >= the smallest weight needed
 * (ties at that weight are all kept). top_p <= 0 keeps only the largest tokens. */
vkg_t vkg_sample_logits_p(vkg_graph *g, vkg_t logits, int seed_slot, int temperature_slot, int top_k_slot,
                          int top_p_slot);

/* ---- decoding with run-time positions (KV caches, token buffers) ----
 * pos_slot names a u32 scalar read at run time (-1: 0), so one recorded graph serves every position.
 * The position along `axis` is pos + offset. f32 and i32 tensors both work. */

/* Slice [pos + offset, pos + offset + len) of x along axis; positions outside x read as zeros. */
vkg_t vkg_gather_at(vkg_graph *g, vkg_t x, int axis, int pos_slot, int offset, int len);
/* Writes src into dst in place along axis at positions pos + offset + j (j < src's extent there);
 * the other dims must be equal, and dst must be an input or a bound tensor (it persists across runs).
 * Positions past dst's end, and (lo_slot >= 0) positions below the u32 scalar lo_slot, are left
 * alone. Returns dst: ops that use the returned id see the write. No gradient. */
vkg_t vkg_scatter_at(vkg_graph *g, vkg_t dst, vkg_t src, int axis, int pos_slot, int offset, int lo_slot);
/* The same product as vkg_matmul for a 2-D a (M, K) with few rows (decoding: M = batch) and a 2-D b:
 * one pass over b in which each invocation computes one output column for every row, so b is read
 * once instead of once per 64-row tile. Flags and bias as vkg_matmul. No gradient. */
vkg_t vkg_matmul_rows(vkg_graph *g, vkg_t a, vkg_t b, vkg_t bias, unsigned flags);
/* matmul_rows with its epilogue in the same pass: act(a b + bias) + res, where res (M, N) or VKG_NONE is
 * a residual and flags may add VKG_ROWS_GELU_TANH (the activation; else none). */
#define VKG_ROWS_GELU_TANH 0x100u
vkg_t vkg_matmul_rows_fused(vkg_graph *g, vkg_t a, vkg_t b, vkg_t bias, vkg_t res, unsigned flags);
/* The same on layernorm(x) over its last axis (as vkg_layernorm: gamma and beta of K values, eps), in
 * the same pass: the normalized rows are never stored. */
vkg_t vkg_layernorm_matmul_rows(vkg_graph *g, vkg_t x, vkg_t gamma, vkg_t beta, float eps, vkg_t b, vkg_t bias,
                                vkg_t res, unsigned flags);
/* A decoding step's QKV projection with the KV-cache write: y = x (M, K) w (K, 3C) (or w (3C, K) with
 * VKG_TRANS_B) + bias (3C); columns [C, 2C) and [2C, 3C) (the key and value of heads of size
 * D = C / NH) are stored at position pos + offset of kc and vc, f32 (M, NH, Tmax, D) inputs or bound
 * tensors written in place (pos from scalar slot pos_slot, or 0 with -1; a position outside
 * [0, Tmax) is dropped). Returns the query, columns [0, C), as (M, NH, 1, D). Read the caches through
 * their own ids afterwards: the runtime orders that read after this write. */
vkg_t vkg_qkv_cached(vkg_graph *g, vkg_t x, vkg_t w, vkg_t bias, vkg_t kc, vkg_t vc, int pos_slot, int offset,
                     unsigned flags);
/* Causal attention over a cache: q (B, NH, Tq, D), k (B, NH, Tmax, D), v (B, NH, Tmax, Dv) of which
 * only the first L = min(pos + offset, Tmax) positions are valid (pos: the u32 scalar len_slot).
 * Query i stands at position L - Tq + i and sees keys at positions <= that; a query that sees no
 * key gives zeros. scale <= 0 means 1/sqrt(D). No gradient (decoding only). */
vkg_t vkg_attention_cached(vkg_graph *g, vkg_t q, vkg_t k, vkg_t v, float scale, int len_slot, int offset);

/* ---- gradients ----
 * Mark the leaves to differentiate (weights bound with vkg_bind, or inputs), build the forward ops, then
 * call vkg_backward(loss) once: it appends the backward ops. vkg_grad(t) is then the gradient of the
 * loss with respect to t (same shape as t); gradients of tensors used several times are summed.
 * Leaves not marked are frozen: no gradient is computed for them. */
void vkg_requires_grad(vkg_graph *g, vkg_t t);
void vkg_backward(vkg_graph *g, vkg_t loss); /* loss must hold one value */
vkg_t vkg_grad(const vkg_graph *g, vkg_t t); /* VKG_NONE if t has no gradient */

/* ---- losses: each returns one f32 value ---- */

/* mean((pred - target)^2) over all elements; shapes must match. */
vkg_t vkg_mse_loss(vkg_graph *g, vkg_t pred, vkg_t target);
/* mean(softplus(x) - x * t) over all elements: binary cross-entropy on logits x, targets t in [0, 1]. */
vkg_t vkg_bce_logits_loss(vkg_graph *g, vkg_t logits, vkg_t target);
/* Softmax cross-entropy: logits (..., C), labels i32 (...). Mean over the labels that are not
 * ignore_index (0 when all are ignored). Labels outside [0, C) other than ignore_index count as
 * ignored. */
vkg_t vkg_cross_entropy_loss(vkg_graph *g, vkg_t logits, vkg_t labels, int ignore_index);
/* KL(N(mu, exp(logvar)) || N(0, 1)) of a VAE: -0.5 * sum(1 + logvar - mu^2 - exp(logvar)) / B for
 * mu, logvar (B, ...). */
vkg_t vkg_gaussian_kl_loss(vkg_graph *g, vkg_t mu, vkg_t logvar);

/* ---- optimizers ----
 * State (momentum, Adam moments) lives in tensors owned by the optimizer, so it persists across runs
 * and can be checkpointed. vkg_optim_apply appends the updates to a graph after vkg_backward; the
 * learning rate and the step number (counting from 1, for Adam's bias correction) are read at run
 * time from the scalar slots named "lr" (f32) and "step" (u32), so a schedule never re-records. */
typedef enum vkg_optim_kind { VKG_SGD, VKG_ADAM, VKG_ADAMW } vkg_optim_kind;
struct vkg_optim_desc {
  vkg_optim_kind kind;
  float momentum; /* SGD (0: plain SGD) */
  float beta1, beta2, eps;
  float weight_decay; /* SGD and Adam: added to the gradient (L2); AdamW: decoupled, lr * wd * param */
  float clip_norm;    /* > 0: scale all gradients so their global L2 norm is at most this */
};
struct vkg_optim_desc vkg_optim_desc_default(vkg_optim_kind kind); /* PyTorch's defaults */
typedef struct vkg_optim vkg_optim;
vkg_status vkg_optim_create(vkg_ctx *ctx, const struct vkg_optim_desc *d, int n, vkg_tensor *const *params,
                            vkg_optim **out);
void vkg_optim_destroy(vkg_optim *o);
/* Appends the update of every parameter; param_ids[i] is params[i] bound in g (vkg_bind) and marked
 * with vkg_requires_grad. Returns the global gradient norm before clipping, a (1,) tensor. */
vkg_t vkg_optim_apply(vkg_graph *g, vkg_optim *o, const vkg_t *param_ids);
/* The optimizer's state tensors, with names for checkpoints ("<i>.exp_avg", ...). */
int vkg_optim_state_count(const vkg_optim *o);
vkg_tensor *vkg_optim_state(const vkg_optim *o, int i, const char **name);

/* Learning-rate schedules, evaluated on the host per step (step counts from 1). */
struct vkg_lr_schedule {
  float lr;   /* peak learning rate */
  int warmup; /* linear warmup steps from lr/warmup to lr (0: none) */
  int total;  /* cosine decay from the end of warmup to min_lr at step `total` (0: constant) */
  float min_lr;
};
float vkg_lr_at(const struct vkg_lr_schedule *s, long step);

/* ---- safetensors files ----
 * The format: an 8-byte little-endian header length N, N bytes of JSON naming each tensor's dtype,
 * shape and byte range, then the data. Readers check every offset; writers write a temporary file,
 * fsync it, rename it over the target and fsync the directory, so a crash never leaves a torn file. */
typedef struct vkg_st vkg_st;
vkg_status vkg_st_open(const char *path, vkg_st **out);
void vkg_st_close(vkg_st *st);
int vkg_st_count(const vkg_st *st);
const char *vkg_st_name(const vkg_st *st, int i);
int vkg_st_find(const vkg_st *st, const char *name);       /* index, or -1 */
const char *vkg_st_dtype(const vkg_st *st, int i);         /* "F32", "F16", "BF16", "I32", "I64", "U8", ... */
int vkg_st_shape(const vkg_st *st, int i, int64_t *shape); /* ndim (shape holds up to 8 dims) */
const void *vkg_st_data(const vkg_st *st, int i, size_t *bytes);
const char *vkg_st_metadata(const vkg_st *st, const char *key); /* NULL if absent */
/* Tensor `name` converted to f32 (from F32, F16, BF16), checked against the expected shape: errors
 * name the file, the tensor and both shapes. */
vkg_status vkg_st_read_f32(const vkg_st *st, const char *name, int ndim, const int *shape, float *out);
/* Uploads tensor `name` into t (shape checked as above). */
vkg_status vkg_st_load_tensor(const vkg_st *st, const char *name, vkg_tensor *t);

typedef struct vkg_st_writer vkg_st_writer;
vkg_st_writer *vkg_st_writer_create(void);
void vkg_st_writer_destroy(vkg_st_writer *w);
vkg_status vkg_st_add(vkg_st_writer *w, const char *name, const char *dtype, int ndim, const int64_t *shape,
                      const void *data, size_t bytes); /* copies data */
vkg_status vkg_st_add_f32(vkg_st_writer *w, const char *name, int ndim, const int *shape, const float *data);
vkg_status vkg_st_add_tensor(vkg_st_writer *w, const char *name, vkg_tensor *t); /* downloads t */
/* Downloads a floating-point tensor and stores it as dtype "F32", "F16" or "BF16" (rounded to
 * nearest even); NULL keeps t's own dtype. NaN, infinity or a value beyond F16's range (65504) is an
 * error naming the tensor and the element. */
vkg_status vkg_st_add_tensor_as(vkg_st_writer *w, const char *name, vkg_tensor *t, const char *dtype);
vkg_status vkg_st_add_metadata(vkg_st_writer *w, const char *key, const char *value);
vkg_status vkg_st_write(vkg_st_writer *w, const char *path);

/* ---- datasets ---- */

/* Images as floats in [0, 1], (n, c, h, w), with optional labels. */
struct vkg_images {
  int n, c, h, w;
  float *pixels;
  uint8_t *labels; /* n labels, or NULL */
};
#define VKG_FASHION_MNIST_DIR "/usr/share/datasets/fashion-mnist"
/* split "train" (60000) or "test" (10000) from dir (NULL: VKG_FASHION_MNIST_DIR). A missing file is
 * VKG_ERR_IO with a hint naming the Debian package; a corrupt or truncated one is VKG_ERR_FORMAT. */
vkg_status vkg_fashion_mnist_load(const char *dir, const char *split, struct vkg_images *out);
void vkg_images_free(struct vkg_images *im);
/* One IDX file (gzip-compressed or plain) of unsigned bytes: dims and data (malloc'd). */
vkg_status vkg_idx_load(const char *path, int *ndim, int *dims /* [4] */, uint8_t **data);

/* A text corpus: bytes of every plain file of dir in sorted name order. */
struct vkg_text {
  char *bytes;
  size_t n;
};
#define VKG_FORTUNES_DIR "/usr/share/games/fortunes"
/* The fortunes files of dir (NULL: VKG_FORTUNES_DIR), skipping the .dat/.u8 index files and
 * subdirectories. Missing: VKG_ERR_IO with a hint naming the Debian package 'fortunes'. */
vkg_status vkg_text_load(const char *dir, struct vkg_text *out);
void vkg_text_free(struct vkg_text *t);

/* ---- images ---- */

/* Writes n images (n, c, h, w), values in [0, 1] (clamped), c = 1 or 3, as one PNG grid with `cols`
 * columns and a 2-pixel gap, atomically (no partial file on any error). */
vkg_status vkg_png_grid(const char *path, const float *pixels, int n, int c, int h, int w, int cols);

/* Every .png/.jpg/.jpeg file (case-insensitive extension) directly in dir, in sorted name order (bytewise),
 * as images (n, channels, size, size) in [0, 1], labels NULL. Each image: alpha composited over white,
 * center-cropped to a square, resized to size x size (area averaging when shrinking, bilinear with
 * half-pixel centers when growing), then luminance Y = 0.299 R + 0.587 G + 0.114 B for 1 channel or RGB
 * (gray replicated) for 3. size must be 28, 32 or 64 and channels 1 or 3 (VKG_ERR_ARG). Strict: a file
 * that cannot be decoded is VKG_ERR_FORMAT naming it; a missing directory or one without images is
 * VKG_ERR_IO with a hint. Other files, hidden (dot) files and subdirectories are ignored. Free with
 * vkg_images_free. */
vkg_status vkg_image_folder_load(const char *dir, int size, int channels, struct vkg_images *out);

/* One PNG or JPEG file (recognized by its first bytes) at its own size, as one image (1, c, h, w) in
 * [0, 1]: c = 1 for a gray file, 3 for a color one; alpha is composited over white. A missing file is
 * VKG_ERR_IO, anything else or an undecodable file VKG_ERR_FORMAT. Free with vkg_images_free. */
vkg_status vkg_image_load(const char *path, struct vkg_images *out);

/* ---- audio ---- */

/* Mono audio at one sample rate, values in [-1, 1] (floats may exceed that slightly; see below). */
struct vkg_audio {
  int rate;       /* samples per second */
  size_t n;       /* samples */
  float *samples; /* (n) */
};
#define VKG_WAV_MAX_FILE (512u << 20) /* bytes: one WAV file */
#define VKG_WAV_MIN_RATE 1000
#define VKG_WAV_MAX_RATE 768000
#define VKG_WAV_MAX_FLOAT 1000.0f /* float samples beyond +-1000 (full scale is 1) are refused as corrupt */
/* One RIFF/WAVE file: PCM 8-bit (unsigned), 16, 24 or 32-bit (signed) integers, or 32-bit IEEE float
 * (format tag 1, 3, or WAVE_FORMAT_EXTENSIBLE with one of those subformats); 1 to 64 channels, mixed
 * down to mono by their mean; integers scaled by 2^-(bits-1) (8-bit: (x - 128) / 128). rate > 0
 * resamples to that rate (VKG_WAV_MIN_RATE..VKG_WAV_MAX_RATE) with a Hann-windowed sinc low-pass at
 * the lower of the two Nyquist frequencies, 16 zero crossings on each side, its taps normalized to sum
 * to 1 (so a constant stays exact); rate 0 keeps the file's rate. Every chunk's size and offset is
 * checked against the RIFF size and the file: a chunk past the end, a fmt chunk that is short or
 * inconsistent (zero channels, a rate outside the limits, block align != channels * bits / 8), a data
 * chunk whose size is not a whole number of frames, a missing or repeated fmt or data chunk, or a
 * float sample that is not finite or beyond VKG_WAV_MAX_FLOAT is VKG_ERR_FORMAT naming the file and what is wrong; a
 * missing file VKG_ERR_IO. Free with vkg_audio_free. */
vkg_status vkg_wav_load(const char *path, int rate, struct vkg_audio *out);
/* The same, from a file's bytes in memory (name is used in messages). */
vkg_status vkg_wav_decode(const char *name, const uint8_t *data, size_t n, int rate, struct vkg_audio *out);
void vkg_audio_free(struct vkg_audio *a);
/* Writes n mono samples as a 16-bit PCM WAV file, round(clamp(x, -1, 1) * 32767), atomically (no
 * partial file on any error); "-" writes to standard output. NaN or infinite samples: VKG_ERR_ARG. */
vkg_status vkg_wav_write(const char *path, const float *x, size_t n, int rate);

/* A folder of audio clips: every .wav file (case-insensitive) under dir, recursively (symbolic links to
 * files are followed, to directories not; hidden names are skipped), in sorted path order, each
 * resampled to `rate`. A clip's class is the name of the first-level folder holding it ("" for files
 * directly in dir); classes are numbered in sorted name order. Strict like the image folders: one bad
 * file stops the load naming it. */
struct vkg_audio_folder {
  int rate;
  int n_clips, n_classes;
  float *samples;     /* every clip, concatenated */
  size_t *start;      /* (n_clips + 1): clip i is samples[start[i] .. start[i + 1]) */
  int *label;         /* (n_clips) class of each clip */
  char **class_names; /* (n_classes) */
  char **paths;       /* (n_clips) relative to dir */
};
vkg_status vkg_audio_folder_load(const char *dir, int rate, struct vkg_audio_folder *out);
void vkg_audio_folder_free(struct vkg_audio_folder *f);
#define VKG_SPEECH_EN_DIR "/usr/share/asterisk/sounds/en_US_f_Allison"

/* mu-law companding with mu = 255 to 256 classes: c = round((F(x) + 1) / 2 * 255) with
 * F(x) = sign(x) ln(1 + mu |x|) / ln(1 + mu), x clamped to [-1, 1] (NaN gives the middle class); and
 * back, x = sign(y) ((1 + mu)^|y| - 1) / mu with y = 2 c / 255 - 1. */
void vkg_mulaw_encode(const float *x, size_t n, uint8_t *classes);
void vkg_mulaw_decode(const uint8_t *classes, size_t n, float *x);

/* A permutation of 0..n-1 determined by (seed, epoch) alone, the same on every machine. */
void vkg_shuffle(uint32_t *perm, size_t n, uint64_t seed, uint64_t epoch);

/* ---- tokenizers and BLEU ---- */

/* Text <-> token ids. A tokenizer is immutable once made: one may be shared by threads. */
typedef struct vkg_tokenizer vkg_tokenizer;
/* Every byte is a token (vocabulary 256); decoding is the identity. */
vkg_status vkg_tokenizer_bytes(vkg_tokenizer **out);
/* GPT-2's byte-level BPE from vocab.json (token string -> id) and merges.txt ("#version" line, then
 * "a b" pairs by rank). Pre-tokenization is GPT-2's regex, with Unicode classes from a table (Unicode
 * 14; code points unassigned there count as letters). A missing file is VKG_ERR_IO; a malformed one,
 * a merge of unknown tokens, or a vocabulary lacking a byte is VKG_ERR_FORMAT naming the file (and the
 * line of merges.txt). */
vkg_status vkg_tokenizer_gpt2(const char *vocab_json, const char *merges_txt, vkg_tokenizer **out);
void vkg_tokenizer_free(vkg_tokenizer *t);
int vkg_tokenizer_vocab(const vkg_tokenizer *t); /* ids are in [0, vocab) */
/* The id of the token whose bytes are exactly bytes[0..len) (e.g. "<|endoftext|>"), or -1. */
int32_t vkg_tokenizer_token(const vkg_tokenizer *t, const char *bytes, size_t len);
/* Any bytes (invalid UTF-8 included) -> *ids (malloc'd, never NULL on success; free()). */
vkg_status vkg_tokenize(const vkg_tokenizer *t, const char *text, size_t len, int32_t **ids, size_t *n);
/* ids -> *text (malloc'd, NUL-terminated, *len bytes before the NUL; free()). An id outside the
 * vocabulary is VKG_ERR_ARG. detokenize(tokenize(x)) == x for every x. */
vkg_status vkg_detokenize(const vkg_tokenizer *t, const int32_t *ids, size_t n, char **text, size_t *len);

/* Corpus BLEU-4 in [0, 1] as sacreBLEU defines it on pre-tokenized input, without smoothing: clipped
 * 1..4-gram matches and hypothesis n-gram counts summed over the corpus, the geometric mean of the
 * four precisions (0 if any is 0), times the brevity penalty exp(1 - r/c) when c < r (c: hypothesis
 * tokens, r: the closest reference length per hypothesis, ties to the shorter). One reference per
 * hypothesis; n >= 1 (else VKG_ERR_ARG). */
vkg_status vkg_bleu(const int32_t *const *hyp, const size_t *hyp_len, const int32_t *const *ref, const size_t *ref_len,
                    int n, double *bleu);
/* Self-BLEU: the corpus BLEU of each of n >= 2 sequences against all the others as references (an
 * n-gram is clipped by its largest count in any of them). Lower means more diverse samples. */
vkg_status vkg_self_bleu(const int32_t *const *seq, const size_t *len, int n, double *bleu);
/* The same on texts split into words at ASCII whitespace. */
vkg_status vkg_bleu_text(const char *const *hyp, const char *const *ref, int n, double *bleu);
vkg_status vkg_self_bleu_text(const char *const *texts, int n, double *bleu);

/* ---- the model families and the command-line tool, in this process ---- */

/* The families behind 'vkgen train|sample|eval|bench MODEL' ("classifier", "gan", "vae", "gpt", ...):
 * vkg_family_count() of them, each with its name and a one-line summary (NULL outside the range). */
int vkg_family_count(void);
const char *vkg_family_name(int i);
const char *vkg_family_summary(int i);
/* Runs 'vkgen VERB FAMILY ARGS...' in this process, with the same code, options, files and results
 * as the command (verb: "train", "sample", "eval" or "bench"; args: argc options as on the command
 * line, e.g. {"-n", "16", "-o", "x.png"}). Returns VKG_OK, or a failure status with the command's
 * error line in vkg_last_error() and its hint in vkg_last_hint() (those two lines are then not
 * printed). If out is not NULL, what the command writes to stdout (sampled text; with --json, the
 * metrics) is returned there instead of printed: malloc'd, NUL-terminated, free() it; also on failure
 * (never NULL when out was given). Progress goes to stderr as usual. The command's output streams are
 * swapped for the call (glibc's stdout and stderr variables), so run one at a time per process and
 * do not print from other threads meanwhile. */
vkg_status vkg_family_run(const char *verb, const char *family, int argc, const char *const *args, char **out);
/* Finds a shipped file (default weights, e.g. "gan.safetensors") as the tool does: $VKGEN_ASSETS,
 * then the installed share/vkgen/assets next to the program or the library, then the source tree's
 * assets/. Returns 1 and the path in out (n bytes) if found, else 0. */
int vkg_asset_path(const char *file, char *out, size_t n);
/* The whole command-line tool: what 'vkgen ARGS...' does, with argv[0] the program name. Returns
 * the exit code. */
int vkg_cli_main(int argc, char **argv);

#if defined(__GNUC__) && __GNUC__ >= 4
#pragma GCC visibility pop
#endif

#ifdef __cplusplus
}
#endif
#endif
