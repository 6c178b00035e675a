/* The gated PixelCNN (src/models/pixelcnn.c):
 *   - the autoregressive property: for every sub-pixel t of a small image, a copy of the image whose
 *     sub-pixels t, t+1, ... are all changed gives the same logits for sub-pixels 0..t, while the
 *     logits of t+1 in the same row do change, and a pixel's logits depend on the pixel above and to
 *     its right (no blind spot); grey and colour (mask A and B, R -> G -> B), both stacks, dilation,
 *     a 5x5 kernel, class conditioning;
 *   - the loss and every gradient against the PyTorch twin tools/pixelcnn_twin.py (same weights, batch
 *     and masks; its init and masks are checked against the C ones too);
 *   - pixelcnn_evaluate against the loss, and the sampler: with temperature 0 every drawn level is the
 *     most probable one under a full forward pass of the finished image, and kept rows stay as given. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "harness.h"
#include "models/pixelcnn.h"
#include "nn/nn.h"

#define TWIN FIXTURE_DIR "/../../tools/pixelcnn_twin.py"

/* The weights of p as the forward pass uses them, bound in g. */
static void bind_weights(vkg_graph *g, const struct pixelcnn_config *c, const struct nn_params *p,
                         const struct pixelcnn_consts *k, int train, vkg_t *ids, struct pixelcnn_w *w) {
  nn_bind_all(g, p, train ? 0 : -1, ids);
  pixelcnn_weights(g, c, ids, k, w);
}

/* Logits (B, C, 256, S, S) of images x (B, C, S, S) levels with labels y (B) (conditional). */
static int forward(vkg_ctx *ctx, const struct pixelcnn_config *c, const struct nn_params *p,
                   const struct pixelcnn_consts *k, int B, const int32_t *x, const int32_t *y, float *logits) {
  vkg_graph *g;
  vkg_graph_create(ctx, &g);
  vkg_t ids[512];
  struct pixelcnn_w *w = malloc(sizeof *w);
  bind_weights(g, c, p, k, 0, ids, w);
  int xs[4] = {B, c->channels, c->size, c->size}, ys[1] = {B};
  vkg_t xi = vkg_input(g, "x", VKG_I32, 4, xs), yi = c->classes ? vkg_input(g, "y", VKG_I32, 1, ys) : VKG_NONE;
  vkg_t l = pixelcnn_logits(g, c, w, xi, yi);
  vkg_output(g, l);
  size_t P = (size_t)c->channels * c->size * c->size;
  int ok = th_ok(vkg_graph_compile(g), "compile forward") &&
           th_ok(vkg_graph_write_i32(g, xi, x, (size_t)B * P), "write x") &&
           (!c->classes || th_ok(vkg_graph_write_i32(g, yi, y, (size_t)B), "write y")) && th_ok(th_run(g), "run") &&
           th_ok(vkg_graph_read(g, l, logits, (size_t)B * P * 256), "read logits");
  free(w);
  vkg_graph_destroy(g);
  return ok;
}

/* Sub-pixel t in raster order (rows, columns, then channels) -> its index in (C, S, S). */
static size_t chw(const struct pixelcnn_config *c, int t) {
  int C = c->channels, S = c->size, pix = t / C, ch = t % C;
  return (size_t)ch * S * S + (size_t)pix;
}

/* max |a - b| over the 256 logits of sub-pixel t of images ia and ib. */
static float logit_diff(const struct pixelcnn_config *c, const float *lg, int ia, int ib, int t) {
  int C = c->channels, SS = c->size * c->size;
  size_t P = (size_t)C * SS, pix = (size_t)(t / C), ch = (size_t)(t % C);
  float m = 0;
  for (int v = 0; v < 256; v++) {
    size_t o = (ch * 256 + (size_t)v) * SS + pix;
    float d = fabsf(lg[(size_t)ia * P * 256 + o] - lg[(size_t)ib * P * 256 + o]);
    if (!(d <= m)) m = d; /* NaN counts as a difference */
  }
  return m;
}

