/* Private structures shared by the runtime (vk/), the graph compiler (graph/) and the ops (ops/). */
#ifndef VKGEN_INTERNAL_H
#define VKGEN_INTERNAL_H

#include <stdio.h>
#include <stdlib.h>
#include <vulkan/vulkan.h>

#include "vkgen.h"

/* ---- errors ---- */

/* Records the message (printf-style) for vkg_last_error() and returns s. */
vkg_status vkg__fail(vkg_status s, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* Sets the hint shown with the last error. */
void vkg__hint(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
void vkg__clear_error(void);
/* The status of the last vkg__fail on this thread since vkg__clear_error (VKG_OK if none). */
vkg_status vkg__last_status(void);
/* vkQueueSubmit / vkWaitForFences(one fence, no timeout) that report a lost device clearly (with a
 * hint) and honour VKGEN_FAULT=device_lost@N. */
vkg_status vkg__queue_submit(vkg_ctx *ctx, const VkSubmitInfo *si, VkFence fence);
vkg_status vkg__fence_wait(vkg_ctx *ctx, VkFence fence);
const char *vkg__vkresult_str(VkResult r);
/* An internal invariant: checked in every build type, aborts with file:line. */
#define VKG_ASSERT(c)                                                                                                  \
  do {                                                                                                                 \
    if (!(c)) {                                                                                                        \
      fprintf(stderr, "vkgen: internal error at %s:%d: %s\n", __FILE__, __LINE__, #c);                                 \
      abort();                                                                                                         \
    }                                                                                                                  \
  } while (0)
/* Evaluates a Vulkan call; on failure records "vkFoo failed: VK_ERROR_..." and returns from the caller. */
#define VK_CHECK(call)                                                                                                 \
  do {                                                                                                                 \
    VkResult r_ = (call);                                                                                              \
    if (r_ != VK_SUCCESS)                                                                                              \
      return vkg__fail(r_ == VK_ERROR_DEVICE_LOST ? VKG_ERR_DEVICE_LOST                                                \
                       : (r_ == VK_ERROR_OUT_OF_DEVICE_MEMORY || r_ == VK_ERROR_OUT_OF_HOST_MEMORY) ? VKG_ERR_OOM      \
                                                                                                    : VKG_ERR_VULKAN,  \
                       "%s failed: %s", #call, vkg__vkresult_str(r_));                                                 \
  } while (0)

/* ---- memory ---- */

struct vkg_block; /* one VkDeviceMemory with one VkBuffer over all of it */
struct vkg_alloc {
  struct vkg_block *block;
  VkBuffer buffer;
  VkDeviceSize offset, size;
  void *mapped; /* host pointer when the block is host-visible, else NULL */
};
#define VKG_HOST_VISIBLE 1u
vkg_status vkg__alloc(vkg_ctx *ctx, VkDeviceSize size, unsigned flags, struct vkg_alloc *out);
void vkg__free(vkg_ctx *ctx, struct vkg_alloc *a);
/* Host <-> device copies through the context's staging buffer (one submission each, waits). */
vkg_status vkg__upload(vkg_ctx *ctx, const struct vkg_alloc *dst, VkDeviceSize offset, const void *src,
                       VkDeviceSize bytes);
vkg_status vkg__download(vkg_ctx *ctx, const struct vkg_alloc *src, VkDeviceSize offset, void *dst, VkDeviceSize bytes);
/* Records a one-off command buffer with fn, submits it and waits. */
vkg_status vkg__one_shot(vkg_ctx *ctx, void (*fn)(VkCommandBuffer cb, void *user), void *user);
void vkg__mem_destroy(vkg_ctx *ctx);

/* ---- pipelines ---- */

#define VKG_MAX_SPEC 8
#define VKG_MAX_BINDINGS 8
#define VKG_PC_MAX 128
struct vkg_pipeline {
  char shader[64];
  uint32_t spec[VKG_MAX_SPEC]; /* [0..2] workgroup size x, y, z; [3..] the shader's own */
  int nspec, nbind;
  VkPipeline pipeline;
  VkPipelineLayout layout;
  VkDescriptorSetLayout set_layout;
};
/* Finds or builds the pipeline for shader + specialization constants (cached in the context). The
 * struct stays at the same address for the context's life; hot reload swaps .pipeline inside it. */
vkg_status vkg__pipeline(vkg_ctx *ctx, const char *shader, const uint32_t *spec, int nspec, int nbind,
                         struct vkg_pipeline **out);
/* A VkPipeline from SPIR-V code with p's specialization constants and layout (counted in
 * ctx->live_pipelines); destroy it with vkg__pipeline_free. */
VkResult vkg__pipeline_build(vkg_ctx *ctx, const uint32_t *code, size_t words, const struct vkg_pipeline *p,
                             VkPipeline *out);
void vkg__pipeline_free(vkg_ctx *ctx, VkPipeline pipeline);
void vkg__pipelines_destroy(vkg_ctx *ctx);
/* SPIR-V embedded at build time; NULL if no shader has that name. */
const uint32_t *vkg__shader_spirv(const char *name, size_t *words);

/* ---- shader hot reload (vk/reload.c) ---- */

struct vkg_watch; /* the watched directory, compiled overrides and include dependencies */
/* Starts watching dir (inotify) for edits of .comp/.glsl files. */
vkg_status vkg__watch_start(vkg_ctx *ctx, const char *dir);
void vkg__watch_stop(vkg_ctx *ctx); /* after the device is idle */
/* The SPIR-V to build shader `name` from while watching: compiled from the watched directory on first
 * use (a compile error or interface change is printed, and NULL returned: use the built-in code). */
const uint32_t *vkg__watch_spirv(vkg_ctx *ctx, const char *name, size_t *words);
/* The live graphs of a context (compiled and not yet released), so a reload can re-record them. */
void vkg__graph_register(vkg_graph *g);
void vkg__graph_unregister(vkg_graph *g);
/* Re-records a compiled graph's command buffers after waiting for its runs in flight. */
vkg_status vkg__graph_rerecord(vkg_graph *g);
/* Re-records g with (on) or without a timestamp around every dispatch (graph/profile.c). */
vkg_status vkg__graph_set_profiled(vkg_graph *g, int on);

/* The interface of a compute shader, read from its SPIR-V (vk/spirv_iface.c). */
#define VKG_IFACE_MAX 32
struct vkg_shader_iface {
  int nbind;
  struct {
    uint32_t set, binding, storage;
  } bind[VKG_IFACE_MAX]; /* storage: 0 storage buffer, 1 uniform, 2 other */
  uint32_t pc_size;      /* bytes of the push-constant block, 0 if none */
  int npc_members;
  uint32_t pc_offset[VKG_IFACE_MAX];
  int nspec;
  uint32_t spec_id[VKG_IFACE_MAX];
};
/* Fills iface from SPIR-V; returns 0, or -1 with a reason in err if the module is malformed. */
int vkg__spirv_iface(const uint32_t *code, size_t words, struct vkg_shader_iface *iface, char *err, size_t n);
/* Checks that a new interface fits the launcher written for the old one (bindings, push-constant
 * block and specialization constants the old one declares). Returns 0, or -1 with what differs. */
int vkg__iface_compatible(const struct vkg_shader_iface *old, const struct vkg_shader_iface *neu, char *why, size_t n);

/* ---- context ---- */

struct vkg_ctx {
  VkInstance instance;
  VkPhysicalDevice phys;
  VkDevice device;
  VkQueue queue;
  uint32_t queue_family;
  struct vkg_device_info info;
  VkPhysicalDeviceProperties props;
  VkPhysicalDeviceMemoryProperties memprops;
  VkDebugUtilsMessengerEXT messenger;
  int validate;
  uint32_t validation_messages;
  int fp16_enabled;
  float timestamp_period;

  VkCommandPool pool;
  VkFence fence;
  VkCommandBuffer one_shot_cb;

  /* memory */
  struct vkg_block **blocks;
  int nblocks, cap_blocks;
  struct vkg_alloc staging;
  VkDeviceSize staging_size;
  VkDeviceSize align;

  /* pipelines */
  VkPipelineCache pipeline_cache;
  char *pipeline_cache_path;
  struct vkg_pipeline **pipes;
  int npipes, cap_pipes;
  VkDescriptorSetLayout set_layouts[VKG_MAX_BINDINGS + 1];
  VkPipelineLayout pipe_layouts[VKG_MAX_BINDINGS + 1];
  int live_pipelines; /* VkPipelines alive (a leak check for hot reload) */

  /* hot reload: NULL unless vkg_ctx_desc.watch_shaders was set */
  struct vkg_watch *watch;
  vkg_graph **graphs; /* live compiled graphs */
  int ngraphs, cap_graphs;

  /* profiling (graph/profile.c): what the runs completed since vkg_profile_start */
  int profiling;
  struct vkg_profile prof;
  int cap_prof_runs, cap_prof_d, prof_graphs;
  uint64_t prof_t0; /* the first profiled run's first timestamp (0: none yet) */
};

/* Which family of compute kernels (matmul, convolutions) the device gets: 1 for the GPU kernels
 * (shared-memory tiles), 0 for the CPU-device kernels (register blocks, no shared memory). The device
 * type decides (a "cpu" device gets 0); VKGEN_KERNELS=gpu|cpu forces one, so that tests run both on
 * any device. */
int vkg__gpu_kernels(const vkg_ctx *ctx);
/* For row kernels (softmax, layernorm) over rows of n values: 0 for one workgroup per row (GPUs, and
 * rows too long for one invocation's loop), else one invocation per row as the CPU-device kernels do
 * (1; 2 when rows are whole vec4s). */
uint32_t vkg__rowwise(const vkg_ctx *ctx, size_t rows, size_t n);
/* Workgroup size for 1-D elementwise kernels on this device. */
uint32_t vkg__wg1d(const vkg_ctx *ctx);
/* Workgroup size for one-workgroup-per-row kernels with rows of n values: enough invocations to
 * cover short rows in one step without idling most of a large group, capped by vkg__wg1d. */
uint32_t vkg__wg_rows(const vkg_ctx *ctx, size_t n);

struct vkg_tensor {
  vkg_ctx *ctx;
  vkg_dtype dtype;
  int ndim;
  int shape[VKG_MAX_DIMS];
  struct vkg_alloc alloc;
  int view; /* 1: alloc is part of another tensor's memory (vkg_tensor_destroy frees only the struct) */
};
/* Rows [first, first + rows) of the 2-D tensor t, sharing its memory: to bind a block of a tensor too
 * large for one storage-buffer descriptor. The view must not outlive t; vkg_tensor_destroy frees it.
 * VKG_ERR_UNSUPPORTED if the block's offset breaks the device's storage-buffer offset alignment. */
vkg_status vkg__tensor_rows(const vkg_tensor *t, int first, int rows, vkg_tensor **out);

/* ---- graphs ---- */

enum vkg_tensor_kind {
  VKG_KIND_INTERMEDIATE = 0, /* memory planned by liveness */
  VKG_KIND_INPUT,            /* own memory, written by the host */
  VKG_KIND_BOUND,            /* a vkg_tensor outside the graph */
  VKG_KIND_OUTPUT,           /* own memory, kept after the run */
  VKG_KIND_VIEW,             /* shares the memory of .base (reshape) */
  VKG_KIND_SCALARS,          /* the per-run scalar buffer (staged like STREAMED) */
  VKG_KIND_STREAMED,         /* own memory, copied at the start of each run from a per-slot staging buffer */
};
#define VKG_SLOTS 2 /* runs in flight at once: the host fills one slot while the GPU runs the other */

struct vkg_gtensor {
  vkg_dtype dtype;
  int ndim;
  int shape[VKG_MAX_DIMS];
  enum vkg_tensor_kind kind;
  vkg_t base; /* for views */
  char name[48];
  vkg_tensor *bound;                 /* for VKG_KIND_BOUND */
  struct vkg_alloc alloc;            /* for own memory (input, output, scalars, streamed) */
  struct vkg_alloc stage[VKG_SLOTS]; /* host-visible staging per slot (scalars, streamed) */
  VkDeviceSize offset;               /* intermediates: offset in the arena */
  int first, last;                   /* liveness: dispatch indices of the first write and the last use */
  uint8_t requires_grad;             /* a leaf whose gradient is wanted */
};

struct vkg_dispatch {
  struct vkg_pipeline *pipe;
  int nbind;
  vkg_t bind[VKG_MAX_BINDINGS];
  uint8_t writes[VKG_MAX_BINDINGS]; /* 1 if the shader writes that binding */
  uint8_t pc[VKG_PC_MAX];
  uint32_t pc_size;
  uint32_t groups[3];
  int node;
  VkDescriptorSet set;
};

/* An op node: what created a group of dispatches, with its inputs, outputs and attributes so that
 * autodiff can emit its backward. */
#define VKG_NODE_MAX_IN 8
#define VKG_NODE_MAX_OUT 4
#define VKG_NODE_ATTR 96
struct vkg_node;
/* Emits ops computing the gradients of n's inputs from the gradients of its outputs. gout[i] is
 * VKG_NONE for outputs that got no gradient; set gin[i] only for inputs where vkg__wants_grad() is
 * true (leave the rest VKG_NONE). n is a copy: the graph's node array may move meanwhile. */
typedef void (*vkg_backward_fn)(vkg_graph *g, const struct vkg_node *n, const vkg_t *gout, vkg_t *gin);
struct vkg_node {
  char op[32];
  int first_dispatch, ndispatch;
  int nin, nout;
  vkg_t in[VKG_NODE_MAX_IN];   /* VKG_NONE for an absent optional input (a bias) */
  vkg_t out[VKG_NODE_MAX_OUT]; /* out[0] is the result; others are values saved for the backward */
  unsigned char attrs[VKG_NODE_ATTR];
  vkg_backward_fn backward; /* NULL: the op has no gradient (an error if one is needed) */
};
/* Records the current node's inputs, outputs, attributes and backward (call after its dispatches). */
void vkg__node_io(vkg_graph *g, int nin, const vkg_t *in, int nout, const vkg_t *out, const void *attrs,
                  size_t attr_size, vkg_backward_fn backward);
/* During vkg_backward: does input tensor t need a gradient? */
int vkg__wants_grad(const vkg_graph *g, vkg_t t);
/* Sums x (shape broadcast from `shape`) back down to `shape` (the reverse of broadcasting). */
/* vkg_optim_apply with given gradients: grads[i] (f32, as many values as parameter i) instead of the
 * graph's vkg_grad, for an update whose gradients come from elsewhere (another graph, other processes). */
vkg_t vkg__optim_apply_grads(vkg_graph *g, vkg_optim *o, const vkg_t *param_ids, const vkg_t *grads);
/* Data parallelism: the random ops made after this call draw, for a shape (B, ...), the numbers a
 * graph of batch `count` * B would draw, and keep rows [index * B, index * B + B): process `index` of
 * `count`, each with its slice of the batch, sees the noise one process with the whole batch sees. */
void vkg__graph_rng_shard(vkg_graph *g, int index, int count);
vkg_t vkg__sum_to(vkg_graph *g, vkg_t x, int ndim, const int *shape);

#define VKG_MAX_SCALARS 64
#define VKG_TCHUNK 256
#define VKG_T(g, i) (&(g)->tchunks[(i) / VKG_TCHUNK][(i) % VKG_TCHUNK])
struct vkg_graph {
  vkg_ctx *ctx;
  vkg_status err;
  char errmsg[640];
  struct vkg_gtensor **tchunks; /* tensors in chunks of VKG_TCHUNK, so pointers to them stay valid */
  int nt, cap_t;
  struct vkg_dispatch *d;
  int nd, cap_d;
  struct vkg_node *nodes;
  int nnodes, cap_nodes;
  int cur_node;
  char scalar_names[VKG_MAX_SCALARS][32];
  int nscalars;
  uint32_t scalar_vals[VKG_MAX_SCALARS];
  vkg_t scalars; /* the scalar buffer tensor, VKG_NONE until a slot is made */
  uint32_t rng_streams;
  int rng_shard, rng_shards; /* random ops draw rows [shard * B, shard * B + B) of shards * B rows (0: off) */
  /* autodiff: set by vkg_backward */
  vkg_t *grads;    /* gradient of each tensor that existed when vkg_backward ran, or VKG_NONE */
  uint8_t *needed; /* tensors on a path from a requires_grad leaf */
  int ngrads;
  int compiled;
  struct vkg_alloc arena;
  VkDescriptorPool dpool;
  VkCommandBuffer cb[VKG_SLOTS]; /* the same recording, each copying from its own staging slot */
  VkFence fence[VKG_SLOTS];
  int inflight[VKG_SLOTS];
  int next_slot, last_slot;
  VkQueryPool qpool;
  uint32_t qper; /* timestamp queries per slot: 2 (the run), or 2 + 2 per dispatch when profiled */
  int profiled;  /* recorded with a timestamp around every dispatch */
  int prof_id;   /* 1 + its number in the profile, 0 until its first profiled run */
  int barriers;
  size_t arena_bytes, unshared_bytes;
};

/* Build-time helpers for op launchers. Each returns VKG_NONE / nonzero after recording the first
 * error in the graph, so launchers can bail out with one line. */
int vkg__bad(vkg_graph *g, vkg_status s, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
/* Checks that every id is a valid tensor of the graph (and that no earlier error happened). */
int vkg__check(vkg_graph *g, int n, const vkg_t *ids);
/* A new intermediate tensor. Tensors never move once made: pointers from vkg__t() stay valid. */
vkg_t vkg__new(vkg_graph *g, vkg_dtype dtype, int ndim, const int *shape);
const struct vkg_gtensor *vkg__t(const vkg_graph *g, vkg_t t);
/* The tensor that owns t's memory (t itself unless t is a view). */
vkg_t vkg__root(const vkg_graph *g, vkg_t t);
size_t vkg__numel(const int *shape, int ndim);
/* Formats a shape as "(2, 3, 4)" into buf. */
const char *vkg__shape_str(const int *shape, int ndim, char *buf, size_t n);
/* Records the dispatch of vkg_matmul (ops/matmul.c) into the current node without making a node of its
 * own, for ops built from matmuls (attention's materialized path): out (batch, M, N) = opA opB (+ bias),
 * with a (batch or 1, M, K) and b (batch or 1, K, N) stored as the flags say. Nonzero on failure. */
int vkg__matmul_record(vkg_graph *g, vkg_t a, vkg_t b, vkg_t bias, vkg_t out, unsigned flags, uint32_t batch,
                       int a_batched, int b_batched, uint32_t M, uint32_t N, uint32_t Ka);
/* Starts an op node; every vkg__dispatch until the next vkg__begin belongs to it. */
void vkg__begin(vkg_graph *g, const char *op);
/* Appends a dispatch: shader with specialization constants spec[0..nspec), bindings (those listed in
 * writes_mask bit i are written), push constants, and workgroup counts. */
int vkg__dispatch(vkg_graph *g, const char *shader, const uint32_t *spec, int nspec, int nbind, const vkg_t *bind,
                  unsigned writes_mask, const void *pc, uint32_t pc_size, uint32_t gx, uint32_t gy, uint32_t gz);
/* Profiling (graph/profile.c): appends the times of the run that slot `slot` of g just completed to
 * the context's profile (after its fence signalled). */
void vkg__profile_collect(vkg_graph *g, int slot);
/* Floating-point operations of node n where its op is known (matmul, convolutions, attention, RNNs), else 0. */
double vkg__node_flops(const vkg_graph *g, const struct vkg_node *n);
/* Frees the Vulkan objects and memory of a compiled graph (graph/compile.c). */
void vkg__graph_release(vkg_graph *g);
/* The graph's scalar buffer (created on first use). */
vkg_t vkg__scalars(vkg_graph *g);
static inline uint32_t vkg__ceil_div(uint64_t a, uint64_t b) { return (uint32_t)((a + b - 1) / b); }
/* Normalizes a possibly negative axis; -1 if out of range. */
static inline int vkg__axis(int axis, int ndim) {
  if (axis < 0) axis += ndim;
  return (axis < 0 || axis >= ndim) ? -1 : axis;
}
/* Launches a 1-D grid of n threads with workgroup size wg: splits into (x, y) when n/wg > 65535. */
void vkg__grid1d(uint64_t n, uint32_t wg, uint32_t *gx, uint32_t *gy);

/* Atomic file writes (io/file.c): data goes to a temporary file beside path (or beside the file a
 * symbolic link at path points to); commit fsyncs it, renames it over that file and fsyncs the
 * directory. On any failure, or abort, the temporary file is removed and an existing file at path is
 * untouched. "-" is standard output; FIFOs and character devices are written straight into;
 * directories, block devices and sockets are refused (see io/file.c). */
struct vkg_atomic_file {
  int fd;
  int direct;                      /* writing straight into a special file or standard output */
  char *path, *target, *tmp, *dir; /* target: path after its symbolic links */
};
vkg_status vkg__atomic_open(struct vkg_atomic_file *f, const char *path);
vkg_status vkg__atomic_write(struct vkg_atomic_file *f, const void *data, size_t n);
vkg_status vkg__atomic_commit(struct vkg_atomic_file *f); /* releases f either way */
void vkg__atomic_abort(struct vkg_atomic_file *f);
/* Removes the temporary file of a write in progress, if any (async-signal-safe: for a signal
 * handler that exits at once). */
void vkg__atomic_unlink_in_flight(void);
/* The file a write to path lands in: the end of its chain of symbolic links (malloc'd; NULL on a loop). */
char *vkg__output_target(const char *path);
/* The whole file at once. */
vkg_status vkg__write_file(const char *path, const void *data, size_t n);
/* Reads a whole regular file of at most max bytes into *buf (malloc'd, one spare byte); a file that
 * changes while being read is refused. Messages call it `what` ("image", "WAV"). */
vkg_status vkg__read_file(const char *path, const char *what, size_t max, unsigned char **buf, size_t *n);

/* One PNG or JPEG file held in memory (io/imagefile.c), recognized by its signature bytes (not its
 * name), its size checked from the header against these limits before decoding; on success *rgba
 * holds w*h RGBA pixels, every one decoded (free()), and *comp (if not NULL) the file's own channel count
 * (1 grey, 2 grey+alpha, 3 RGB, 4 RGBA). Errors name the file. */
#define VKG_IMAGE_MAX_SIDE 8192
#define VKG_IMAGE_MAX_PIXELS (1 << 25)  /* 32 Mpx, e.g. 6000x4000 */
#define VKG_IMAGE_MAX_FILE (256u << 20) /* bytes */
vkg_status vkg__image_decode(const char *name, const unsigned char *buf, size_t n, int *w, int *h, int *comp,
                             unsigned char **rgba);

/* fp16 conversion on the host */
uint16_t vkg__f32_to_f16(float f);
float vkg__f16_to_f32(uint16_t h);
uint16_t vkg__f32_to_bf16(float f); /* round to nearest even */
/* count f32 values converted to dtype in a new buffer (src itself for f32; free only if != src). */
void *vkg__from_f32(vkg_dtype dtype, const float *src, size_t count);
void vkg__to_f32(vkg_dtype dtype, const void *src, float *dst, size_t count);

#endif
