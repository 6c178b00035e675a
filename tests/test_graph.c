/* The graph machinery: record once and replay with new data, memory reuse by liveness, barriers only
 * between dependent dispatches, tensors shared between graphs, fp16 storage, and clear errors. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "harness.h"
#include "internal.h"
#include "check/ref_basic.h"

/* x (4, 13) @ w (13, 7) + b, relu: replayed three times with new x, one recording. */
static void replay(vkg_ctx *ctx) {
  vkg_graph *g;
  vkg_graph_create(ctx, &g);
  int xs[2] = {4, 13}, ws[2] = {13, 7}, bs[1] = {7};
  vkg_t x = vkg_input(g, "x", VKG_F32, 2, xs);
  float *w, *b;
  vkg_t W = th_input(g, 2, ws, -1, 1, &w), B = th_input(g, 1, bs, -1, 1, &b);
  vkg_t y = vkg_unary(g, VKG_RELU, vkg_matmul(g, x, W, B, 0), 0, 0);
  vkg_output(g, y);
  if (!th_ok(vkg_graph_compile(g), "compile") || !th_ok(th_write_inputs(g), "write")) return;
  VkCommandBuffer cb = g->cb[0];
  struct vkg_graph_stats s0, s1;
  vkg_graph_stats(g, &s0);
  for (int run = 0; run < 3; run++) {
    float xh[4 * 13], got[4 * 7], ref[4 * 7];
    th_fill(xh, 4 * 13, -2, 2);
    th_ok(vkg_graph_write(g, x, xh, 4 * 13), "write x");
    th_ok(th_run(g), "run");
    th_ok(vkg_graph_read(g, y, got, 4 * 7), "read y");
    ref_matmul(ref, xh, w, b, 1, 4, 7, 13, 0, 0, 0, 0);
    for (int i = 0; i < 28; i++)
      ref[i] = ref[i] > 0 ? ref[i] : 0;
    char what[48];
    snprintf(what, sizeof what, "replay %d with new input", run);
    th_close(what, got, ref, 28, 1e-5f, 1e-4f);
  }
  vkg_graph_stats(g, &s1);
  th_check(g->cb[0] == cb && s0.dispatches == s1.dispatches && s1.dispatches == 2,
           "replays reuse the one recorded command buffer (%d dispatches)", s1.dispatches);
  vkg_graph_destroy(g);
}

/* A chain of 12 unary ops: with liveness only two buffers are alive at once. */
static void memory_reuse(vkg_ctx *ctx) {
  vkg_graph *g;
  vkg_graph_create(ctx, &g);
  int n = 1000, shape[1] = {1000};
  float *x;
  vkg_t t = th_input(g, 1, shape, -1, 1, &x);
  for (int i = 0; i < 12; i++)
    t = vkg_unary(g, VKG_AFFINE, t, 1.5f, 0.25f);
  vkg_output(g, t);
  if (!th_ok(vkg_graph_compile(g), "compile chain")) return;
  th_write_inputs(g);
  th_ok(th_run(g), "run chain");
  float *got = th_alloc((size_t)n), *ref = th_alloc((size_t)n);
  vkg_graph_read(g, t, got, (size_t)n);
  for (int i = 0; i < n; i++) {
    double v = x[i];
    for (int k = 0; k < 12; k++)
      v = 1.5 * v + 0.25;
    ref[i] = (float)v;
  }
  th_close("affine chain with reused memory", got, ref, (size_t)n, 1e-5f, 1e-5f);
  struct vkg_graph_stats s;
  vkg_graph_stats(g, &s);
  th_check(s.arena_bytes <= 2 * 4096 && s.unshared_bytes >= 11 * 4000,
           "intermediates share memory: %zu bytes planned instead of %zu", s.arena_bytes, s.unshared_bytes);
  th_check(s.barriers == 11, "a dependent chain of 12 dispatches has 11 barriers (got %d)", s.barriers);
  free(got);
  free(ref);
  vkg_graph_destroy(g);
}