static void check_autoregressive(vkg_ctx *ctx, const char *tag, struct pixelcnn_config c) {
  struct nn_params p;
  struct pixelcnn_consts k;
  nn_params_init(&p, ctx);
  if (!th_ok(pixelcnn_params_create(&p, &c, 7), "params") || !th_ok(pixelcnn_consts_create(ctx, &c, &k), "consts"))
    return;
  const int C = c.channels, S = c.size, T = C * S * S, B = T + 1 + S;
  /* Image 0 is the base; image 1 + t has every sub-pixel >= t redrawn; image 1 + T + j (j < S - 1)
   * changes only the pixel (1, j + 1), above and right of (2, j). */
  int32_t *x = malloc(sizeof *x * (size_t)B * T), y[512];
  th_seed(11);
  for (int i = 0; i < T; i++)
    x[i] = (int32_t)th_uniform(0, 256);
  for (int b = 1; b < B; b++) {
    memcpy(x + (size_t)b * T, x, sizeof *x * (size_t)T);
    y[b] = 1;
  }
  y[0] = 1;
  for (int t = 0; t < T; t++)
    for (int u = t; u < T; u++) {
      int32_t *v = &x[(size_t)(1 + t) * T + chw(&c, u)];
      *v = (*v + 1 + (int32_t)th_uniform(0, 254)) % 256; /* always a different level */
    }
  for (int j = 0; j + 1 < S; j++)
    for (int ch = 0; ch < C; ch++) {
      int32_t *v = &x[(size_t)(1 + T + j) * T + (size_t)ch * S * S + S + (size_t)j + 1];
      *v = (*v + 128) % 256;
    }
  float *lg = malloc(sizeof *lg * (size_t)B * T * 256);
  if (!forward(ctx, &c, &p, &k, B, x, y, lg)) goto done;
  int leaks = 0, deaf = 0, blind = 0;
  for (int t = 0; t < T; t++) {
    for (int u = 0; u <= t; u++)
      if (logit_diff(&c, lg, 0, 1 + t, u) > 0) {
        if (leaks++ < 5) printf("  %s: logits of sub-pixel %d change when sub-pixels >= %d do\n", tag, u, t);
      }
    /* The next sub-pixel of the same row must see sub-pixel t (the horizontal stack and the masks). */
    if (t + 1 < T && (t + 1) / C / S == t / C / S && !(logit_diff(&c, lg, 0, 1 + t, t + 1) > 1e-6f)) {
      if (deaf++ < 5) printf("  %s: logits of sub-pixel %d do not depend on sub-pixel %d\n", tag, t + 1, t);
    }
  }
  for (int j = 0; j + 1 < S; j++)
    if (!(logit_diff(&c, lg, 0, 1 + T + j, (2 * S + j) * C) > 1e-6f)) {
      if (blind++ < 5) printf("  %s: pixel (2, %d) does not see pixel (1, %d)\n", tag, j, j + 1);
    }
  th_check(leaks == 0, "%s: no logit depends on its own or a later sub-pixel (%d of %d images leak)", tag, leaks, T);
  th_check(deaf == 0, "%s: each sub-pixel's logits depend on the previous sub-pixel of its row", tag);
  th_check(blind == 0, "%s: no blind spot (pixel (2, j) sees pixel (1, j + 1))", tag);
done:
  free(lg);
  free(x);
  pixelcnn_consts_free(&k);
  nn_params_free(&p);
}

// ---- the twin ----

