/* WaveNet on a tiny conditional model (2 stacks of dilations 1, 2, 4; receptive field 15):
 *   - causality and the receptive field (weights scaled by 4 so the far edge is above float rounding): changing input
 * t0 leaves every output before t0 bit for bit as it was, changes output t0 and output t0 + RF - 1, and leaves outputs
 * from t0 + RF on alone;
 *   - the PyTorch twin (tools/wavenet_twin.py): this program writes the weights, a batch with ignored
 *     labels and conditioning classes, the loss and every gradient computed by the graph the training
 *     loop builds; the twin recomputes them with torch autograd and fails on any difference (loss to
 *     1e-5 relative, gradients to 1e-4 of each tensor's largest value plus 1e-3 relative);
 *   - Fast WaveNet: the generator's logits at every step (K = 4 steps per submission, so the queues
 *     carry across submissions) equal the full causal forward's over the same inputs, teacher-forced
 *     and with its own greedy draws fed back;
 *   - data windows: inputs before a clip's start are the silence class, labels never leave the clip;
 *   - weights files: saved and loaded back identical, refused for another config.
 * Without /usr/bin/python3 and its torch the Python half is skipped with a note. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "harness.h"
#include "models/wavenet.h"
#include "nn/weights.h"

#define TOOL FIXTURE_DIR "/../../tools/wavenet_twin.py"

static struct wavenet_config tiny(void) {
  struct wavenet_config c = wavenet_config_default();
  c.stacks = 2, c.max_dilation = 4, c.residual = 4, c.gate = 3, c.skip = 5, c.classes = 3;
  return c;
}

/* The logits (B, T, Q) of x (B, T) with classes cond (B). */
static void logits_of(const struct wavenet_config *c, struct nn_params *p, const struct wavenet_ids *ids,
                      const int32_t *x, const int32_t *cond, int B, int T, float *out) {
  vkg_graph *g;
  th_ok(vkg_graph_create(p->ctx, &g), "graph");
  vkg_t pid[256];
  nn_bind_all(g, p, -1, pid);
  int xs[2] = {B, T}, cs[1] = {B};
  vkg_t xi = vkg_input(g, "x", VKG_I32, 2, xs), ci = vkg_input(g, "c", VKG_I32, 1, cs);
  vkg_t l = wavenet_logits(g, c, ids, pid, xi, ci);
  vkg_output(g, l);
  th_ok(vkg_graph_compile(g), "compile the forward");
  th_ok(vkg_graph_write_i32(g, xi, x, (size_t)B * T), "write x");
  th_ok(vkg_graph_write_i32(g, ci, cond, (size_t)B), "write the classes");
  th_ok(th_run(g), "run");
  th_ok(vkg_graph_read(g, l, out, (size_t)B * T * WAVENET_Q), "read the logits");
  vkg_graph_destroy(g);
}

/* Multiplies every parameter by k (so that a change travels the whole receptive field visibly: at the
 * default scale its effect at the far edge falls below float resolution). */
static void scale_params(struct nn_params *p, float k) {
  for (int i = 0; i < p->n; i++) {
    size_t n = vkg_tensor_numel(p->t[i]);
    float *v = th_alloc(n);
    th_ok(vkg_tensor_download_f32(p->t[i], v, n), "read a parameter");
    for (size_t j = 0; j < n; j++)
      v[j] *= k;
    th_ok(vkg_tensor_upload_f32(p->t[i], v, n), "write it");
    free(v);
  }
}

static void causality(const struct wavenet_config *c, struct nn_params *p, const struct wavenet_ids *ids) {
  enum { B = 2, T = 40, t0 = 17 };
  int rf = wavenet_receptive_field(c);
  th_check(rf == 15, "receptive field 1 + 2 (1 + 2 + 4) = 15: %d", rf);
  int32_t x[B * T], cond[B] = {2, 0};
  for (int i = 0; i < B * T; i++)
    x[i] = (int32_t)th_uniform(0, 256);
  size_t n = (size_t)B * T * WAVENET_Q;
  float *a = th_alloc(n), *b = th_alloc(n);
  logits_of(c, p, ids, x, cond, B, T, a);
  x[t0] = (x[t0] + 100) % 256; /* batch row 0 */
  logits_of(c, p, ids, x, cond, B, T, b);
  int before = 1, after = 1, other = 1;
  double at_t0 = 0, at_edge = 0;
  for (int t = 0; t < T; t++)
    for (int q = 0; q < WAVENET_Q; q++) {
      size_t i = (size_t)t * WAVENET_Q + q;
      double d = fabs(a[i] - b[i]);
      if (t < t0) before &= a[i] == b[i];
      if (t >= t0 + rf) after &= a[i] == b[i];
      if (t == t0) at_t0 += d;
      if (t == t0 + rf - 1) at_edge += d;
      other &= a[(size_t)T * WAVENET_Q + i] == b[(size_t)T * WAVENET_Q + i];
    }
  th_check(before, "outputs before the changed input are unchanged (causal)");
  th_check(at_t0 > 1e-4 && at_edge > 1e-6, "output t0 and output t0 + RF - 1 change (%.3g, %.3g)", at_t0, at_edge);
  th_check(after, "outputs from t0 + RF on are unchanged (the receptive field is RF)");
  th_check(other, "the other batch row is unchanged");
  free(a), free(b);
}