/* Independent dispatches share a barrier-free stretch; a dependent one gets one barrier. */
static void barriers(vkg_ctx *ctx) {
  vkg_graph *g;
  vkg_graph_create(ctx, &g);
  int shape[2] = {7, 13};
  float *x;
  vkg_t a = th_input(g, 2, shape, -1, 1, &x);
  vkg_t b = vkg_unary(g, VKG_RELU, a, 0, 0);
  vkg_t c = vkg_unary(g, VKG_TANH, a, 0, 0);
  vkg_t e = vkg_unary(g, VKG_EXP, a, 0, 0);
  vkg_t d = vkg_binary(g, VKG_ADD, vkg_binary(g, VKG_MUL, b, c), e);
  vkg_output(g, d);
  if (!th_ok(vkg_graph_compile(g), "compile diamond")) return;
  th_write_inputs(g);
  th_ok(th_run(g), "run diamond");
  struct vkg_graph_stats s;
  vkg_graph_stats(g, &s);
  th_check(s.barriers == 2, "relu, tanh, exp of one input run without barriers between them (%d barriers)", s.barriers);
  float got[91], ref[91];
  vkg_graph_read(g, d, got, 91);
  for (int i = 0; i < 91; i++)
    ref[i] = (x[i] > 0 ? x[i] : 0) * tanhf(x[i]) + expf(x[i]);
  th_close("diamond result", got, ref, 91, 1e-5f, 1e-5f);
  vkg_graph_destroy(g);
}

/* A weight tensor outside any graph, read by two graphs; fp16 storage round trip. */
static void bound_and_fp16(vkg_ctx *ctx) {
  int ws[2] = {5, 3};
  vkg_tensor *w;
  if (!th_ok(vkg_tensor_create(ctx, VKG_F32, 2, ws, &w), "tensor create")) return;
  float wh[15], got[15];
  th_fill(wh, 15, -1, 1);
  th_ok(vkg_tensor_upload_f32(w, wh, 15), "upload");
  th_ok(vkg_tensor_download_f32(w, got, 15), "download");
  th_close("tensor upload/download", got, wh, 15, 0, 0);
  for (int k = 0; k < 2; k++) {
    vkg_graph *g;
    vkg_graph_create(ctx, &g);
    vkg_t W = vkg_bind(g, w);
    vkg_t y = vkg_unary(g, k ? VKG_NEG : VKG_SQUARE, W, 0, 0);
    vkg_output(g, y);
    if (th_ok(vkg_graph_compile(g), "compile bound") && th_ok(th_run(g), "run bound")) {
      float ref[15];
      vkg_graph_read(g, y, got, 15);
      for (int i = 0; i < 15; i++)
        ref[i] = k ? -wh[i] : wh[i] * wh[i];
      th_close(k ? "graph 2 reads the shared tensor" : "graph 1 reads the shared tensor", got, ref, 15, 1e-6f, 1e-6f);
    }
    vkg_graph_destroy(g);
  }
  vkg_tensor_destroy(w);

  if (!vkg_ctx_has_fp16(ctx)) {
    th_check(1, "fp16 storage skipped: device has none");
    return;
  }
  vkg_tensor *h;
  int hs[1] = {9};
  if (!th_ok(vkg_tensor_create(ctx, VKG_F16, 1, hs, &h), "f16 tensor")) return;
  float v[9] = {0, 1, -2.5f, 65504, 1e-7f, 3.14159265f, 1e6f, -0.1f, 6e-5f};
  /* f16 subnormals are multiples of 2^-24: 1e-7 is 1.68 units -> 2, 6e-5 is 1006.6 units -> 1007. */
  float want[9] = {0, 1, -2.5f, 65504, 2.0f / 16777216, 3.140625f, INFINITY, -0.0999755859375f, 1007.0f / 16777216};
  float back[9];
  th_ok(vkg_tensor_upload_f32(h, v, 9), "f16 upload");
  th_ok(vkg_tensor_download_f32(h, back, 9), "f16 download");
  int ok = 1;
  for (int i = 0; i < 9; i++)
    ok &= back[i] == want[i];
  th_check(ok, "f16 storage rounds to nearest even (subnormals, overflow to inf)");
  vkg_tensor_destroy(h);
}