static void write_twin_case(vkg_ctx *ctx, const char *tag, struct pixelcnn_config c, int B, uint64_t seed) {
  struct nn_params p;
  struct pixelcnn_consts k;
  nn_params_init(&p, ctx);
  if (!th_ok(pixelcnn_params_create(&p, &c, seed), "params") || !th_ok(pixelcnn_consts_create(ctx, &c, &k), "consts"))
    return;
  char name[128];
  snprintf(name, sizeof name, "%s.safetensors", tag);
  th_ok(pixelcnn_save(th_tmppath(name), &c, &p), "save");
  const int T = c.channels * c.size * c.size;
  int32_t *x = malloc(sizeof *x * (size_t)B * T), y[64];
  th_seed(seed);
  for (int i = 0; i < B * T; i++)
    x[i] = (int32_t)th_uniform(0, 256);
  for (int b = 0; b < B; b++)
    y[b] = c.classes ? b % c.classes : 0;
  vkg_graph *g;
  vkg_graph_create(ctx, &g);
  vkg_t ids[512];
  struct pixelcnn_w *w = malloc(sizeof *w);
  bind_weights(g, &c, &p, &k, 1, ids, w);
  int xs[4] = {B, c.channels, c.size, c.size}, ys[1] = {B};
  vkg_t xi = vkg_input(g, "x", VKG_I32, 4, xs), yi = c.classes ? vkg_input(g, "y", VKG_I32, 1, ys) : VKG_NONE;
  vkg_t loss = pixelcnn_nll(g, &c, w, xi, yi);
  vkg_backward(g, loss);
  vkg_output(g, loss);
  for (int i = 0; i < p.n; i++)
    vkg_output(g, vkg_grad(g, ids[i]));
  vkg_st_writer *wr = vkg_st_writer_create();
  if (th_ok(vkg_graph_compile(g), "compile twin case") && th_ok(vkg_graph_write_i32(g, xi, x, (size_t)B * T), "x") &&
      (!c.classes || th_ok(vkg_graph_write_i32(g, yi, y, (size_t)B), "y")) && th_ok(th_run(g), "run")) {
    int64_t xs64[4] = {B, c.channels, c.size, c.size}, ys64[1] = {B};
    vkg_st_add(wr, "x", "I32", 4, xs64, x, sizeof *x * (size_t)B * T);
    vkg_st_add(wr, "y", "I32", 1, ys64, y, sizeof *y * (size_t)B);
    float v;
    int one[1] = {1};
    vkg_graph_read(g, loss, &v, 1);
    vkg_st_add_f32(wr, "loss", 1, one, &v);
    for (int i = 0; i < p.n; i++) {
      size_t n = vkg_tensor_numel(p.t[i]);
      float *gr = malloc(sizeof *gr * n);
      int shape[1] = {(int)n};
      th_ok(vkg_graph_read(g, vkg_grad(g, ids[i]), gr, n), "read grad");
      snprintf(name, sizeof name, "grad.%s", p.names[i]);
      vkg_st_add_f32(wr, name, 1, shape, gr);
      free(gr);
    }
    /* The masks as the C code makes them, for the twin to compare with its own. */
    const int P = c.width, kh = c.kernel / 2 + 1, Q = c.out_width, C = c.channels;
    const struct {
      const char *name;
      int O, I, taps, a, gate;
    } masks[] = {{"mask.h_first", 2 * P, C, kh, 1, 1},
                 {"mask.h", 2 * P, P, kh, 0, 1},
                 {"mask.pp", P, P, 1, 0, 0},
                 {"mask.out1", Q, P, 1, 0, 0},
                 {"mask.out2", C * 256, Q, 1, 0, 0}};
    for (int m = 0; m < 5; m++) {
      int n = masks[m].O * masks[m].I * masks[m].taps, shape[1] = {n};
      float *mk = malloc(sizeof *mk * (size_t)n);
      pixelcnn_mask(masks[m].O, masks[m].I, masks[m].taps, C, masks[m].a, masks[m].gate, mk);
      vkg_st_add_f32(wr, masks[m].name, 1, shape, mk);
      free(mk);
    }
    char s[32];
    snprintf(s, sizeof s, "%llu", (unsigned long long)seed);
    vkg_st_add_metadata(wr, "init_seed", s);
    snprintf(name, sizeof name, "%s_io.safetensors", tag);
    th_ok(vkg_st_write(wr, th_tmppath(name)), "write io");

    /* pixelcnn_evaluate gives the same NLL, per image: loss * sub-pixels (B is not a multiple of its
     * chunk when B < 64, so the padding path of a short chunk is what runs). */
    struct pixelcnn_data d = {.n = B, .c = c.channels, .s = c.size};
    d.levels = malloc((size_t)B * T);
    uint8_t lab[64];
    for (int i = 0; i < B * T; i++)
      d.levels[i] = (uint8_t)x[i];
    for (int b = 0; b < B; b++)
      lab[b] = (uint8_t)y[b];
    d.labels = lab;
    double nats = 0;
    if (th_ok(pixelcnn_evaluate(&c, &p, &d, B, &nats, NULL), "evaluate"))
      th_check(fabs(nats - (double)v * T) <= 1e-4 * fabs(nats), "%s: evaluate %.6f nats/image vs loss * P %.6f", tag,
               nats, (double)v * T);
    free(d.levels);
  }
  vkg_st_writer_destroy(wr);
  free(w);
  free(x);
  vkg_graph_destroy(g);
  pixelcnn_consts_free(&k);
  nn_params_free(&p);
}

// ---- sampling ----

