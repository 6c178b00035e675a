/* Tensors larger than one storage-buffer binding (the device's maxStorageBufferRange, 128 MiB on
 * lavapipe): binding one is refused by vkg_graph_compile with VKG_ERR_UNSUPPORTED naming the op, the
 * tensor's bytes and the limit, for an input (nothing allocated), a bound tensor and an embedding table
 * (when the device has the memory); a tensor of exactly the limit compiles and runs correctly. And
 * vkg_embedding_rows, the lookup in a block of rows that lets a large table be split: exact against a
 * plain-C reference, the sum over blocks equals vkg_embedding of the whole table, a gradient with
 * first != 0 and a negative first are clear errors. Shape letters: V vocabulary, C channels, N ids. */
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "harness.h"
#include "internal.h"

/* Does the last error name the op, the bytes and the limit? */
static int names_all(const char *op, unsigned long long bytes, unsigned long long limit) {
  char b[32], l[64];
  snprintf(b, sizeof b, "%llu bytes", bytes);
  snprintf(l, sizeof l, "maxStorageBufferRange of %llu bytes", limit);
  const char *e = vkg_last_error();
  return strstr(e, op) && strstr(e, b) && strstr(e, l) && *vkg_last_hint();
}

// ---- the compile-time guard ----

static void over_limit(vkg_ctx *ctx, unsigned long long limit) {
  /* An input of limit + 4 bytes: refused before any memory is allocated. */
  vkg_graph *g;
  vkg_graph_create(ctx, &g);
  int n[1] = {(int)(limit / 4 + 1)};
  vkg_t x = vkg_input(g, "x", VKG_F32, 1, n);
  vkg_output(g, vkg_unary(g, VKG_RELU, x, 0, 0));
  vkg_status s = vkg_graph_compile(g);
  th_check(s == VKG_ERR_UNSUPPORTED && names_all("relu", limit + 4, limit),
           "an input of limit + 4 bytes is refused, naming op, bytes and limit: %s (hint: %s)", vkg_last_error(),
           vkg_last_hint());
  s = vkg_graph_compile(g);
  th_check(s == VKG_ERR_UNSUPPORTED && strstr(vkg_last_error(), "maxStorageBufferRange"),
           "compiling again gives the same error: %s", vkg_last_error());
  vkg_graph_destroy(g);

  /* A bound embedding table just over the limit (allocated: only when the device has room). */
  const struct vkg_device_info *info = vkg_ctx_device(ctx);
  const int C = 64, V = (int)(limit / (4 * C)) + 1;
  if (info->device_memory < 4 * limit) {
    printf("note: skipping the bound-table case: %llu bytes of device memory\n",
           (unsigned long long)info->device_memory);
    return;
  }
  vkg_tensor *table;
  int ts[2] = {V, C};
  if (!th_ok(vkg_tensor_create(ctx, VKG_F32, 2, ts, &table), "a table of limit + 256 bytes")) return;
  vkg_graph_create(ctx, &g);
  int is[1] = {5};
  vkg_t ids = vkg_input(g, "ids", VKG_I32, 1, is);
  vkg_output(g, vkg_embedding(g, vkg_bind(g, table), ids));
  s = vkg_graph_compile(g);
  th_check(s == VKG_ERR_UNSUPPORTED && names_all("embedding", (unsigned long long)V * C * 4, limit),
           "a bound table of (%d, %d) is refused: %s", V, C, vkg_last_error());
  vkg_graph_destroy(g);
  vkg_tensor_destroy(table);
}