/* Loss and every gradient of the training graph, written for the twin. */
static void twin(const struct wavenet_config *c, struct nn_params *p, const struct wavenet_ids *ids) {
  enum { B = 3, T = 29 };
  int32_t x[B * T], y[B * T], cond[B] = {1, 2, 0};
  for (int i = 0; i < B * T; i++) {
    x[i] = (int32_t)th_uniform(0, 256);
    y[i] = i % 7 == 3 ? -1 : (int32_t)th_uniform(0, 256); /* some ignored labels */
  }
  vkg_graph *g;
  th_ok(vkg_graph_create(p->ctx, &g), "graph");
  vkg_t pid[256], grads[256];
  nn_bind_all(g, p, 0, pid);
  int xs[2] = {B, T}, cs[1] = {B};
  vkg_t xi = vkg_input(g, "x", VKG_I32, 2, xs), yi = vkg_input(g, "y", VKG_I32, 2, xs);
  vkg_t ci = vkg_input(g, "c", VKG_I32, 1, cs);
  vkg_t loss = vkg_cross_entropy_loss(g, wavenet_logits(g, c, ids, pid, xi, ci), yi, -1);
  vkg_backward(g, loss);
  vkg_output(g, loss);
  for (int i = 0; i < p->n; i++)
    vkg_output(g, grads[i] = vkg_grad(g, pid[i]));
  th_ok(vkg_graph_compile(g), "compile the training graph");
  th_ok(vkg_graph_write_i32(g, xi, x, B * T), "x");
  th_ok(vkg_graph_write_i32(g, yi, y, B * T), "y");
  th_ok(vkg_graph_write_i32(g, ci, cond, B), "classes");
  th_ok(th_run(g), "run");
  float l;
  th_ok(vkg_graph_read(g, loss, &l, 1), "loss");
  th_check(isfinite(l) && l > 4 && l < 8, "loss near ln 256 = 5.55 at initialization: %.4f", l);
  vkg_st_writer *w = vkg_st_writer_create();
  char meta[512];
  nn_cfg_json(&wavenet_cfg, c, meta, sizeof meta);
  vkg_st_add_metadata(w, "config", meta);
  int64_t s2[2] = {B, T}, s1[1] = {B}, s0[1] = {1};
  vkg_st_add(w, "x", "I32", 2, s2, x, sizeof x);
  vkg_st_add(w, "y", "I32", 2, s2, y, sizeof y);
  vkg_st_add(w, "class", "I32", 1, s1, cond, sizeof cond);
  vkg_st_add(w, "loss", "F32", 1, s0, &l, sizeof l);
  for (int i = 0; i < p->n; i++) {
    vkg_st_add_tensor(w, p->names[i], p->t[i]);
    size_t n = vkg_tensor_numel(p->t[i]);
    float *gv = th_alloc(n);
    th_ok(vkg_graph_read(g, grads[i], gv, n), p->names[i]);
    int64_t sh[1] = {(int64_t)n};
    char name[80];
    snprintf(name, sizeof name, "grad.%s", p->names[i]);
    vkg_st_add(w, name, "F32", 1, sh, gv, n * sizeof *gv);
    free(gv);
  }
  th_ok(vkg_st_write(w, th_tmppath("wavenet_case.safetensors")), "write the case");
  vkg_st_writer_destroy(w);
  vkg_graph_destroy(g);
  th_twin(TOOL, "selfcheck", th_tmppath("wavenet_case.safetensors"),
          "wavenet_twin.py agrees with the loss and every gradient");
}