static void check_sampler(vkg_ctx *ctx, const char *tag, struct pixelcnn_config c, int B, int unroll, int keep) {
  struct nn_params p;
  struct pixelcnn_consts k;
  nn_params_init(&p, ctx);
  if (!th_ok(pixelcnn_params_create(&p, &c, 3), "params") || !th_ok(pixelcnn_consts_create(ctx, &c, &k), "consts"))
    return;
  const int T = c.channels * c.size * c.size, S = c.size;
  struct pixelcnn_sampler *sm;
  uint8_t *given = malloc((size_t)B * T);
  int32_t y[16], *x = malloc(sizeof *x * (size_t)B * T);
  float *img = malloc(sizeof *img * (size_t)B * T), *lg = malloc(sizeof *lg * (size_t)B * T * 256);
  for (int i = 0; i < B * T; i++)
    given[i] = (uint8_t)(i * 37 % 256);
  for (int b = 0; b < B; b++)
    y[b] = b % (c.classes ? c.classes : 1);
  if (th_ok(pixelcnn_sampler_create(&c, &p, B, unroll, &sm), "sampler") &&
      th_ok(pixelcnn_sampler_run(sm, given, keep, y, 0, 5, img), "sample")) {
    for (int i = 0; i < B * T; i++)
      x[i] = (int32_t)lrintf(img[i] * 255);
    int bad_keep = 0, bad_draw = 0;
    for (int b = 0; b < B; b++)
      for (int ch = 0; ch < c.channels; ch++)
        for (int i = 0; i < keep * S; i++) {
          size_t o = (size_t)b * T + (size_t)ch * S * S + (size_t)i;
          bad_keep += x[o] != given[o];
        }
    if (forward(ctx, &c, &p, &k, B, x, y, lg)) {
      for (int b = 0; b < B; b++)
        for (int t = keep * S * c.channels; t < T; t++) {
          size_t ch = (size_t)(t % c.channels), pix = (size_t)(t / c.channels), SS = (size_t)S * S;
          const float *l = lg + (size_t)b * T * 256 + ch * 256 * SS + pix;
          float top = -INFINITY;
          for (int v = 0; v < 256; v++)
            top = l[v * SS] > top ? l[v * SS] : top;
          int32_t got = x[(size_t)b * T + ch * SS + pix];
          if (!(l[(size_t)got * SS] >= top - 1e-4f)) {
            if (bad_draw++ < 5)
              printf("  %s: image %d sub-pixel %d drew level %d (logit %g), the best logit is %g\n", tag, b, t, got,
                     l[(size_t)got * SS], top);
          }
        }
    }
    th_check(bad_keep == 0, "%s: the %d given rows are kept (%d differ)", tag, keep, bad_keep);
    th_check(bad_draw == 0, "%s: every draw at temperature 0 is the most probable level (%d are not)", tag, bad_draw);
    pixelcnn_sampler_destroy(sm);
  }
  free(given);
  free(x);
  free(img);
  free(lg);
  pixelcnn_consts_free(&k);
  nn_params_free(&p);
}

int main(void) {
  vkg_ctx *ctx = th_ctx();
  struct pixelcnn_config grey = {.size = 6,
                                 .channels = 1,
                                 .layers = 3,
                                 .width = 8,
                                 .kernel = 3,
                                 .dilation_cycle = 2,
                                 .out_width = 16,
                                 .classes = 0};
  struct pixelcnn_config rgb = {.size = 5,
                                .channels = 3,
                                .layers = 3,
                                .width = 12,
                                .kernel = 3,
                                .dilation_cycle = 2,
                                .out_width = 24,
                                .classes = 2};
  struct pixelcnn_config wide = {.size = 7,
                                 .channels = 1,
                                 .layers = 2,
                                 .width = 6,
                                 .kernel = 5,
                                 .dilation_cycle = 1,
                                 .out_width = 12,
                                 .classes = 0};
  check_autoregressive(ctx, "grey, dilations 1 2 1", grey);
  check_autoregressive(ctx, "rgb, conditional", rgb);
  check_autoregressive(ctx, "grey, kernel 5", wide);

  write_twin_case(ctx, "grey", grey, 3, 21);
  write_twin_case(ctx, "rgb", rgb, 2, 22);
  th_twin(TWIN, "selfcheck", th_tmpdir(), "pixelcnn_twin.py selfcheck agrees with the C model");

  check_sampler(ctx, "grey sampler", grey, 2, 4, 0);
  check_sampler(ctx, "rgb sampler, 2 rows kept", rgb, 3, 5, 2);
  return th_finish(ctx);
}