/* A tensor of exactly the limit binds, and its last elements are computed (no silent truncation). */
static void at_limit(vkg_ctx *ctx, unsigned long long limit) {
  if (vkg_ctx_device(ctx)->device_memory < 4 * limit) return;
  size_t n = (size_t)(limit / 4);
  vkg_graph *g;
  vkg_graph_create(ctx, &g);
  int shape[1] = {(int)n};
  vkg_t x = vkg_input(g, "x", VKG_F32, 1, shape);
  vkg_t y = vkg_unary(g, VKG_AFFINE, x, 2.0f, 1.0f);
  vkg_output(g, y);
  float *host = th_alloc(n), *got = th_alloc(n);
  for (size_t i = 0; i < n; i++)
    host[i] = (float)(i % 4099) - 2000.0f;
  if (th_ok(vkg_graph_compile(g), "a tensor of exactly the limit") && th_ok(vkg_graph_write(g, x, host, n), "write") &&
      th_ok(th_run(g), "run") && th_ok(vkg_graph_read(g, y, got, n), "read")) {
    size_t bad = 0;
    for (size_t i = 0; i < n; i++)
      bad += got[i] != 2.0f * host[i] + 1.0f;
    th_check(bad == 0, "2x + 1 over all %zu values of a %llu-byte tensor (%zu wrong)", n, limit, bad);
  }
  free(host), free(got);
  vkg_graph_destroy(g);
}

// ---- vkg_embedding_rows ----

/* out (N, C) = rows of a block holding table rows [first, first + R). */
static void ref_embedding_rows(float *out, const float *table, const int32_t *ids, int N, int R, int C, int first) {
  for (int i = 0; i < N; i++)
    for (int c = 0; c < C; c++) {
      int64_t r = (int64_t)ids[i] - first;
      out[(size_t)i * C + c] = r >= 0 && r < R ? table[r * C + c] : 0.0f;
    }
}

static void rows_vs_ref(vkg_ctx *ctx, int R, int C, int N, int first) {
  vkg_graph *g;
  vkg_graph_create(ctx, &g);
  int ts[2] = {R, C}, is[1] = {N};
  float *table;
  vkg_t t = th_input(g, 2, ts, -1, 1, &table);
  vkg_t ids = vkg_input(g, "ids", VKG_I32, 1, is);
  vkg_t y = vkg_embedding_rows(g, t, ids, first);
  vkg_output(g, y);
  int32_t *id = malloc(sizeof *id * (size_t)N);
  /* Ids below, inside and past the block, and the extremes of int32. */
  for (int i = 0; i < N; i++)
    id[i] = first - 3 + (int)((unsigned)(i * 7919) % (unsigned)(R + 6));
  if (N > 2) id[0] = INT_MIN, id[1] = INT_MAX;
  char what[96];
  snprintf(what, sizeof what, "embedding_rows R=%d C=%d N=%d first=%d", R, C, N, first);
  float *got = th_alloc((size_t)N * C), *ref = th_alloc((size_t)N * C);
  if (th_ok(vkg_graph_compile(g), what) && th_ok(th_write_inputs(g), what) &&
      th_ok(vkg_graph_write_i32(g, ids, id, (size_t)N), what) && th_ok(th_run(g), what) &&
      th_ok(vkg_graph_read(g, y, got, (size_t)N * C), what)) {
    ref_embedding_rows(ref, table, id, N, R, C, first);
    th_close(what, got, ref, (size_t)N * C, 0, 0);
  }
  free(id), free(got), free(ref);
  vkg_graph_destroy(g);
}

