/* A small convolutional network trained for 20 Adam steps on GPU matches PyTorch step by step.
 * The fixture (tests/fixtures/train_ref.safetensors) is made by tools/train_fixture.py: the initial
 * weights, 20 batches, PyTorch's loss at every step and its final weights. The whole step (forward,
 * backward, Adam) is one recorded graph, replayed per batch. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "harness.h"

#ifndef FIXTURE_DIR
#define FIXTURE_DIR "tests/fixtures"
#endif

enum { STEPS = 20, B = 8 };

static const char *names[] = {"conv1.weight", "bn1.weight", "bn1.bias",  "bn1.running_mean", "bn1.running_var",
                              "conv2.weight", "conv2.bias", "fc.weight", "fc.bias"};
enum { C1W, BNW, BNB, BNM, BNV, C2W, C2B, FCW, FCB, NP };
static const int shapes[NP][4] = {{4, 1, 3, 3}, {4}, {4}, {4}, {4}, {8, 4, 3, 3}, {8}, {10, 128}, {10}};
static const int ndims[NP] = {4, 1, 1, 1, 1, 4, 1, 2, 1};

int main(void) {
  vkg_ctx *ctx = th_ctx();
  vkg_st *st;
  if (!th_ok(vkg_st_open(FIXTURE_DIR "/train_ref.safetensors", &st), "open fixture")) return th_finish(ctx);

  vkg_tensor *p[NP];
  for (int i = 0; i < NP; i++) {
    char full[64];
    snprintf(full, sizeof full, "init.%s", names[i]);
    th_ok(vkg_tensor_create(ctx, VKG_F32, ndims[i], shapes[i], &p[i]), "param");
    th_ok(vkg_st_load_tensor(st, full, p[i]), full);
  }
  vkg_tensor *trainable[7] = {p[C1W], p[BNW], p[BNB], p[C2W], p[C2B], p[FCW], p[FCB]};
  struct vkg_optim_desc od = vkg_optim_desc_default(VKG_ADAM);
  vkg_optim *opt;
  th_ok(vkg_optim_create(ctx, &od, 7, trainable, &opt), "optimizer");

  // ---- the training step as one graph ----
  vkg_graph *g;
  vkg_graph_create(ctx, &g);
  int lr = vkg_scalar(g, "lr"), step = vkg_scalar(g, "step");
  vkg_t id[NP];
  for (int i = 0; i < NP; i++) {
    id[i] = vkg_bind(g, p[i]);
    if (i != BNM && i != BNV) vkg_requires_grad(g, id[i]);
  }
  int xs[4] = {B, 1, 8, 8}, ys[1] = {B}, flat[2] = {B, 128};
  vkg_t x = vkg_input_streamed(g, "x", VKG_F32, 4, xs), y = vkg_input_streamed(g, "y", VKG_I32, 1, ys);
  struct vkg_conv2d_desc d1 = vkg_conv2d_desc_default(), d2 = vkg_conv2d_desc_default();
  d1.pad_h = d1.pad_w = 1;
  d2.pad_h = d2.pad_w = 1, d2.stride_h = d2.stride_w = 2;
  vkg_t h = vkg_conv2d(g, x, id[C1W], VKG_NONE, &d1); // (B, 4, 8, 8)
  h = vkg_batchnorm(g, h, id[BNW], id[BNB], id[BNM], id[BNV], 0.1f, 1e-5f, 1);
  h = vkg_unary(g, VKG_RELU, h, 0, 0);
  h = vkg_unary(g, VKG_RELU, vkg_conv2d(g, h, id[C2W], id[C2B], &d2), 0, 0);               // (B, 8, 4, 4)
  vkg_t logits = vkg_matmul(g, vkg_reshape(g, h, 2, flat), id[FCW], id[FCB], VKG_TRANS_B); // (B, 10)
  vkg_t loss = vkg_cross_entropy_loss(g, logits, y, -100);
  vkg_backward(g, loss);
  vkg_t tid[7] = {id[C1W], id[BNW], id[BNB], id[C2W], id[C2B], id[FCW], id[FCB]};
  vkg_optim_apply(g, opt, tid);
  vkg_t hist = vkg_history(g, loss, STEPS, step);
  if (!th_ok(vkg_graph_compile(g), "compile training step")) return th_finish(ctx);

  // ---- 20 steps, the loss read back once at the end ----
  float *xall = th_alloc((size_t)STEPS * B * 64), losses[STEPS], want[STEPS];
  int32_t yall[STEPS * B];
  int sx[5] = {STEPS, B, 1, 8, 8}, sl[1] = {STEPS};
  th_ok(vkg_st_read_f32(st, "x", 5, sx, xall), "fixture x");
  th_ok(vkg_st_read_f32(st, "losses", 1, sl, want), "fixture losses");
  size_t ybytes;
  const void *yraw = vkg_st_data(st, vkg_st_find(st, "y"), &ybytes);
  th_check(yraw && ybytes == sizeof yall, "fixture labels are %d i32 values", STEPS * B);
  if (yraw) memcpy(yall, yraw, sizeof yall);
  for (int k = 0; k < STEPS; k++) {
    vkg_graph_write(g, x, xall + (size_t)k * B * 64, (size_t)B * 64);
    vkg_graph_write_i32(g, y, yall + k * B, B);
    vkg_graph_set_f32(g, lr, 1e-2f);
    vkg_graph_set_u32(g, step, (uint32_t)(k + 1));
    th_ok(vkg_graph_run_async(g), "step");
  }
  th_ok(vkg_graph_read(g, hist, losses, STEPS), "read loss history");
  th_close("loss at each of 20 steps equals PyTorch's", losses, want, STEPS, 1e-5f, 2e-4f);

  // ---- final weights ----
  for (int i = 0; i < NP; i++) {
    size_t n = vkg_tensor_numel(p[i]);
    float *got = th_alloc(n), *ref = th_alloc(n);
    char full[64];
    snprintf(full, sizeof full, "final.%s", names[i]);
    vkg_tensor_download_f32(p[i], got, n);
    th_ok(vkg_st_read_f32(st, full, ndims[i], shapes[i], ref), full);
    char what[96];
    snprintf(what, sizeof what, "%s after 20 steps equals PyTorch's", names[i]);
    th_close(what, got, ref, n, 2e-4f, 2e-3f);
    free(got);
    free(ref);
  }
  free(xall);
  vkg_graph_destroy(g);
  vkg_optim_destroy(opt);
  for (int i = 0; i < NP; i++)
    vkg_tensor_destroy(p[i]);
  vkg_st_close(st);
  return th_finish(ctx);
}