static void errors(vkg_ctx *ctx) {
  vkg_graph *g;
  vkg_graph_create(ctx, &g);
  int s1[2] = {3, 4}, s2[2] = {4, 4}, s3[1] = {5};
  vkg_t a = vkg_input(g, "a", VKG_F32, 2, s1), b = vkg_input(g, "b", VKG_F32, 2, s2);
  vkg_t hidden = vkg_matmul(g, a, b, VKG_NONE, 0);
  vkg_t out = vkg_unary(g, VKG_RELU, hidden, 0, 0);
  vkg_output(g, out);
  th_check(vkg_graph_run(g) == VKG_ERR_ARG, "running before compile is refused: %s", vkg_last_error());
  th_ok(vkg_graph_compile(g), "compile");
  th_ok(vkg_graph_compile(g), "compile twice is harmless");
  float buf[12];
  th_check(vkg_graph_read(g, hidden, buf, 12) == VKG_ERR_ARG && strstr(vkg_last_hint(), "vkg_output"),
           "reading a non-output intermediate is refused with a hint: %s", vkg_last_error());
  th_check(vkg_graph_write(g, a, buf, 11) == VKG_ERR_SHAPE, "a short write is refused: %s", vkg_last_error());
  th_check(vkg_unary(g, VKG_RELU, a, 0, 0) == VKG_NONE, "ops after compile are refused");
  vkg_graph_destroy(g);

  vkg_graph_create(ctx, &g);
  a = vkg_input(g, "a", VKG_F32, 2, s1);
  vkg_t c = vkg_input(g, "c", VKG_F32, 1, s3);
  vkg_t bad = vkg_binary(g, VKG_ADD, a, c);
  vkg_t after = vkg_unary(g, VKG_TANH, bad, 0, 0);
  vkg_status s = vkg_graph_compile(g);
  th_check(bad == VKG_NONE && after == VKG_NONE && s == VKG_ERR_SHAPE && strstr(vkg_last_error(), "add") &&
               strstr(vkg_last_error(), "(3, 4)") && strstr(vkg_last_error(), "(5,)"),
           "the first shape error names the op and shapes: %s", vkg_last_error());
  vkg_graph_destroy(g);

  vkg_graph_create(ctx, &g);
  int neg[2] = {3, -1};
  th_check(vkg_input(g, "n", VKG_F32, 2, neg) == VKG_NONE && vkg_graph_compile(g) == VKG_ERR_SHAPE,
           "negative dims are refused: %s", vkg_last_error());
  vkg_graph_destroy(g);

  vkg_graph_create(ctx, &g);
  a = vkg_input(g, "a", VKG_F32, 2, s1);
  int r[3] = {2, -1, 3}, r2[2] = {5, -1};
  vkg_t v = vkg_reshape(g, a, 3, r);
  th_check(v != VKG_NONE && vkg_dim(g, v, 1) == 2, "reshape infers -1");
  th_check(vkg_reshape(g, a, 2, r2) == VKG_NONE && vkg_graph_compile(g) == VKG_ERR_SHAPE,
           "reshape to an incompatible size is refused: %s", vkg_last_error());
  vkg_graph_destroy(g);

  struct vkg_ctx_desc d = vkg_ctx_desc_default();
  d.device = "no-such-gpu-name";
  vkg_ctx *other;
  th_check(vkg_ctx_create(&d, &other) == VKG_ERR_NO_DEVICE && strstr(vkg_last_error(), "no-such-gpu-name"),
           "an unknown device name is a clear error: %s", vkg_last_error());
  d.device = "99";
  th_check(vkg_ctx_create(&d, &other) == VKG_ERR_NO_DEVICE, "an out-of-range device index is a clear error: %s",
           vkg_last_error());
}

/* Streamed inputs: run k+1's batch is written while run k may still execute, without disturbing it. */
static void streamed(vkg_ctx *ctx) {
  vkg_graph *g;
  vkg_graph_create(ctx, &g);
  int s[1] = {1000};
  vkg_t x = vkg_input_streamed(g, "batch", VKG_F32, 1, s);
  int slot = vkg_scalar(g, "unused");
  vkg_t y = vkg_unary(g, VKG_AFFINE, x, 2, 1);
  vkg_output(g, y);
  if (!th_ok(vkg_graph_compile(g), "compile streamed")) return;
  float batch[6][1000], got[1000], ref[1000];
  for (int k = 0; k < 6; k++)
    th_fill(batch[k], 1000, -1, 1);
  int ok = th_ok(vkg_graph_write(g, x, batch[0], 1000), "stage batch 0");
  for (int k = 0; k < 5 && ok; k++) {
    ok &= th_ok(vkg_graph_set_u32(g, slot, (uint32_t)k), "scalar");
    ok &= th_ok(vkg_graph_run_async(g), "run async");
    ok &= th_ok(vkg_graph_write(g, x, batch[k + 1], 1000), "stage the next batch during the run");
    if (k % 2 == 1 || k == 4) { /* reading waits for the run */
      ok &= th_ok(vkg_graph_read(g, y, got, 1000), "read");
      for (int i = 0; i < 1000; i++)
        ref[i] = 2 * batch[k][i] + 1;
      char what[64];
      snprintf(what, sizeof what, "run %d saw its own batch, not the one staged after it", k);
      ok &= th_close(what, got, ref, 1000, 0, 0);
    }
  }
  ok &= th_ok(vkg_graph_run(g), "run the last staged batch");
  vkg_graph_read(g, y, got, 1000);
  for (int i = 0; i < 1000; i++)
    ref[i] = 2 * batch[5][i] + 1;
  th_close("the batch staged during run 4 reached run 5", got, ref, 1000, 0, 0);
  vkg_graph_destroy(g);
}