/* A (V, C) table split into blocks of `rows`: the sum of the blocks' lookups is the whole lookup. */
static void blocks_sum(vkg_ctx *ctx, int V, int C, int rows, int N) {
  vkg_graph *g;
  vkg_graph_create(ctx, &g);
  int ts[2] = {V, C}, is[2] = {N, 1};
  float *table;
  vkg_t t = th_input(g, 2, ts, -1, 1, &table);
  vkg_t ids = vkg_input(g, "ids", VKG_I32, 2, is);
  vkg_t whole = vkg_embedding(g, t, ids), sum = VKG_NONE;
  for (int first = 0; first < V; first += rows) {
    vkg_t e = vkg_embedding_rows(g, vkg_slice(g, t, 0, first, first + rows < V ? first + rows : V), ids, first);
    sum = first ? vkg_binary(g, VKG_ADD, sum, e) : e;
  }
  vkg_output(g, whole);
  vkg_output(g, sum);
  int32_t *id = malloc(sizeof *id * (size_t)N);
  for (int i = 0; i < N; i++)
    id[i] = (int)((unsigned)(i * 104729 + 7) % (unsigned)(V + 2)) - 1;
  char what[96];
  snprintf(what, sizeof what, "blocks of %d rows of a (%d, %d) table, %d ids", rows, V, C, N);
  float *a = th_alloc((size_t)N * C), *b = th_alloc((size_t)N * C);
  if (th_ok(vkg_graph_compile(g), what) && th_ok(th_write_inputs(g), what) &&
      th_ok(vkg_graph_write_i32(g, ids, id, (size_t)N), what) && th_ok(th_run(g), what) &&
      th_ok(vkg_graph_read(g, whole, a, (size_t)N * C), what) && th_ok(vkg_graph_read(g, sum, b, (size_t)N * C), what))
    th_close(what, b, a, (size_t)N * C, 0, 0);
  free(id), free(a), free(b);
  vkg_graph_destroy(g);
}

static void rows_errors(vkg_ctx *ctx) {
  /* A gradient through a block with first != 0 is refused; with first = 0 it builds. */
  for (int first = 0; first <= 5; first += 5) {
    vkg_graph *g;
    vkg_graph_create(ctx, &g);
    int ts[2] = {7, 3}, is[1] = {4}, ys[2] = {4, 3};
    vkg_t t = vkg_input(g, "table", VKG_F32, 2, ts), target = vkg_input(g, "target", VKG_F32, 2, ys);
    vkg_requires_grad(g, t);
    vkg_t ids = vkg_input(g, "ids", VKG_I32, 1, is);
    vkg_backward(g, vkg_mse_loss(g, vkg_embedding_rows(g, t, ids, first), target));
    vkg_status s = vkg_graph_compile(g);
    if (first)
      th_check(s == VKG_ERR_UNSUPPORTED && strstr(vkg_last_error(), "starting at row 5"),
               "a gradient of a block starting at row 5 is a clear error: %s", vkg_last_error());
    else
      th_check(s == VKG_OK, "a gradient of a block starting at row 0 builds: %s", vkg_last_error());
    vkg_graph_destroy(g);
  }
  vkg_graph *g;
  vkg_graph_create(ctx, &g);
  int ts[2] = {7, 3}, is[1] = {4};
  vkg_t t = vkg_input(g, "table", VKG_F32, 2, ts), ids = vkg_input(g, "ids", VKG_I32, 1, is);
  vkg_t y = vkg_embedding_rows(g, t, ids, -1);
  th_check(y == VKG_NONE && vkg_graph_compile(g) == VKG_ERR_ARG && strstr(vkg_last_error(), "first row -1"),
           "a negative first row is an argument error: %s", vkg_last_error());
  vkg_graph_destroy(g);
}

int main(void) {
  vkg_ctx *ctx = th_ctx();
  th_seed(11);
  unsigned long long limit = ctx->props.limits.maxStorageBufferRange;
  printf("note: maxStorageBufferRange %llu bytes\n", limit);
  /* Where the range limit is 4 GiB (most GPUs), a tensor that large meets other limits first (32-bit
   * indexing in shaders, maxMemoryAllocationSize), each with its own clear error: the range checks are
   * for devices with a smaller limit, such as lavapipe's 128 MiB. */
  if (limit <= (1ull << 30)) {
    over_limit(ctx, limit);
    at_limit(ctx, limit);
  } else {
    printf("note: the limit is over 1 GiB: the over- and at-limit cases are not run on this device\n");
  }
  rows_vs_ref(ctx, 1, 1, 1, 0);
  rows_vs_ref(ctx, 13, 7, 11, 5);
  rows_vs_ref(ctx, 127, 13, 257, 1000);
  rows_vs_ref(ctx, 300, 127, 1000, 43648);
  blocks_sum(ctx, 37, 13, 16, 50);
  blocks_sum(ctx, 300, 64, 128, 513);
  rows_errors(ctx);
  return th_finish(ctx);
}