static void fast(const struct wavenet_config *c, struct nn_params *p, const struct wavenet_ids *ids) {
  enum { B = 2, N = 13, K = 4 };
  int32_t forced[B * N], out[B * N], cls[B] = {1, 2}, tok[B * N];
  for (int i = 0; i < B * N; i++)
    forced[i] = (int32_t)th_uniform(0, 256);
  float *lg = th_alloc((size_t)B * N * WAVENET_Q), *ref = th_alloc((size_t)B * N * WAVENET_Q);
  struct wavenet_gen *gen;
  if (!th_ok(wavenet_gen_create(c, p, ids, B, K, 1, &gen), "make the generator")) return;
  for (int round = 0; round < 2; round++) {
    /* Round 0: every sample forced; round 1: 5 forced, then greedy draws. */
    size_t nf = round ? 5 : N;
    th_ok(wavenet_generate(gen, N, forced, nf, cls, 9, 0.0f, out, lg), "generate");
    int kept = 1, greedy = 1;
    for (int b = 0; b < B; b++)
      for (int t = 0; t < N; t++) {
        const float *l = lg + ((size_t)b * N + t) * WAVENET_Q;
        if ((size_t)t < nf) kept &= out[b * N + t] == forced[(size_t)b * nf + t];
        int best = 0;
        for (int q = 1; q < WAVENET_Q; q++)
          if (l[q] > l[best]) best = q;
        if ((size_t)t >= nf) greedy &= out[b * N + t] == best;
        /* The full forward's input at t is the sample before it (silence at t = 0). */
        tok[b * N + t] = t ? out[b * N + t - 1] : WAVENET_Q / 2;
      }
    th_check(kept, "round %d: forced samples are kept", round);
    th_check(greedy, "round %d: temperature 0 draws the most likely class", round);
    logits_of(c, p, ids, tok, cls, B, N, ref);
    th_close(round ? "fast generator = full forward (own draws)" : "fast generator = full forward (teacher-forced)", lg,
             ref, (size_t)B * N * WAVENET_Q, 1e-5f, 1e-4f);
    for (int i = 0; i < B * N; i++) /* round 1 forces the first samples of row-major (B, 5) */
      forced[i] = (int32_t)th_uniform(0, 256);
  }
  wavenet_gen_destroy(gen);
  free(lg), free(ref);
}

static void windows(void) {
  /* Three clips of lengths 5, 1, 9 (and 7 more so clip 9 is a test clip). */
  size_t lens[10] = {5, 1, 9, 2, 2, 2, 2, 2, 2, 4};
  struct nn_audio_data d = {.n_clips = 10, .n_classes = 1};
  d.start = calloc(11, sizeof *d.start);
  d.label = calloc(10, sizeof *d.label);
  for (int i = 0; i < 10; i++)
    d.start[i + 1] = d.start[i] + lens[i];
  d.q = malloc(d.start[10]);
  for (size_t i = 0; i < d.start[10]; i++)
    d.q[i] = (uint8_t)(10 + i);
  struct wavenet_window *win;
  size_t n;
  th_ok(wavenet_windows(&d, 0, 3, &win, &n), "training windows");
  /* Clip 0 (5 samples, 4 predictions): starts 0, 3; clip 1: none; clip 2 (8 predictions): 0, 3, 6;
   * clips 3..8: one each; clip 9 is held out. */
  th_check(n == 11 && win[0].clip == 0 && win[1].start == 3 && win[2].clip == 2 && win[4].start == 6,
           "windows tile each training clip: %zu", n);
  int32_t x[4 + 3], y[4 + 3];
  wavenet_window_fill(&d, &win[1], 5, 3, x, y); /* clip 0 from 3, RF 5: inputs -1..5 */
  int32_t wx[7] = {128, 10, 11, 12, 13, 14, 128}, wy[7] = {-1, -1, -1, -1, 14, -1, -1};
  th_check(!memcmp(x, wx, sizeof x) && !memcmp(y, wy, sizeof y), "window inputs and labels stay in the clip");
  free(win);
  th_ok(wavenet_windows(&d, 1, 3, &win, &n), "test windows");
  th_check(n == 1 && win[0].clip == 9, "clip 9 is the test set");
  free(win);
  nn_audio_data_free(&d);
}

static void weights(const struct wavenet_config *c, struct nn_params *p) {
  const char *path = th_tmppath("w.safetensors");
  th_ok(wavenet_save(path, c, p), "save");
  struct wavenet_config back;
  struct nn_params q;
  struct wavenet_ids ids;
  if (th_ok(wavenet_load(p->ctx, path, &back, &q, &ids), "load")) {
    th_check(nn_cfg_equal(&wavenet_cfg, c, &back) && q.n == p->n, "config and parameter count");
    int same = 1;
    for (int i = 0; i < p->n; i++) {
      size_t n = vkg_tensor_numel(p->t[i]);
      float *a = th_alloc(n), *b = th_alloc(n);
      vkg_tensor_download_f32(p->t[i], a, n), vkg_tensor_download_f32(q.t[i], b, n);
      same &= !memcmp(a, b, n * sizeof *a);
      free(a), free(b);
    }
    th_check(same, "loaded weights are the saved ones");
    nn_params_free(&q);
  }
}

int main(void) {
  vkg_ctx *ctx = th_ctx();
  th_seed(3);
  struct wavenet_config c = tiny();
  struct nn_params p;
  struct wavenet_ids ids;
  nn_params_init(&p, ctx);
  th_ok(wavenet_params(&p, &c, 1, 7, &ids), "parameters");
  th_check(wavenet_layers(&c) == 6 && wavenet_dilation(&c, 3) == 1 && wavenet_dilation(&c, 5) == 4, "dilations");
  twin(&c, &p, &ids);
  scale_params(&p, 4);
  causality(&c, &p, &ids);
  fast(&c, &p, &ids);
  windows();
  weights(&c, &p);
  nn_params_free(&p);
  return th_finish(ctx);
}