/* The pipeline cache is saved on destroy, reused on the next start, and a damaged file is ignored. */
static void pipeline_cache(void) {
  char path[] = "/tmp/vkgen-cache-XXXXXX";
  int fd = mkstemp(path);
  if (fd >= 0) close(fd);
  for (int round = 0; round < 3; round++) {
    if (round == 2) { /* damage it */
      FILE *f = fopen(path, "wb");
      fputs("this is not a pipeline cache, but it is long enough to have a header", f);
      fclose(f);
    }
    struct vkg_ctx_desc d = vkg_ctx_desc_default();
    d.validate = 1;
    d.pipeline_cache = path;
    vkg_ctx *ctx;
    if (!th_ok(vkg_ctx_create(&d, &ctx), "context with a cache file")) break;
    vkg_graph *g;
    vkg_graph_create(ctx, &g);
    int s[1] = {5};
    vkg_t y = vkg_unary(g, VKG_SQUARE, vkg_input(g, "x", VKG_F32, 1, s), 0, 0);
    vkg_output(g, y);
    float x[5] = {1, 2, 3, 4, 5}, got[5], ref[5] = {1, 4, 9, 16, 25};
    th_ok(vkg_graph_compile(g), "compile");
    vkg_graph_write(g, 0, x, 5);
    th_ok(th_run(g), "run");
    vkg_graph_read(g, y, got, 5);
    th_close(round == 2 ? "runs with a damaged cache file" : "runs with the cache file", got, ref, 5, 0, 0);
    vkg_graph_destroy(g);
    th_check(vkg_ctx_validation_messages(ctx) == 0, "no validation messages");
    vkg_ctx_destroy(ctx);
    /* At least the 32-byte header (lavapipe keeps no compiled code in it; GPU drivers do). */
    struct stat st = {0};
    int found = stat(path, &st) == 0;
    th_check(found && st.st_size >= 32, "pipeline cache saved (%lld bytes)", (long long)st.st_size);
  }
  unlink(path);
}

/* The validation layer is live: a deliberately invalid call is counted (then the count is reset so
 * the test's own verdict stays about vkgen's calls). */
static void validation_is_live(vkg_ctx *ctx) {
  VkBufferCreateInfo bi = {.sType = VK_STRUCTURE_TYPE_BUFFER_CREATE_INFO,
                           .size = 0, /* invalid: size must be > 0 */
                           .usage = VK_BUFFER_USAGE_STORAGE_BUFFER_BIT};
  VkBuffer buf = VK_NULL_HANDLE;
  uint32_t before = vkg_ctx_validation_messages(ctx);
  fprintf(stderr, "(the next validation error is expected)\n");
  VkResult r = vkCreateBuffer(ctx->device, &bi, NULL, &buf);
  if (r == VK_SUCCESS && buf) vkDestroyBuffer(ctx->device, buf, NULL);
  th_check(vkg_ctx_validation_messages(ctx) > before, "the validation layer reports an invalid call");
  ctx->validation_messages = before;
}

int main(void) {
  vkg_ctx *ctx = th_ctx();
  validation_is_live(ctx);
  th_seed(3);
  replay(ctx);
  memory_reuse(ctx);
  barriers(ctx);
  bound_and_fp16(ctx);
  errors(ctx);
  pipeline_cache();
  streamed(ctx);
  return th_finish(ctx);
}
